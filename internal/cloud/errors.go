package cloud

import (
	"errors"
	"sync"
	"time"

	"github.com/outpost-iot/outpost/internal/cloud/store"
	"github.com/outpost-iot/outpost/internal/iothub"
)

// failureLogEvery is the least time between two logs of the cloud's own failures: a full disk
// fails every request, and the log must not fill the same disk (RELIABILITY A7).
const failureLogEvery = 10 * time.Second

// wireError is what a client is told of err, over REST or MQTT: an *iothub.Error (a refusal
// the client caused: validation, not found, precondition) as it is; anything else is the
// cloud's own failure, logged here (rate-limited) and answered without its text, as IoT Hub
// does: 503 ServiceUnavailable when the storage may recover (full disk, I/O error; SDKs retry
// it), else 500 ServerError. op names the operation in the log.
func (c *Cloud) wireError(op string, err error) *iothub.Error {
	var he *iothub.Error
	if errors.As(err, &he) {
		return he
	}
	c.failures.log(c, op, err)
	if store.Unavailable(err) {
		return iothub.NewError(iothub.CodeServiceUnavailable, "the hub cannot store changes at the moment, retry later")
	}
	return iothub.NewError(iothub.CodeServerError, "internal server error")
}

// isRefusal reports whether err is a refusal for the client (an *iothub.Error such as
// DeviceNotFound) rather than a failure of the cloud's own.
func isRefusal(err error) bool {
	var he *iothub.Error
	return errors.As(err, &he)
}

// failureLog rate-limits the logs of wireError to one per failureLogEvery, counting the rest.
type failureLog struct {
	mu         sync.Mutex // guards the following
	next       time.Time
	suppressed int
}

func (f *failureLog) log(c *Cloud, op string, err error) {
	now := time.Now() // the limiter paces the log's growth: real time, not the injectable clock
	f.mu.Lock()
	if now.Before(f.next) {
		f.suppressed++
		f.mu.Unlock()
		return
	}
	suppressed := f.suppressed
	f.next, f.suppressed = now.Add(failureLogEvery), 0
	f.mu.Unlock()
	c.log.Error("operation failed", "op", op, "err", err, "unavailable", store.Unavailable(err),
		"suppressed_since_last", suppressed)
}
