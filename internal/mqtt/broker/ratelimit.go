package broker

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// tokenBucket holds up to burst tokens refilled at rate per second. It is not
// safe for concurrent use; time is an argument so that it can be tested without
// a clock.
type tokenBucket struct {
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newTokenBucket(rate, burst float64) tokenBucket {
	return tokenBucket{rate: rate, burst: burst, tokens: burst}
}

// refill adds the tokens earned since the last call; a clock going back earns none.
func (b *tokenBucket) refill(now time.Time) {
	if d := now.Sub(b.last); !b.last.IsZero() && d > 0 {
		b.tokens = min(b.burst, b.tokens+d.Seconds()*b.rate)
	}
	if now.After(b.last) {
		b.last = now
	}
}

// allow takes a token if one is available at now.
func (b *tokenBucket) allow(now time.Time) bool {
	b.refill(now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// reserve takes a token at now, borrowing it if none is available, and returns
// how long the caller must wait before the token is its own (0 when it already is).
// The debt is repaid by refills, so a caller that always waits the returned
// time proceeds at rate on average, with bursts of at most burst.
func (b *tokenBucket) reserve(now time.Time) time.Duration {
	b.refill(now)
	b.tokens--
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
}

// logLimiter rate-limits per-connection and per-message logs with a token
// bucket. Suppressed records are counted and reported with the next record
// that passes. A connection's limiter has the server's as parent: a record must
// pass both, so that one noisy client is held to its own small budget and cannot
// use up the server's, which still bounds the total (a flood of connections).
// Lock order: a limiter's mu before its parent's.
type logLimiter struct {
	log    *slog.Logger
	parent *logLimiter // nil for the server's

	mu         sync.Mutex // guards the following
	bucket     tokenBucket
	suppressed int
}

// Log budgets: the server's in all, and each connection's within it.
const (
	serverLogRate, serverLogBurst = 10, 50
	connLogRate, connLogBurst     = 1, 5
)

func newLogLimiter(log *slog.Logger, rate, burst float64) *logLimiter {
	return &logLimiter{log: log, bucket: newTokenBucket(rate, burst)}
}

// child returns a limiter for one connection, within l's budget.
func (l *logLimiter) child() logLimiter {
	return logLimiter{log: l.log, parent: l, bucket: newTokenBucket(connLogRate, connLogBurst)}
}

// allow takes a token at time now (from l and its parent); it returns false and
// counts a suppression when one of them is empty.
func (l *logLimiter) allow(now time.Time) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.bucket.allow(now) {
		l.suppressed++
		return false, 0
	}
	if l.parent != nil {
		ok, suppressed = l.parent.allow(now)
		if !ok {
			return false, 0 // counted by the parent
		}
	}
	s := l.suppressed + suppressed
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
