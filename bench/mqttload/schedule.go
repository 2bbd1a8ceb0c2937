package mqttload

import "time"

// Schedule is one device's open-loop send times: message k (from 0) is due at Start + k*Interval,
// whatever happened to the messages before it. Latency in the steady mode is measured from
// these times, not from the moment a PUBLISH could actually be written, so a broker that stalls
// (and keeps the window full) is charged for the whole stall on every message it delayed instead
// of hiding it by slowing the sender down (coordinated omission).
type Schedule struct {
	Start    time.Time
	Interval time.Duration // > 0
}

// NewSchedules returns n schedules at rate messages per second each, starting at t0 and
// staggered by Interval/n, so that n devices together send at an even n*rate instead of in bursts
// of n every Interval. rate must be positive.
func NewSchedules(t0 time.Time, n int, rate float64) []Schedule {
	iv := max(time.Duration(float64(time.Second)/rate), 1) // 1 ns at least, so Due never divides by 0
	out := make([]Schedule, n)
	for i := range out {
		out[i] = Schedule{Start: t0.Add(iv * time.Duration(i) / time.Duration(n)), Interval: iv}
	}
	return out
}

// At is when message k is due.
func (s Schedule) At(k int) time.Time { return s.Start.Add(time.Duration(k) * s.Interval) }

// Due is how many messages are due at now: those with At(k) <= now.
func (s Schedule) Due(now time.Time) int {
	if now.Before(s.Start) {
		return 0
	}
	return int(now.Sub(s.Start)/s.Interval) + 1
}
