package broker

import (
	"crypto/tls"
	"math"
	"os"
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/connlimit"
	"github.com/outpost-iot/outpost/internal/mqtt/packet"
)

// expectRefused sends CONNECT on c and expects CONNACK 0x03 and then the close (D4).
func expectRefused(t *testing.T, c *rawClient, id string) {
	t.Helper()
	c.send(connectPacket(id, false, 60))
	got := c.expectClosed(5 * time.Second)
	if len(got) != 1 {
		t.Fatalf("%s: got %d packets before the close, want one CONNACK", id, len(got))
	}
	if ack, ok := got[0].(*packet.Connack); !ok || ack.ReturnCode != CodeServerUnavailable || ack.SessionPresent {
		t.Fatalf("%s: got %#v, want CONNACK 0x03", id, got[0])
	}
}

func (ts *testServer) refusing() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.Server.refusing)
}

// TestD4_MaxConnections: over the cap of authenticated connections a CONNECT is answered
// CONNACK 0x03 and closed, the connections under the cap are untouched, a connection that
// has not sent CONNECT yet is not counted, and a slot freed is usable again.
func TestD4_MaxConnections(t *testing.T) {
	ts := startServer(t, Config{MaxConnections: 2})
	one := mustConnect(t, ts, "one")
	mustConnect(t, ts, "two")
	pending := dial(t, ts.addr) // not counted before its CONNECT
	waitFor(t, 5*time.Second, "three connections", func() bool { return ts.Connections() == 3 })
	expectRefused(t, dial(t, ts.addr), "three")
	if ts.metrics.reason("rejected_max_connections") != 1 || ts.metrics.refusals(CodeServerUnavailable) != 1 {
		t.Fatalf("rejections %d, CONNACK 0x03 %d; want 1, 1",
			ts.metrics.reason("rejected_max_connections"), ts.metrics.refusals(CodeServerUnavailable))
	}
	if ts.Lookup("one") == nil || ts.Lookup("two") == nil || len(ts.rec.find("online")) != 2 {
		t.Fatal("the refusal disturbed the connections under the cap")
	}
	one.send(&packet.Disconnect{})
	one.expectClosed(5 * time.Second)
	waitFor(t, 5*time.Second, "slot freed", func() bool { return ts.Connections() == 2 })
	pending.send(connectPacket("pending", true, 0))
	if ack := pending.read().(*packet.Connack); ack.ReturnCode != 0 {
		t.Fatalf("connection under the cap: CONNACK %d", ack.ReturnCode)
	}
	expectRefused(t, dial(t, ts.addr), "four")
}

func TestD4_MaxConnections_TLS(t *testing.T) {
	ts := startServer(t, Config{MaxConnections: 1, Limiter: connlimit.New(connlimit.Config{Max: 1})})
	addr := ts.serveTLS(t)
	mustConnect(t, ts, "plain")                                             // the cap counts every listener
	tc, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // test server
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	expectRefused(t, newRawClient(t, tc), "over-tls")
}

// TestD4_MaxConnections_SilentClientDoesNotHoldOthers: with the descriptor budget full of
// authenticated connections, an over-budget client that never sends
// CONNECT is closed after the short refusal wait, and meanwhile other over-cap clients are
// answered at once and clients under the cap connect: nothing waits on the silent one.
func TestD4_MaxConnections_SilentClientDoesNotHoldOthers(t *testing.T) {
	ts := startServer(t, Config{MaxConnections: 1, ConnectTimeout: 300 * time.Millisecond,
		Limiter: connlimit.New(connlimit.Config{Max: 1})})
	held := mustConnect(t, ts, "held")
	start := time.Now()
	silent := dial(t, ts.addr)
	waitFor(t, 5*time.Second, "silent one being refused", func() bool { return ts.refusing() == 1 })
	expectRefused(t, dial(t, ts.addr), "talker")
	if got := silent.expectClosed(5 * time.Second); len(got) != 0 {
		t.Fatalf("silent client got %d packets, want none", len(got))
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("silent client closed after %v, before its refusal wait", d)
	}
	held.send(&packet.Disconnect{})
	waitFor(t, 5*time.Second, "slot freed", func() bool { return ts.Connections() == 0 })
	mustConnect(t, ts, "next")
}

// TestD4_MaxConnections_AnswersBounded: beyond maxRefusing connections being answered,
// further connections over the descriptor budget are closed at once without reading them, and Close does
// not wait for the ones being answered.
func TestD4_MaxConnections_AnswersBounded(t *testing.T) {
	ts := startServer(t, Config{MaxConnections: 1, ConnectTimeout: 5 * time.Second,
		Limiter: connlimit.New(connlimit.Config{Max: 1})})
	ts.mu.Lock()
	ts.maxRefusing = 1
	ts.mu.Unlock()
	mustConnect(t, ts, "held")
	dial(t, ts.addr) // silent: holds the one answering slot for up to 2 s
	waitFor(t, 5*time.Second, "slot taken", func() bool { return ts.refusing() == 1 })
	start := time.Now()
	c := dial(t, ts.addr)
	c.send(connectPacket("late", true, 0))
	if got := c.expectClosed(5 * time.Second); len(got) != 0 {
		t.Fatalf("got %d packets, want a close without CONNACK", len(got))
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("closed after %v, want at once", d)
	}
	start = time.Now()
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Close took %v with a refusal under way", d)
	}
}

func TestMaxConnectionsFor(t *testing.T) {
	for _, tc := range []struct {
		nofile uint64
		want   int
	}{
		{0, 0}, {2, 1}, {256, 128}, {512, 256}, {1024, 768}, {4096, 3687}, {20000, 18000},
		{1 << 20, 943719}, {math.MaxUint64, math.MaxInt32},
	} {
		if got := maxConnectionsFor(tc.nofile); got != tc.want {
			t.Errorf("maxConnectionsFor(%d) = %d, want %d", tc.nofile, got, tc.want)
		}
	}
	if _, err := os.Stat("/proc/self/fd"); err == nil && DefaultMaxConnections() <= 0 {
		t.Errorf("DefaultMaxConnections() = %d on Linux", DefaultMaxConnections())
	}
}
