// Package connlimit keeps the network connections of a process inside its descriptor
// budget, with a separate budget for connections that have not authenticated yet, so that
// neither a flood of such connections nor one protocol can lock the others out
// (RELIABILITY D1, D2, D4).
//
// Every connection takes a Ticket from a Limiter at accept and gives it back when it closes.
// A new ticket is pending (not authenticated); Establish moves it into its Group once the
// connection has proved itself (MQTT: CONNECT accepted; HTTPS: TLS handshake and a first
// request completed). The policy:
//
//   - At most Config.Max tickets in all (the descriptor budget), at most Config.MaxPending
//     pending ones, at most Config.MaxPendingPerSource pending ones per source address.
//   - When a pending cap is full, or the whole budget is, a new connection evicts the OLDEST
//     pending one (of its own source for the per-source cap, else of all sources): a newcomer
//     always gets its chance, and an attacker who holds connections open or reconnects in a
//     loop cannot keep slots from a device that completes its handshake in time. Only when
//     the budget is full of established connections is the newcomer refused.
//   - A Group caps its established connections (MQTT's MaxConnections, HTTPS's share), so
//     that one protocol's established connections leave the other room; a ticket whose
//     group is full stays pending.
//
// Evicted connections are closed through the func given to Admit, outside the lock.
package connlimit

import (
	"container/list"
	"net"
	"sync"
)

// Config configures a Limiter; zero fields mean no cap.
type Config struct {
	Max                 int // tickets in all (the descriptor budget for connections)
	MaxPending          int // pending tickets
	MaxPendingPerSource int // pending tickets of one source address
}

// Limiter hands out Tickets; it is safe for concurrent use.
type Limiter struct {
	cfg Config

	mu       sync.Mutex            // guards the following and every Ticket's and Group's fields
	live     int                   // tickets admitted and not released
	pending  *list.List            // pending tickets, oldest first
	bySource map[string]*list.List // pending tickets per source, oldest first
}

// New returns a Limiter.
func New(cfg Config) *Limiter {
	return &Limiter{cfg: cfg, pending: list.New(), bySource: map[string]*list.List{}}
}

// Group is a class of established connections with its own cap.
type Group struct {
	l   *Limiter
	max int // 0 = no cap beyond the Limiter's
	n   int // established tickets of the group
}

// Group returns a new group of at most max established tickets (0 = no cap).
func (l *Limiter) Group(max int) *Group { return &Group{l: l, max: max} }

// Established returns the group's established tickets.
func (g *Group) Established() int {
	g.l.mu.Lock()
	defer g.l.mu.Unlock()
	return g.n
}

// Ticket is one admitted connection.
type Ticket struct {
	g      *Group
	source string
	evict  func()

	// guarded by the Limiter's mu
	state     state
	elem, src *list.Element // in Limiter.pending and bySource[source] while pending
}

type state int

const (
	pending state = iota
	established
	released
)

// Source returns the source address key of a remote address: its IP, without the port.
func Source(a net.Addr) string {
	if a == nil {
		return ""
	}
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// Admit admits a pending connection of source in group g, evicting the oldest pending
// connections as the policy says (their evict funcs run before Admit returns). It
// returns nil when the budget is full of established connections. evict must close the
// connection; the connection then calls Release.
func (l *Limiter) Admit(g *Group, source string, evict func()) *Ticket {
	var victims []*Ticket
	defer func() {
		for _, v := range victims {
			v.evict()
		}
	}()
	l.mu.Lock()
	defer l.mu.Unlock()
	if q := l.bySource[source]; l.cfg.MaxPendingPerSource > 0 && q != nil && q.Len() >= l.cfg.MaxPendingPerSource {
		v := q.Front().Value.(*Ticket)
		l.releaseLocked(v)
		victims = append(victims, v)
	}
	for (l.cfg.MaxPending > 0 && l.pending.Len() >= l.cfg.MaxPending) || (l.cfg.Max > 0 && l.live >= l.cfg.Max) {
		if l.pending.Len() == 0 {
			return nil
		}
		v := l.pending.Front().Value.(*Ticket)
		l.releaseLocked(v)
		victims = append(victims, v)
	}
	t := &Ticket{g: g, source: source, evict: evict}
	l.live++
	t.elem = l.pending.PushBack(t)
	q := l.bySource[source]
	if q == nil {
		q = list.New()
		l.bySource[source] = q
	}
	t.src = q.PushBack(t)
	return t
}

func (l *Limiter) unlinkLocked(t *Ticket) {
	l.pending.Remove(t.elem)
	q := l.bySource[t.source]
	q.Remove(t.src)
	if q.Len() == 0 {
		delete(l.bySource, t.source)
	}
	t.elem, t.src = nil, nil
}

func (l *Limiter) releaseLocked(t *Ticket) {
	switch t.state {
	case pending:
		l.unlinkLocked(t)
	case established:
		t.g.n--
	case released:
		return
	}
	t.state = released
	l.live--
}

// Establish moves a pending ticket into its group. It reports false, and the ticket stays
// pending (evictable), when the group is full or the ticket was evicted or released; it
// reports true for a ticket already established.
func (t *Ticket) Establish() bool {
	l := t.g.l
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case t.state == established:
		return true
	case t.state == released, t.g.max > 0 && t.g.n >= t.g.max:
		return false
	}
	l.unlinkLocked(t)
	t.state = established
	t.g.n++
	return true
}

// Release gives the ticket back; it is safe to call more than once.
func (t *Ticket) Release() {
	l := t.g.l
	l.mu.Lock()
	defer l.mu.Unlock()
	l.releaseLocked(t)
}

// Stats is a snapshot of a Limiter's counts.
type Stats struct {
	Live, Pending int
}

// Stats returns the current counts.
func (l *Limiter) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Stats{Live: l.live, Pending: l.pending.Len()}
}
