package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/mqtt/packet"
)

func TestD1_ConnectTimeout(t *testing.T) {
	ts := startServer(t, Config{ConnectTimeout: 300 * time.Millisecond})
	silent := dial(t, ts.addr)
	slow := dial(t, ts.addr)
	start := time.Now()
	full, _ := packet.Encode(connectPacket("slow", true, 0))
	go func() { // one byte per 100 ms: never completes within the timeout
		for _, b := range full {
			if _, err := slow.nc.Write([]byte{b}); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	silent.expectClosed(5 * time.Second)
	slow.expectClosed(5 * time.Second)
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("closed after %v, before the connect timeout", d)
	}
	waitFor(t, 5*time.Second, "connections released", func() bool { return ts.Connections() == 0 })
	if n := ts.metrics.reason("connect_timeout"); n != 2 {
		t.Fatalf("connect_timeout count %d, want 2", n)
	}
	mustConnect(t, ts, "after") // others unaffected
}

func TestD2_TLSHandshakeTimeout(t *testing.T) {
	ts := startServer(t, Config{ConnectTimeout: 300 * time.Millisecond})
	addr := ts.serveTLS(t)
	stalled := dial(t, addr) // TCP only, never sends a ClientHello
	stalled.expectClosed(5 * time.Second)

	tc, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // test server
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	c := newRawClient(t, tc)
	c.send(connectPacket("tls-client", true, 0))
	if ack := c.read().(*packet.Connack); ack.ReturnCode != 0 {
		t.Fatalf("CONNACK %d", ack.ReturnCode)
	}
	waitFor(t, 5*time.Second, "online", func() bool { return len(ts.rec.find("online")) == 1 })
	if got := ts.Lookup("tls-client"); got == nil || got.transport != "tls" {
		t.Fatalf("lookup %v", got)
	}
}

func TestD3_KeepAlive(t *testing.T) {
	ts := startServer(t, Config{})
	idle, _ := connect(t, ts.addr, connectPacket("idle", true, 1))
	pinger, _ := connect(t, ts.addr, connectPacket("pinger", true, 1))
	start := time.Now()
	for i := 0; i < 5; i++ { // 2.5 s of pings every 500 ms keep it alive
		time.Sleep(500 * time.Millisecond) // pacing the client, not waiting for a result
		pinger.send(&packet.Pingreq{})
		if _, ok := pinger.read().(*packet.Pingresp); !ok {
			t.Fatal("expected PINGRESP")
		}
	}
	idle.expectClosed(5 * time.Second)
	waitFor(t, 5*time.Second, "idle offline", func() bool { return len(ts.rec.find("offline")) == 1 })
	if d := ts.rec.find("offline")[0]; d.clientID != "idle" {
		t.Fatalf("%s went offline", d.clientID)
	}
	if time.Since(start) < 1400*time.Millisecond {
		t.Fatal("closed before 1.5 x keep-alive")
	}
	if ts.metrics.reason("keepalive") != 1 {
		t.Fatal("keepalive metric not counted")
	}
}

func TestD7_DeclaredLengthThenStall(t *testing.T) {
	ts := startServer(t, Config{})
	c, _ := connect(t, ts.addr, connectPacket("stall", true, 1))
	c.write([]byte{0x30, 0xff, 0x7f, 0, 1, 't'}) // declares 16 KiB, sends 3 bytes, stalls
	c.expectClosed(5 * time.Second)
	waitFor(t, 5*time.Second, "released", func() bool { return ts.Connections() == 0 })
}

func TestD11_MaxSubscriptions(t *testing.T) {
	ts := startServer(t, Config{MaxSubscriptions: 3})
	c := mustConnect(t, ts, "many")
	subs := []packet.Subscription{{Filter: "a", QoS: 1}, {Filter: "b", QoS: 2}, {Filter: "c", QoS: 0},
		{Filter: "d", QoS: 1}, {Filter: "a", QoS: 0}}
	c.send(&packet.Subscribe{PacketID: 1, Subscriptions: subs})
	ack := c.read().(*packet.Suback)
	want := []byte{1, 1, 0, packet.SubackFailure, 0} // QoS 2 granted 1; the 4th refused; "a" replaced
	if string(ack.ReturnCodes) != string(want) {
		t.Fatalf("SUBACK % x, want % x", ack.ReturnCodes, want)
	}
	conn := ts.Lookup("many")
	if q, ok := conn.Subscribed("a"); !ok || q != 0 {
		t.Fatalf("Subscribed(a) = %d %v", q, ok)
	}
	if _, ok := conn.Subscribed("d"); ok {
		t.Fatal("refused filter subscribed")
	}
}

func TestD11_LongTopics(t *testing.T) {
	ts := startServer(t, Config{MaxPacketSize: 1 << 20})
	c := mustConnect(t, ts, "long")
	levels := make([]byte, 0xfffd)
	for i := range levels {
		levels[i] = '/'
	}
	filter := "+" + string(levels) + "#"
	c.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: filter, QoS: 0}}})
	if ack := c.read().(*packet.Suback); len(ack.ReturnCodes) != 1 {
		t.Fatal("bad SUBACK")
	}
	start := time.Now()
	_, ok := ts.Lookup("long").Subscribed(string(levels))
	if d := time.Since(start); d > time.Second {
		t.Fatalf("matching a 65,535-level topic took %v", d)
	}
	if !ok { // "+" takes the first empty level, the empty levels match, "#" the rest
		t.Fatal("the long filter does not match the long topic")
	}
}

// TestD9_NoPubackBlocksOnlyItsOwnPublishers: a client that never PUBACKs fills its
// inflight window; further QoS 1 publishes to it wait until their ctx ends, and a
// well-behaved client is unaffected.
func TestD9_NoPubackBlocksOnlyItsOwnPublishers(t *testing.T) {
	ts := startServer(t, Config{MaxInflight: 2})
	mute := mustConnect(t, ts, "mute")
	good := mustConnect(t, ts, "good")
	muteConn, goodConn := ts.Lookup("mute"), ts.Lookup("good")
	results := make(chan error, 2)
	for i := 0; i < 2; i++ {
		go func() { results <- muteConn.Publish(context.Background(), "t", []byte("x"), 1) }()
	}
	for i := 0; i < 2; i++ {
		if p := mute.read().(*packet.Publish); p.QoS != 1 || p.PacketID == 0 {
			t.Fatalf("got %#v", p)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := muteConn.Publish(ctx, "t", []byte("x"), 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third publish: %v, want deadline exceeded", err)
	}
	if _, err := mute.readErr(100 * time.Millisecond); err == nil {
		t.Fatal("window exceeded: a third PUBLISH was sent")
	}
	done := make(chan error, 1)
	go func() { done <- goodConn.Publish(context.Background(), "t", []byte("y"), 1) }()
	p := good.read().(*packet.Publish)
	good.send(&packet.Puback{PacketID: p.PacketID})
	if err := <-done; err != nil {
		t.Fatalf("good client publish: %v", err)
	}
	mute.nc.Close()
	for i := 0; i < 2; i++ {
		if err := <-results; !errors.Is(err, ErrConnClosed) {
			t.Fatalf("blocked publish ended with %v, want ErrConnClosed", err)
		}
	}
}

// TestD5_SlowConsumerDropsQoS0: a subscriber that never reads gets its QoS 0
// queue filled; further publishes are dropped at once, never blocking.
func TestD5_SlowConsumerDropsQoS0(t *testing.T) {
	ts := startServer(t, Config{OutboundQueue: 8})
	_ = mustConnect(t, ts, "slow") // never reads
	good := mustConnect(t, ts, "fast")
	slow := ts.Lookup("slow")
	payload := make([]byte, 64<<10)
	var dropped int
	start := time.Now()
	for i := 0; i < 500 && dropped == 0; i++ {
		if err := slow.Publish(context.Background(), "t", payload, 0); errors.Is(err, ErrQueueFull) {
			dropped++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if dropped == 0 || ts.metrics.dropped.Load() == 0 {
		t.Fatal("nothing dropped for a consumer that never reads")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("publishing to a slow consumer took %v", d)
	}
	if err := ts.Lookup("fast").Publish(context.Background(), "u", []byte("z"), 0); err != nil {
		t.Fatal(err)
	}
	if p := good.read().(*packet.Publish); p.Topic != "u" {
		t.Fatalf("fast client got %q", p.Topic)
	}
}

// TestD1_MaxPendingConnects: over the cap a new connection evicts the oldest silent one
// (which is counted) and gets its chance; an authenticated client is not counted, and the
// cap frees up as pending connections complete.
func TestD1_MaxPendingConnects(t *testing.T) {
	ts := startServer(t, Config{MaxPendingConnects: 2})
	mustConnect(t, ts, "authenticated")
	a := dial(t, ts.addr)
	waitFor(t, 5*time.Second, "a pending", func() bool { return ts.Connections() == 2 })
	b := dial(t, ts.addr)
	waitFor(t, 5*time.Second, "two pending", func() bool { return ts.Connections() == 3 })
	c := dial(t, ts.addr) // evicts a, the oldest
	a.expectClosed(5 * time.Second)
	if ts.metrics.reason("rejected_pending_evicted") != 1 {
		t.Fatal("eviction not counted")
	}
	c.send(connectPacket("c", true, 0))
	if ack := c.read().(*packet.Connack); ack.ReturnCode != 0 {
		t.Fatalf("CONNACK %d", ack.ReturnCode)
	}
	_ = b // b keeps its pending slot until the test ends
	mustConnect(t, ts, "next")
	if ts.metrics.reason("rejected_pending_evicted") != 1 {
		t.Fatal("a connection evicted while the cap had room")
	}
}
