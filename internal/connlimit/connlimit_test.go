package connlimit

import "testing"

// admit admits a ticket of g from src and records its eviction in evicted.
func admit(t *testing.T, g *Group, src string, evicted map[*Ticket]bool) *Ticket {
	t.Helper()
	var tk *Ticket
	tk = g.l.Admit(g, src, func() { evicted[tk] = true })
	return tk
}

func TestPerSourceEvictsOldestOfThatSource(t *testing.T) {
	l := New(Config{MaxPendingPerSource: 2})
	g := l.Group(0)
	ev := map[*Ticket]bool{}
	a1, a2 := admit(t, g, "a", ev), admit(t, g, "a", ev)
	b1 := admit(t, g, "b", ev)
	a3 := admit(t, g, "a", ev)
	if !ev[a1] || ev[a2] || ev[b1] || ev[a3] || len(ev) != 1 {
		t.Fatalf("evicted %v, want only a1", ev)
	}
	if a1.Establish() {
		t.Fatal("an evicted ticket was established")
	}
	if s := l.Stats(); s.Live != 3 || s.Pending != 3 {
		t.Fatalf("stats %+v", s)
	}
}

func TestBudgetEvictsOldestPendingThenRefuses(t *testing.T) {
	l := New(Config{Max: 3, MaxPending: 10})
	g := l.Group(0)
	ev := map[*Ticket]bool{}
	est := admit(t, g, "a", ev)
	if !est.Establish() {
		t.Fatal("establish failed")
	}
	p1, p2 := admit(t, g, "b", ev), admit(t, g, "c", ev)
	p3 := admit(t, g, "d", ev)
	if !ev[p1] || ev[p2] || ev[est] || p3 == nil {
		t.Fatalf("evicted %v, want the oldest pending (p1)", ev)
	}
	for _, tk := range []*Ticket{p2, p3} {
		if !tk.Establish() {
			t.Fatal("establish failed")
		}
	}
	if tk := l.Admit(g, "e", func() {}); tk != nil {
		t.Fatal("admitted over a budget full of established tickets")
	}
	est.Release()
	est.Release() // twice is harmless
	if tk := l.Admit(g, "e", func() {}); tk == nil {
		t.Fatal("refused with a slot free")
	}
}

func TestGroupCapKeepsTicketPending(t *testing.T) {
	l := New(Config{})
	g1, g2 := l.Group(1), l.Group(0)
	ev := map[*Ticket]bool{}
	a, b, c := admit(t, g1, "x", ev), admit(t, g1, "x", ev), admit(t, g2, "x", ev)
	if !a.Establish() || b.Establish() || !c.Establish() {
		t.Fatal("group caps not applied per group")
	}
	if g1.Established() != 1 || g2.Established() != 1 || l.Stats().Pending != 1 {
		t.Fatalf("g1 %d g2 %d pending %d", g1.Established(), g2.Established(), l.Stats().Pending)
	}
	a.Release()
	if !b.Establish() {
		t.Fatal("slot freed but establish failed")
	}
}
