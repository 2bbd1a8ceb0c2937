package broker

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// logLimiter rate-limits per-connection and per-message logs: a token bucket
// of burst tokens refilled at rate per second. Suppressed records are counted
// and reported with the next record that passes.
type logLimiter struct {
	log   *slog.Logger
	rate  float64
	burst float64

	mu         sync.Mutex // guards the following
	tokens     float64
	last       time.Time
	suppressed int
}

func newLogLimiter(log *slog.Logger, rate, burst float64) *logLimiter {
	return &logLimiter{log: log, rate: rate, burst: burst, tokens: burst}
}

// allow takes a token at time now; it returns false and counts a suppression when empty.
func (l *logLimiter) allow(now time.Time) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() {
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	}
	l.last = now
	if l.tokens < 1 {
		l.suppressed++
		return false, 0
	}
	l.tokens--
	s := l.suppressed
	l.suppressed = 0
	return true, s
}

// logAttrs logs msg with args at level if the limiter allows it.
func (l *logLimiter) logAttrs(level slog.Level, msg string, args ...any) {
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	ok, suppressed := l.allow(time.Now())
	if !ok {
		return
	}
	if suppressed > 0 {
		args = append(args, "suppressed_logs", suppressed)
	}
	l.log.Log(context.Background(), level, msg, args...)
}
