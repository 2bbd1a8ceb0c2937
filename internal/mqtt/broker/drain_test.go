package broker

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/mqtt/packet"
	"github.com/outpost-iot/outpost/internal/testutil"
)

// groupCommitAuth hands out handlers whose publishes are "stored" in batches by a committer
// goroutine, like the cloud's event log: each done is called a little after the publish,
// also after the server began to close.
type groupCommitAuth struct {
	queue  chan func(error)
	stored atomic.Int64
}

type groupCommitHandler struct {
	handler
	a *groupCommitAuth
}

func (a *groupCommitAuth) Connect(_ context.Context, req *ConnectRequest) (Handler, error) {
	return &groupCommitHandler{handler: handler{r: &recorder{}, id: req.ClientID}, a: a}, nil
}

func (h *groupCommitHandler) PublishAsync(_ context.Context, _ *Publish, done func(error)) {
	h.a.queue <- done
}

// commit stores the queued publishes every few milliseconds until stop, then the rest.
func (a *groupCommitAuth) commit(stop <-chan struct{}) {
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			for {
				select {
				case done := <-a.queue:
					a.stored.Add(1)
					done(nil)
				default:
					return
				}
			}
		case <-t.C:
		}
		for n := len(a.queue); n > 0; n-- {
			done := <-a.queue
			a.stored.Add(1)
			done(nil)
		}
	}
}

// TestA10_CloseSendsOwedPubacks: a server closed in the middle of a QoS 1 burst stops
// reading, lets the publishes it handed over be stored, writes their PUBACKs and only then
// closes the connections, so every stored message was acknowledged (RELIABILITY A10).
func TestA10_CloseSendsOwedPubacks(t *testing.T) {
	a := &groupCommitAuth{queue: make(chan func(error), 1024)}
	ts := startServer(t, Config{Auth: a, MaxInboundRate: -1})
	stop := make(chan struct{})
	var committer sync.WaitGroup
	committer.Go(func() { a.commit(stop) })
	const publishers = 4
	var acks atomic.Int64
	var clients sync.WaitGroup
	for i := range publishers {
		c, ack := connect(t, ts.addr, connectPacket(clientName(i), true, 0))
		if ack.ReturnCode != 0 {
			t.Fatalf("CONNACK %d", ack.ReturnCode)
		}
		clients.Go(func() { // writes the burst; stops at the first write error
			testutil.BurstQoS1(c.nc, "t", 20000, func(int) []byte { return []byte("x") })
		})
		clients.Go(func() { testutil.CountPubacks(c.nc, c.r, &acks) }) // until the server closes the connection
	}
	waitFor(t, 10*time.Second, "the burst under way", func() bool { return acks.Load() >= 200 })
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	clients.Wait()
	close(stop)
	committer.Wait()
	if s, k := a.stored.Load(), acks.Load(); s != k {
		t.Fatalf("%d messages stored, %d PUBACKs received: %d stored without their PUBACK", s, k, s-k)
	}
	t.Logf("%d messages stored and acknowledged before the close", acks.Load())
}

// TestA10_CloseBoundedByDrainTimeout: a publish whose verdict never comes does not hold
// Close beyond DrainTimeout, and gets no PUBACK.
func TestA10_CloseBoundedByDrainTimeout(t *testing.T) {
	a := &asyncAuth{pending: map[uint16]func(error){}, arrived: make(chan uint16, 16)}
	ts := startServer(t, Config{Auth: a, DrainTimeout: 300 * time.Millisecond})
	c := mustConnect(t, ts, "stuck")
	c.send(&packet.Publish{Topic: "t", QoS: 1, PacketID: 1, Payload: []byte("x")})
	<-a.arrived
	start := time.Now()
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 3*time.Second {
		t.Fatalf("Close took %v, want about the drain timeout of 300ms", d)
	}
	for _, p := range c.expectClosed(5 * time.Second) {
		if _, ok := p.(*packet.Puback); ok {
			t.Fatal("PUBACK without a verdict")
		}
	}
	a.release(1, nil) // late: the connection is gone, nothing is written
}
