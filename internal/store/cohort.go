package store

import (
	"time"
)

// maxCohortWait is how long the writer may hold a group open for its
// cohort, and how soon after its commit an appender must be back to count
// as one that waits for each commit. Measured on the development machine
// with 10 devices of one message in flight on a busy CPU (PUBACK writes,
// the clients' turn, the reads): a 0.3 ms wait gathered 8.4 of them per
// group on average, 0.6 ms all ten; 1 ms leaves room, and an appender that
// does not come back costs at most that, once. A variable for tests, read
// by Open.
var maxCohortWait = time.Millisecond

// An Appender is one source of appends, such as a device connection, that
// typically waits for each record to be durable before it sends the next
// (an MQTT device with one QoS 1 message in flight). Records appended
// through an Appender let the writer gather a cohort: when the group just
// committed held appenders that came back promptly after their previous
// commit, the next group is held open (at most maxCohortWait, see doc.go)
// until they are back, so that N such devices share one fdatasync
// instead of splitting into a lone one and the rest. An Appender used
// alone, or by a source that never waits, costs nothing: the writer waits
// only for appenders that came back within that time before.
//
// An Appender is cheap; make one per connection and drop it with the
// connection. Its methods are safe for concurrent use.
type Appender struct {
	l *Log
	// Owned by the writer goroutine.
	lastGroup uint64    // the committed group that last held one of its records (0: none)
	gathering uint64    // the group being gathered that counted it last
	ackedAt   time.Time // when that group became durable
	// streak counts its consecutive prompt returns (came back within the
	// cohort wait after its previous commit), up to promptStreak. One prompt
	// return can be chance (a device on a timer that happened to send just
	// after its PUBACK); several in a row mean it waits for each commit.
	streak  int
	awaited bool // it is part of the cohort that the group after lastGroup waits for
}

// promptStreak is how many prompt returns in a row make an appender one the
// writer waits for. A device on a timer comes back within the wait by
// chance now and then (one sending every 2 ms, about every other time);
// three in a row filter most of that out, and a device that waits for each
// commit qualifies after three rounds.
const promptStreak = 3

// NewAppender returns an Appender for one source of appends.
func (l *Log) NewAppender() *Appender { return &Appender{l: l} }

// AppendAsync is Log.AppendAsync for this appender's source.
func (a *Appender) AppendAsync(data []byte, done func(seq uint64, err error)) error {
	return a.l.appendAsync(a, data, done)
}

// cohort is the writer's state for holding groups open (owned by the writer goroutine).
type cohort struct {
	group    uint64        // groups committed or failed so far; the group being gathered is group+1
	expected int           // prompt appenders in the last committed group: the cohort to wait for
	max      time.Duration // how long a group may be held open: maxCohortWait when the log was opened
	timer    *time.Timer   // reused for the wait; stopped and drained between uses
}

// gathered counts r toward the cohort of the group being gathered and
// reports whether r's appender is one the writer was waiting for.
func (c *cohort) gathered(r *request) bool {
	a := r.src
	if a == nil || a.gathering == c.group+1 {
		return false
	}
	a.gathering = c.group + 1
	if a.lastGroup == 0 {
		return false
	}
	if r.at.Sub(a.ackedAt) <= c.max {
		a.streak = min(a.streak+1, promptStreak)
	} else {
		a.streak = 0
	}
	return a.lastGroup == c.group && a.awaited
}

// committed records the group that just became durable at now: its
// appenders, and how many of them are expected back promptly.
func (c *cohort) committed(live []*request, now time.Time) {
	c.group++
	c.expected = 0
	for _, r := range live {
		a := r.src
		if a == nil || a.lastGroup == c.group {
			continue
		}
		a.lastGroup, a.ackedAt = c.group, now
		a.awaited = a.streak >= promptStreak
		if a.awaited {
			c.expected++
		}
	}
}

// failed records a group that was not committed: nothing is waited for next.
func (c *cohort) failed() {
	c.group++
	c.expected = 0
}

// startTimer arms the cohort timer for d.
func (c *cohort) startTimer(d time.Duration) <-chan time.Time {
	if c.timer == nil {
		c.timer = time.NewTimer(d)
	} else {
		c.timer.Reset(d)
	}
	return c.timer.C
}

// stopTimer stops the cohort timer (Go 1.23 timers: Stop leaves no stale value in C).
func (c *cohort) stopTimer() {
	if c.timer != nil {
		c.timer.Stop()
	}
}
