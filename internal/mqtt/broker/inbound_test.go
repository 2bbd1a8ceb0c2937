package broker

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/mqtt/packet"
)

// asyncAuth hands out asyncHandlers that keep each publish's done until the test releases it.
type asyncAuth struct {
	mu      sync.Mutex
	pending map[uint16]func(error)
	arrived chan uint16
}

type asyncHandler struct {
	handler
	a *asyncAuth
}

func (a *asyncAuth) Connect(_ context.Context, _ *ConnectRequest) (Handler, error) {
	return &asyncHandler{handler: handler{r: &recorder{}, id: "async"}, a: a}, nil
}

func (h *asyncHandler) PublishAsync(_ context.Context, p *Publish, done func(error)) {
	h.a.mu.Lock()
	h.a.pending[p.PacketID] = done
	h.a.mu.Unlock()
	h.a.arrived <- p.PacketID
}

func (a *asyncAuth) release(id uint16, err error) {
	a.mu.Lock()
	done := a.pending[id]
	a.mu.Unlock()
	done(err)
}

// TestAsyncPublishAcksInArrivalOrder: handlers may finish out of order, PUBACKs go out in
// PUBLISH order [MQTT-4.6.0-2], and all in-flight publishes reach the handler without waiting.
func TestAsyncPublishAcksInArrivalOrder(t *testing.T) {
	a := &asyncAuth{pending: map[uint16]func(error){}, arrived: make(chan uint16, 16)}
	ts := startServer(t, Config{Auth: a})
	c := mustConnect(t, ts, "async")
	for id := uint16(1); id <= 3; id++ {
		c.send(&packet.Publish{Topic: "t", QoS: 1, PacketID: id, Payload: []byte("x")})
	}
	for i := 0; i < 3; i++ {
		select {
		case <-a.arrived:
		case <-time.After(5 * time.Second):
			t.Fatal("publishes were not handed over while earlier ones were pending")
		}
	}
	a.release(3, nil)
	a.release(2, nil)
	a.release(1, nil)
	for want := uint16(1); want <= 3; want++ {
		ack, ok := c.read().(*packet.Puback)
		if !ok || ack.PacketID != want {
			t.Fatalf("PUBACK %v, want id %d", ack, want)
		}
	}
}

func TestAsyncPublishErrorClosesWithoutPuback(t *testing.T) {
	a := &asyncAuth{pending: map[uint16]func(error){}, arrived: make(chan uint16, 16)}
	ts := startServer(t, Config{Auth: a})
	c := mustConnect(t, ts, "async-err")
	c.send(&packet.Publish{Topic: "t", QoS: 1, PacketID: 7, Payload: []byte("x")})
	<-a.arrived
	a.release(7, errors.New("store full"))
	for _, p := range c.expectClosed(5 * time.Second) {
		if _, ok := p.(*packet.Puback); ok {
			t.Fatal("PUBACK sent for a refused publish")
		}
	}
}

// TestInboundUnreadPubacksStopReading: a client that never reads its PUBACKs stops being
// read once MaxInboundInflight PUBACKs wait to be written, also when the handler gives its
// verdicts at once (an inbound publish keeps its slot until its PUBACK is taken to be
// written). net.Pipe has no buffer, so the write goroutine blocks at its first flush, with
// at most its 8 KiB buffer of PUBACKs taken.
func TestInboundUnreadPubacksStopReading(t *testing.T) {
	ts := startServer(t, Config{MaxInboundInflight: 4, MaxInboundRate: -1})
	client, server := net.Pipe()
	t.Cleanup(func() { _ = client.Close() })
	go ts.ServeConn(server, "tcp")
	b, _ := packet.Encode(connectPacket("unread", true, 0))
	if _, err := client.Write(b); err != nil {
		t.Fatal(err)
	}
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if p, err := packet.NewReader(client, 0).ReadPacket(); err != nil {
		t.Fatalf("CONNACK: %v", err)
	} else if _, ok := p.(*packet.Connack); !ok {
		t.Fatalf("got %v, want CONNACK", p)
	}
	go func() { // blocks once the broker stops reading; ends when the pipe closes
		for id := uint16(1); id <= 5000; id++ {
			b, _ := packet.Encode(&packet.Publish{Topic: "t", QoS: 1, PacketID: id})
			if _, err := client.Write(b); err != nil {
				return
			}
		}
	}()
	const most = 4 + 8<<10/4 + 2 // the slots, a write buffer of PUBACKs, the one being read
	waitFor(t, 5*time.Second, "publishes handed over", func() bool { return len(ts.rec.find("publish")) >= 4 })
	time.Sleep(200 * time.Millisecond) // a bounded negative check: reading must have stopped
	if n := len(ts.rec.find("publish")); n > most {
		t.Fatalf("%d publishes read from a client that reads no PUBACKs, want at most %d", n, most)
	}
}
