package testutil

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/pki"
)

// pollInterval is how often Eventually and WaitFile re-check.
const pollInterval = 10 * time.Millisecond

// FreePort returns "127.0.0.1:N" for a TCP port that was free a moment ago.
// Prefer listening on 127.0.0.1:0 where the code under test allows it: the
// port can be taken by someone else before it is used.
func FreePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testutil: free port: %v", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatalf("testutil: free port: %v", err)
	}
	return addr
}

// Eventually calls cond every few milliseconds until it returns true, and
// fails the test with msg if that has not happened within timeout. cond is
// always called at least once, also after the deadline has passed.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msg string) {
	t.Helper()
	if !poll(timeout, cond) {
		t.Fatalf("testutil: not within %v: %s", timeout, msg)
	}
}

// poll reports whether cond became true before the deadline.
func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return cond()
		}
		time.Sleep(pollInterval)
	}
}

// WaitFile waits until path exists, failing the test after timeout.
func WaitFile(t testing.TB, path string, timeout time.Duration) {
	t.Helper()
	var last error
	ok := poll(timeout, func() bool {
		_, last = os.Stat(path)
		return last == nil
	})
	if !ok {
		if errors.Is(last, fs.ErrNotExist) {
			t.Fatalf("testutil: %s did not appear within %v", path, timeout)
			return
		}
		t.Fatalf("testutil: %s not available within %v: %v", path, timeout, last)
	}
}

// TempCA returns a new certificate authority persisted in t.TempDir().
func TempCA(t testing.TB) *pki.Authority {
	t.Helper()
	a, err := pki.LoadOrCreateAuthority(t.TempDir(), "Outpost Test CA", time.Now())
	if err != nil {
		t.Fatalf("testutil: temp CA: %v", err)
	}
	return a
}
