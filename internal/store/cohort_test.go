package store

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// slowSyncFS is the OS file system with every File.Sync taking at least d,
// as a slow disk's fdatasync does: long enough that the cohort wait
// (min(sync, maxCohortWait)) is the whole maxCohortWait.
type slowSyncFS struct {
	FS
	d time.Duration
}

func (f slowSyncFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return slowSyncFile{file, f.d}, nil
}

type slowSyncFile struct {
	File
	d time.Duration
}

func (f slowSyncFile) Sync() error {
	time.Sleep(f.d)
	return f.File.Sync()
}

// oneInFlight runs n appenders that each append a record and wait until it
// is durable before appending the next, rounds times (a device with one
// QoS 1 message in flight), and returns the groups committed.
func oneInFlight(t testing.TB, l *Log, n, rounds int, viaAppender bool) int64 {
	t.Helper()
	rec := make([]byte, 64)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		a := l.NewAppender()
		wg.Go(func() {
			done := make(chan error, 1)
			cb := func(_ uint64, err error) { done <- err }
			for range rounds {
				var err error
				if viaAppender {
					err = a.AppendAsync(rec, cb)
				} else {
					err = l.AppendAsync(rec, cb)
				}
				if err == nil {
					err = <-done
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.groups
}

// TestCohort_OneInFlightSharesOneSync: appenders that each wait for their
// record to be durable before sending the next share one fdatasync per
// round once the writer has seen them come back promptly. Without the
// cohort wait the writer takes the first one back alone and the rest in a
// second group (about two syncs per round, measured 1.9-2.0). The disk is
// made slow (10 ms syncs) and the cap on the wait raised to match, so that
// goroutines on a loaded machine are back well within the wait.
func TestCohort_OneInFlightSharesOneSync(t *testing.T) {
	const n, rounds = 8, 40
	defer func(d time.Duration) { maxCohortWait = d }(maxCohortWait)
	maxCohortWait = 10 * time.Millisecond
	for _, via := range []bool{false, true} {
		t.Run(fmt.Sprintf("appender=%v", via), func(t *testing.T) {
			l := mustOpen(t, t.TempDir(), Options{FS: slowSyncFS{OSFS(), 10 * time.Millisecond}})
			defer mustClose(t, l)
			groups := oneInFlight(t, l, n, rounds, via)
			perRound := float64(groups) / rounds
			t.Logf("%d appenders x %d rounds: %d groups, %.2f per round", n, rounds, groups, perRound)
			if via && perRound > 1.4 {
				t.Errorf("with Appenders: %.2f groups per round, want about 1 (cohort held open)", perRound)
			}
		})
	}
}

// TestCohort_LoneAppenderNeverWaits: one appender with one record in flight
// is its whole cohort; the writer must not hold its groups open.
func TestCohort_LoneAppenderNeverWaits(t *testing.T) {
	c := cohort{max: maxCohortWait}
	a := &Appender{}
	at := time.Unix(1000, 0)
	for i := range 5 {
		r := &request{src: a, at: at}
		back := c.gathered(r)
		if i >= promptStreak+1 && !back {
			t.Fatalf("round %d: the lone appender's return not counted", i)
		}
		if n := boolInt(back); n < c.expected {
			t.Fatalf("round %d: writer would wait: %d back, %d expected", i, n, c.expected)
		}
		acked := r.at.Add(500 * time.Microsecond)
		c.committed([]*request{r}, acked)
		at = acked.Add(50 * time.Microsecond) // its next message, one round trip later
	}
	if c.expected != 1 {
		t.Fatalf("expected %d, want 1 (the lone appender, prompt)", c.expected)
	}
}

// TestCohort_OnlyPromptReturnsAreAwaited: an appender on a timer (it comes
// back later than maxCohortWait) is never waited for; one that stops costs at
// most one wait.
func TestCohort_OnlyPromptReturnsAreAwaited(t *testing.T) {
	c := cohort{max: maxCohortWait}
	prompt, timed := &Appender{}, &Appender{}
	now := time.Unix(1000, 0)
	for range 4 {
		rs := []*request{{src: prompt, at: now.Add(50 * time.Microsecond)}, {src: timed, at: now.Add(2 * time.Millisecond)}}
		for _, r := range rs {
			c.gathered(r)
		}
		now = now.Add(3 * time.Millisecond)
		c.committed(rs, now)
	}
	if c.expected != 1 || !prompt.awaited || timed.awaited {
		t.Fatalf("expected=%d prompt.awaited=%v timed.awaited=%v, want 1 true false", c.expected, prompt.awaited, timed.awaited)
	}
	// The prompt appender stops: the next group (the timed one alone) waits
	// for it once; after that nothing is expected.
	r := &request{src: timed, at: now.Add(2 * time.Millisecond)}
	if c.gathered(r) {
		t.Fatal("the timed appender counted as an awaited return")
	}
	c.committed([]*request{r}, now.Add(3*time.Millisecond))
	if c.expected != 0 {
		t.Fatalf("after a group without the stopped appender: expected %d, want 0", c.expected)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
