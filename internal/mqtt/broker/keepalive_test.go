package broker

import (
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/mqtt/packet"
)

func TestIdleTimeout(t *testing.T) {
	const hub = DefaultMaxKeepAlive
	for _, tc := range []struct {
		keepAlive uint16
		max       time.Duration
		want      time.Duration
	}{
		{60, hub, 90 * time.Second},             // 1.5 x the client's keep-alive [MQTT-3.1.2-24]
		{1177, hub, 1765500 * time.Millisecond}, // IoT Hub's largest client keep-alive
		{1200, hub, 1765500 * time.Millisecond}, // more than the maximum: held to it
		{0, hub, 1765500 * time.Millisecond},    // none asked: held to the maximum
		{0, -1, 0},                              // no maximum: keep-alive 0 never times out
		{10, -1, 15 * time.Second},
		{65535, -1, 65535 * 1500 * time.Millisecond},
	} {
		if got := idleTimeout(tc.keepAlive, tc.max); got != tc.want {
			t.Errorf("idleTimeout(%d, %v) = %v, want %v", tc.keepAlive, tc.max, got, tc.want)
		}
	}
	if got := New(Config{Auth: &recorder{}}).cfg.MaxKeepAlive; got != 1177*time.Second {
		t.Errorf("default MaxKeepAlive %v, want 1177 s", got)
	}
}

// TestD3_MaxKeepAlive: clients asking for no keep-alive or for more than
// MaxKeepAlive are closed after 1.5 x MaxKeepAlive of silence; a client that
// pings within it stays connected.
func TestD3_MaxKeepAlive(t *testing.T) {
	ts := startServer(t, Config{MaxKeepAlive: 200 * time.Millisecond})
	none, _ := connect(t, ts.addr, connectPacket("none", true, 0))
	long, _ := connect(t, ts.addr, connectPacket("long", true, 3600))
	pinger, _ := connect(t, ts.addr, connectPacket("pinger", true, 0))
	start := time.Now()
	for range 8 { // 800 ms of pings every 100 ms keep it alive
		time.Sleep(100 * time.Millisecond) // pacing the client, not waiting for a result
		pinger.send(&packet.Pingreq{})
		if _, ok := pinger.read().(*packet.Pingresp); !ok {
			t.Fatal("expected PINGRESP")
		}
	}
	none.expectClosed(5 * time.Second)
	long.expectClosed(5 * time.Second)
	waitFor(t, 5*time.Second, "two offline", func() bool { return len(ts.rec.find("offline")) == 2 })
	for _, off := range ts.rec.find("offline") {
		if off.clientID == "pinger" {
			t.Fatal("a client pinging within MaxKeepAlive was closed")
		}
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("closed after %v, before MaxKeepAlive", d)
	}
	if n := ts.metrics.reason("keepalive"); n != 2 {
		t.Fatalf("keepalive count %d, want 2", n)
	}
}
