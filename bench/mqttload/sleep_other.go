//go:build !linux

package mqttload

import "time"

// sleepUntil sleeps until t with Go's timer (see sleep_linux.go for why Linux does otherwise).
func sleepUntil(t time.Time) { time.Sleep(time.Until(t)) }
