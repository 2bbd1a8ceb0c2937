package cloud

import (
	"context"
	"net"
	"sync"
	"time"
)

// tarpit slows down refusals to a source that keeps failing authentication (RELIABILITY F1,
// SEC-09): after the first few failures in a window, each further refusal from the same IP
// address is answered only after a delay that grows linearly up to a cap. Successful CONNECTs
// are never delayed, so a legitimate device behind the same address still connects at once;
// the cost of guessing grows instead.
type tarpit struct {
	free   int           // failures per window answered without delay
	step   time.Duration // added delay per failure beyond free
	limit  time.Duration // largest delay
	window time.Duration // failures older than this are forgotten

	mu      sync.Mutex // guards sources
	sources map[string]*failures
}

type failures struct {
	count int
	since time.Time
}

func newTarpit(step, limit time.Duration) *tarpit {
	return &tarpit{free: 10, step: step, limit: limit, window: time.Minute, sources: map[string]*failures{}}
}

// delay records a failure from addr at now and returns how long to hold the refusal.
func (t *tarpit) delay(addr net.Addr, now time.Time) time.Duration {
	host := addr.String()
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	f, ok := t.sources[host]
	if !ok || now.Sub(f.since) > t.window {
		if len(t.sources) > 10000 {
			t.sources = map[string]*failures{} // bound memory under an address-spraying attack
		}
		f = &failures{since: now}
		t.sources[host] = f
	}
	f.count++
	if f.count <= t.free {
		return 0
	}
	return min(time.Duration(f.count-t.free)*t.step, t.limit)
}

// hold waits d or until ctx ends.
func hold(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
	case <-timer.C:
	}
}
