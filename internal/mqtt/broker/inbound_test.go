package broker

import (
	"context"
	"errors"
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
