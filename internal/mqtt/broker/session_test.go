package broker

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/mqtt/packet"
)

// subscribeRaw subscribes to filters at QoS 1 and requires every one to be granted QoS 1.
func subscribeRaw(t *testing.T, c *rawClient, id uint16, filters ...string) {
	t.Helper()
	var subs []packet.Subscription
	for _, f := range filters {
		subs = append(subs, packet.Subscription{Filter: f, QoS: 1})
	}
	c.send(&packet.Subscribe{PacketID: id, Subscriptions: subs})
	ack := c.read().(*packet.Suback)
	if ack.PacketID != id {
		t.Fatalf("SUBACK id %d, want %d", ack.PacketID, id)
	}
	if want := bytes.Repeat([]byte{1}, len(filters)); !bytes.Equal(ack.ReturnCodes, want) {
		t.Fatalf("SUBACK codes % x, want % x", ack.ReturnCodes, want)
	}
}

func disconnect(t *testing.T, ts *testServer, c *rawClient, offlines int) {
	t.Helper()
	c.send(&packet.Disconnect{})
	c.expectClosed(5 * time.Second)
	waitFor(t, 5*time.Second, "offline", func() bool { return len(ts.rec.find("offline")) == offlines })
}

func TestSession_PersistentRestoredAndCleanDeletes(t *testing.T) {
	store := NewMemorySessionStore()
	ts := startServer(t, Config{Sessions: store})
	c, ack := connect(t, ts.addr, connectPacket("dev", false, 0))
	if ack.SessionPresent {
		t.Fatal("session present on first connect")
	}
	subscribeRaw(t, c, 1, "$iothub/methods/POST/#", "devices/dev/messages/devicebound/#")
	c.send(&packet.Unsubscribe{PacketID: 2, Filters: []string{"devices/dev/messages/devicebound/#"}})
	if _, ok := c.read().(*packet.Unsuback); !ok {
		t.Fatal("expected UNSUBACK")
	}
	disconnect(t, ts, c, 1)

	c, ack = connect(t, ts.addr, connectPacket("dev", false, 0))
	if !ack.SessionPresent {
		t.Fatal("CleanSession=0 reconnect: session not present")
	}
	waitFor(t, 5*time.Second, "online", func() bool { return len(ts.rec.find("online")) == 2 })
	if on := ts.rec.find("online")[1]; !on.session {
		t.Fatal("Online got sessionPresent=false")
	}
	conn := ts.Lookup("dev")
	if _, ok := conn.Subscribed("$iothub/methods/POST/reboot/?$rid=1"); !ok {
		t.Fatal("restored subscription missing")
	}
	if _, ok := conn.Subscribed("devices/dev/messages/devicebound/x"); ok {
		t.Fatal("unsubscribed filter restored")
	}
	disconnect(t, ts, c, 2)

	c, ack = connect(t, ts.addr, connectPacket("dev", true, 0))
	if ack.SessionPresent {
		t.Fatal("CleanSession=1: session present")
	}
	if _, found, _ := store.LoadSession("dev"); found {
		t.Fatal("CleanSession=1 did not delete the stored session")
	}
	disconnect(t, ts, c, 3)
	_, ack = connect(t, ts.addr, connectPacket("dev", false, 0))
	if ack.SessionPresent {
		t.Fatal("session present after a clean session")
	}
}

func TestSession_EmptyClientID(t *testing.T) {
	ts := startServer(t, Config{})
	c, ack := connect(t, ts.addr, connectPacket("", false, 0))
	if ack.ReturnCode != CodeIdentifierRejected {
		t.Fatalf("CONNACK %d, want 2 [MQTT-3.1.3-8]", ack.ReturnCode)
	}
	c.expectClosed(5 * time.Second)
	_, ack = connect(t, ts.addr, connectPacket("", true, 0))
	if ack.ReturnCode != 0 {
		t.Fatalf("CleanSession=1 with empty id: CONNACK %d", ack.ReturnCode)
	}
	waitFor(t, 5*time.Second, "online", func() bool { return len(ts.rec.find("online")) == 1 })
	if id := ts.rec.find("online")[0].conn.ClientID(); id == "" {
		t.Fatal("no client id assigned [MQTT-3.1.3-6]")
	}
}

// TestD10_Takeover1000: 1,000 takeovers of one client id; each old connection is
// closed, its Offline runs before the new Online, and no goroutine leaks.
func TestD10_Takeover1000(t *testing.T) {
	ts := startServer(t, Config{})
	base := runtime.NumGoroutine()
	var prev *rawClient
	const n = 1000
	for i := 0; i < n; i++ {
		c, ack := connect(t, ts.addr, connectPacket("same", i%2 == 0, 0))
		if ack.ReturnCode != 0 {
			t.Fatalf("takeover %d: CONNACK %d", i, ack.ReturnCode)
		}
		if prev != nil {
			prev.expectClosed(5 * time.Second)
			_ = prev.nc.Close()
		}
		prev = c
	}
	waitFor(t, 5*time.Second, "offlines", func() bool { return len(ts.rec.find("offline")) == n-1 })
	checkOrder(t, ts.rec.find(""))
	for _, off := range ts.rec.find("offline") {
		if !errors.Is(off.err, ErrSessionTakenOver) {
			t.Fatalf("offline err %v, want ErrSessionTakenOver", off.err)
		}
	}
	_ = prev.nc.Close()
	waitFor(t, 10*time.Second, "goroutines back to baseline", func() bool {
		return runtime.NumGoroutine() <= base+2 && ts.Connections() == 0
	})
}

// checkOrder verifies that online/offline events strictly alternate per client id.
func checkOrder(t *testing.T, events []event) {
	t.Helper()
	online := map[string]*Conn{}
	for i, e := range events {
		switch e.kind {
		case "online":
			if online[e.clientID] != nil {
				t.Fatalf("event %d: Online while the previous connection is still online", i)
			}
			online[e.clientID] = e.conn
		case "offline":
			if online[e.clientID] != e.conn {
				t.Fatalf("event %d: Offline of a connection that is not the online one", i)
			}
			delete(online, e.clientID)
		}
	}
}

// TestD10_ConcurrentTakeovers races several connections for one id.
func TestD10_ConcurrentTakeovers(t *testing.T) {
	ts := startServer(t, Config{})
	done := make(chan struct{})
	for i := 0; i < 8; i++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for j := 0; j < 30; j++ {
				c := dialNoCleanup(ts.addr)
				if c == nil {
					return
				}
				b, _ := packet.Encode(connectPacket("hot", true, 0))
				_, _ = c.Write(b)
				_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
				_, _ = packet.NewReader(c, 0).ReadPacket()
				_ = c.Close()
			}
		}()
	}
	for i := 0; i < 8; i++ {
		<-done
	}
	waitFor(t, 10*time.Second, "all closed", func() bool { return ts.Connections() == 0 })
	checkOrder(t, ts.rec.find(""))
	if on, off := len(ts.rec.find("online")), len(ts.rec.find("offline")); on != off {
		t.Fatalf("%d online, %d offline", on, off)
	}
}

func TestWill_OnlyOnAbnormalClose(t *testing.T) {
	ts := startServer(t, Config{})
	withWill := func(id string) *packet.Connect {
		cp := connectPacket(id, true, 0)
		cp.Will = &packet.Will{Topic: "devices/" + id + "/messages/events/", Message: []byte("gone"), QoS: 1}
		return cp
	}
	a, _ := connect(t, ts.addr, withWill("abrupt"))
	b, _ := connect(t, ts.addr, withWill("polite"))
	waitFor(t, 5*time.Second, "online", func() bool { return len(ts.rec.find("online")) == 2 })
	_ = a.nc.Close()
	b.send(&packet.Disconnect{})
	waitFor(t, 5*time.Second, "offline", func() bool { return len(ts.rec.find("offline")) == 2 })
	for _, off := range ts.rec.find("offline") {
		switch off.clientID {
		case "abrupt":
			if off.will == nil || string(off.will.Payload) != "gone" || off.will.QoS != 1 || off.err == nil {
				t.Fatalf("abrupt close: will %+v err %v", off.will, off.err)
			}
		case "polite":
			if off.will != nil || off.err != nil {
				t.Fatalf("DISCONNECT: will %+v err %v", off.will, off.err)
			}
		}
	}
}

func TestPublish_QoS1PubackAfterHandler(t *testing.T) {
	ts := startServer(t, Config{})
	release := make(chan struct{})
	ts.rec.publish = func(ctx context.Context, p *Publish) error {
		switch string(p.Payload) {
		case "block":
			select {
			case <-release:
			case <-ctx.Done():
			}
		case "fail":
			return errors.New("store full")
		}
		return nil
	}
	c := mustConnect(t, ts, "pub")
	c.send(&packet.Publish{QoS: 1, PacketID: 9, Topic: "devices/pub/messages/events/", Payload: []byte("block"), Retain: true})
	if _, err := c.readErr(200 * time.Millisecond); err == nil {
		t.Fatal("PUBACK before the handler returned")
	}
	close(release)
	if ack := c.read().(*packet.Puback); ack.PacketID != 9 {
		t.Fatalf("PUBACK %d", ack.PacketID)
	}
	if p := ts.rec.find("publish")[0].pub; !p.Retain || p.QoS != 1 || p.Topic != "devices/pub/messages/events/" {
		t.Fatalf("handler got %+v", p)
	}
	c.send(&packet.Publish{QoS: 1, PacketID: 10, Topic: "t", Payload: []byte("fail")})
	if got := c.expectClosed(5 * time.Second); len(got) != 0 {
		t.Fatal("PUBACK sent for a refused publish")
	}
}

func TestSubscribe_HandlerRefusesAndQoS2Granted1(t *testing.T) {
	ts := startServer(t, Config{})
	ts.rec.subscribe = func(filter string, qos byte) byte {
		if filter == "#" {
			return packet.SubackFailure // E4: a device may not subscribe to everything
		}
		return qos
	}
	c := mustConnect(t, ts, "s")
	c.send(&packet.Subscribe{PacketID: 3, Subscriptions: []packet.Subscription{{Filter: "#", QoS: 0}, {Filter: "$iothub/twin/res/#", QoS: 2}, {Filter: "x", QoS: 0}}})
	ack := c.read().(*packet.Suback)
	if want := []byte{0x80, 1, 0}; string(ack.ReturnCodes) != string(want) {
		t.Fatalf("SUBACK % x, want % x", ack.ReturnCodes, want)
	}
	if _, ok := ts.Lookup("s").Subscribed("anything"); ok {
		t.Fatal("refused # subscription matches")
	}
}

func TestServer_CloseEndsConnections(t *testing.T) {
	ts := startServer(t, Config{})
	mustConnect(t, ts, "x")
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	offs := ts.rec.find("offline")
	if len(offs) != 1 || !errors.Is(offs[0].err, ErrServerClosed) {
		t.Fatalf("offline events %+v", offs)
	}
	if ts.Connections() != 0 {
		t.Fatal("connections left after Close")
	}
}

func TestConn_PublishValidation(t *testing.T) {
	ts := startServer(t, Config{})
	c := mustConnect(t, ts, "v")
	conn := ts.Lookup("v")
	if err := conn.Publish(context.Background(), "a/+", nil, 0); err == nil {
		t.Fatal("wildcard topic accepted")
	}
	if err := conn.Publish(context.Background(), "a", nil, 2); err == nil {
		t.Fatal("qos 2 accepted")
	}
	if err := conn.Publish(context.Background(), "a", []byte("p"), 0); err != nil {
		t.Fatal(err)
	}
	if p := c.read().(*packet.Publish); p.Topic != "a" || string(p.Payload) != "p" || p.QoS != 0 {
		t.Fatalf("got %+v", p)
	}
	conn.Close(nil)
	<-conn.Done()
	if err := conn.Publish(context.Background(), "a", nil, 1); !errors.Is(err, ErrConnClosed) {
		t.Fatalf("publish on closed conn: %v", err)
	}
}
