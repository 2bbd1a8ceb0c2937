package broker

import (
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/mqtt/packet"
	"github.com/outpost-iot/outpost/internal/testutil"
)

// blockOffline makes Offline block until the returned release is called; release
// also runs at cleanup, before the server's Close (cleanups run last in, first out).
func blockOffline(t *testing.T, ts *testServer) (release func()) {
	ch := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(ch) }) }
	t.Cleanup(release)
	ts.rec.offline = func(*Conn) { <-ch }
	return release
}

// connackCode returns the CONNACK code a connection received before it closed, or -1
// when it was closed without a CONNACK.
func connackCode(t *testing.T, c *rawClient) int {
	t.Helper()
	got := c.expectClosed(5 * time.Second)
	if len(got) == 0 {
		return -1
	}
	ack, ok := got[0].(*packet.Connack)
	if !ok || len(got) > 1 {
		t.Fatalf("received %v", got)
	}
	return int(ack.ReturnCode)
}

// TestD10_TakeoverTimeout: while the previous connection's Offline does not return,
// every CONNECT for its client id is refused with CONNACK 0x03 after TakeoverTimeout
// (and logged), and none goes online; once Offline returns the id connects again and
// Offline/Online still alternate.
func TestD10_TakeoverTimeout(t *testing.T) {
	var logs testutil.Buffer
	ts := startServer(t, Config{TakeoverTimeout: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	release := blockOffline(t, ts)
	first := mustConnect(t, ts, "stuck")
	for i := range 2 {
		c := dial(t, ts.addr)
		c.send(connectPacket("stuck", true, 0))
		if code := connackCode(t, c); code != int(CodeServerUnavailable) {
			t.Fatalf("CONNECT %d while Offline blocks: CONNACK %d, want 3", i, code)
		}
	}
	first.expectClosed(5 * time.Second)
	if on := len(ts.rec.find("online")); on != 1 {
		t.Fatalf("%d online, want 1: a CONNECT went online before the previous Offline returned", on)
	}
	if n := ts.metrics.refusals(CodeServerUnavailable); n != 2 {
		t.Fatalf("refusals %d, want 2", n)
	}
	waitFor(t, 5*time.Second, "warning logged", func() bool {
		return strings.Count(logs.String(), "level=WARN") == 2 && strings.Contains(logs.String(), "still ending")
	})
	release()
	mustConnect(t, ts, "stuck")
	waitFor(t, 5*time.Second, "second online", func() bool { return len(ts.rec.find("online")) == 2 })
	checkOrder(t, ts.rec.find(""))
	if off := ts.rec.find("offline"); len(off) != 1 || !errors.Is(off[0].err, ErrSessionTakenOver) {
		t.Fatalf("offline events %+v", off)
	}
}

// TestD10_TakeoverTimeoutChain: a CONNECT that takes over one still waiting for a
// stuck Offline waits for the stuck connection too, not only for the one it replaced
// (which ends as soon as it is replaced, or at its own timeout, before the stuck one).
func TestD10_TakeoverTimeoutChain(t *testing.T) {
	const timeout = time.Second
	ts := startServer(t, Config{TakeoverTimeout: timeout})
	release := blockOffline(t, ts)
	first := mustConnect(t, ts, "chain")
	second := dial(t, ts.addr)
	second.send(connectPacket("chain", true, 0))
	first.expectClosed(5 * time.Second) // second has taken the id over and is waiting
	time.Sleep(timeout / 2)             // staging: third arrives halfway through second's wait
	third := dial(t, ts.addr)
	third.send(connectPacket("chain", true, 0))
	for _, c := range []*rawClient{second, third} {
		if code := connackCode(t, c); code == 0 {
			t.Fatal("CONNACK 0 while the first connection's Offline has not returned")
		}
	}
	if on := len(ts.rec.find("online")); on != 1 {
		t.Fatalf("%d online, want 1", on)
	}
	release()
	mustConnect(t, ts, "chain")
	checkOrder(t, ts.rec.find(""))
}

// TestD10_SlowOfflineWithinTimeout: a slow Offline that returns within
// TakeoverTimeout delays the takeover, which then succeeds in order.
func TestD10_SlowOfflineWithinTimeout(t *testing.T) {
	ts := startServer(t, Config{})
	ts.rec.offline = func(*Conn) { time.Sleep(300 * time.Millisecond) } // a slow application
	first := mustConnect(t, ts, "slow")
	_, ack := connect(t, ts.addr, connectPacket("slow", true, 0))
	if ack.ReturnCode != 0 {
		t.Fatalf("CONNACK %d", ack.ReturnCode)
	}
	first.expectClosed(5 * time.Second)
	waitFor(t, 5*time.Second, "second online", func() bool { return len(ts.rec.find("online")) == 2 })
	checkOrder(t, ts.rec.find(""))
}
