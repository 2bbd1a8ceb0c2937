package client_test

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/mqtt/client"
	"github.com/outpost-iot/outpost/internal/mqtt/packet"
	"github.com/outpost-iot/outpost/internal/testutil"
)

// The same client against an independent broker, Debian's mosquitto: what
// passes only against our own broker could be a shared misreading of the spec.

func TestMosquitto_PublishQoS1WindowInOrder(t *testing.T) {
	dialer := mosquitto(t)
	c := dialWith(t, dialer, client.Options{ClientID: "pub", CleanSession: true, Window: 64})
	publishMany(t, c, "outpost/test", 1000, 64)
}

func TestMosquitto_SubscribeAndReceiveInOrder(t *testing.T) {
	dialer := mosquitto(t)
	got := make(chan *packet.Publish, 100)
	sub := dialWith(t, dialer, client.Options{ClientID: "sub", CleanSession: true, OnPublish: func(p *packet.Publish, ack func()) {
		got <- p
		ack()
	}})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	codes, err := sub.Subscribe(ctx, packet.Subscription{Filter: "outpost/#", QoS: 1}, packet.Subscription{Filter: "other", QoS: 0})
	if err != nil || !bytes.Equal(codes, []byte{1, 0}) {
		t.Fatalf("subscribe: %v %v", codes, err)
	}
	pub := dialWith(t, dialer, client.Options{ClientID: "pub", CleanSession: true})
	publishMany(t, pub, "outpost/x", 100, client.DefaultWindow)
	for i := range 100 {
		select {
		case p := <-got:
			if p.Topic != "outpost/x" || p.QoS != 1 || string(p.Payload) != strconv.Itoa(i) {
				t.Fatalf("message %d: %+v", i, p)
			}
		case <-time.After(wait):
			t.Fatalf("message %d not received", i)
		}
	}
	if err := sub.Unsubscribe(ctx, "outpost/#", "other"); err != nil {
		t.Fatalf("unsubscribe: %v", err)
	}
}

func TestMosquitto_KeepAliveAndDisconnect(t *testing.T) {
	dialer := mosquitto(t)
	c := dialWith(t, dialer, client.Options{ClientID: "ka", CleanSession: true, KeepAlive: time.Second})
	// Three keep-alive periods of silence from the application: pings keep the link up.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-c.Done():
			t.Fatalf("connection ended: %v", c.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.Disconnect(ctx); err != nil {
		t.Fatalf("disconnect: %v", err)
	}
	if !errors.Is(c.Err(), client.ErrClosed) {
		t.Fatalf("Err() = %v", c.Err())
	}
}

func TestMosquitto_TakeoverEndsTheFirstClient(t *testing.T) {
	dialer := mosquitto(t)
	first := dialWith(t, dialer, client.Options{ClientID: "same", CleanSession: true})
	dialWith(t, dialer, client.Options{ClientID: "same", CleanSession: true}) // mosquitto closes the first
	select {
	case <-first.Done():
	case <-time.After(wait):
		t.Fatal("first connection still up after a takeover")
	}
	if !errors.Is(first.Err(), client.ErrConnectionLost) {
		t.Fatalf("Err() = %v", first.Err())
	}
}

// Killing the broker in the middle of a burst: every publish handed over gets
// exactly one done, in order, the successes a prefix and the failures the rest
// (what the upstream link resends).
func TestMosquitto_KilledMidBurst(t *testing.T) {
	dialer, proc := mosquittoProcess(t)
	c := dialWith(t, dialer, client.Options{ClientID: "pub", CleanSession: true, Window: 64})
	d := newDoneRecorder()
	handed := make(chan int, 1)
	go func() { // ends when the connection does: PublishAsync then fails
		n := 0
		for ; n < 100000; n++ {
			if c.PublishAsync(context.Background(), &packet.Publish{QoS: 1, Topic: "t", Payload: make([]byte, 100)}, d.done(n)) != nil {
				break
			}
		}
		handed <- n
	}()
	testutil.Eventually(t, wait, func() bool { return d.count() >= 500 }, "500 publishes acknowledged")
	if err := proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	n := <-handed
	<-c.Done()
	d.check(t, n)
	failed := false
	for i := range n {
		err := d.err(i)
		if err != nil && !errors.Is(err, client.ErrConnectionLost) {
			t.Fatalf("done %d: %v", i, err)
		}
		if failed && err == nil {
			t.Fatalf("done %d succeeded after an earlier one failed", i)
		}
		failed = failed || err != nil
	}
	if !failed {
		t.Fatalf("all %d publishes succeeded although the broker was killed", n)
	}
}
