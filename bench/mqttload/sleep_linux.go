package mqttload

import (
	"syscall"
	"time"
)

// sleepUntil blocks the calling thread in nanosleep(2) until t. Go's timers wake up on the
// netpoller's millisecond timeout, up to about a millisecond late, which the steady mode would
// count as latency; nanosleep is late by the timer slack, about 50 µs.
func sleepUntil(t time.Time) {
	for d := time.Until(t); d > 0; d = time.Until(t) {
		ts := syscall.NsecToTimespec(int64(d))
		_ = syscall.Nanosleep(&ts, nil) // EINTR: loop and sleep what is left
	}
}
