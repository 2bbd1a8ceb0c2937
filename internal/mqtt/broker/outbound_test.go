package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/mqtt/packet"
)

// dones records the done calls of PublishAsync by name, and how often each came.
type dones struct {
	mu    sync.Mutex // guards calls, errs
	calls map[string]int
	errs  map[string]error
	ch    chan string // each call's name
}

func newDones() *dones {
	return &dones{calls: map[string]int{}, errs: map[string]error{}, ch: make(chan string, 1024)}
}

func (d *dones) fn(name string) func(error) {
	return func(err error) {
		d.mu.Lock()
		d.calls[name]++
		d.errs[name] = err
		d.mu.Unlock()
		d.ch <- name
	}
}

// next waits for the next done call and returns its name and error.
func (d *dones) next(t *testing.T) (string, error) {
	t.Helper()
	select {
	case name := <-d.ch:
		d.mu.Lock()
		defer d.mu.Unlock()
		return name, d.errs[name]
	case <-time.After(5 * time.Second):
		t.Fatal("no done call within 5 s")
		return "", nil
	}
}

// none checks that no done call came within d (a bounded negative check).
func (d *dones) none(t *testing.T, within time.Duration) {
	t.Helper()
	select {
	case name := <-d.ch:
		t.Fatalf("unexpected done call for %s", name)
	case <-time.After(within):
	}
}

// once checks that every name got exactly one done call.
func (d *dones) once(t *testing.T, names ...string) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, n := range names {
		if d.calls[n] != 1 {
			t.Fatalf("done of %s called %d times, want 1", n, d.calls[n])
		}
	}
}

func readPublish(t *testing.T, c *rawClient) *packet.Publish {
	t.Helper()
	p, ok := c.read().(*packet.Publish)
	if !ok {
		t.Fatalf("expected PUBLISH, got %T", p)
	}
	return p
}

// TestPublishAsync_PipelinedInOrder: many QoS 1 publishes are queued without waiting; the
// window holds MaxInflight of them on the wire, the rest follow as PUBACKs free slots,
// all in order with distinct packet ids, and each done comes once, on its PUBACK.
func TestPublishAsync_PipelinedInOrder(t *testing.T) {
	ts := startServer(t, Config{MaxInflight: 4})
	c := mustConnect(t, ts, "pipe")
	conn := ts.Lookup("pipe")
	d := newDones()
	const n = 10
	names := make([]string, n)
	for i := range n {
		names[i] = fmt.Sprint(i)
		conn.PublishAsync(context.Background(), &Publish{Topic: "t", QoS: 1, Payload: []byte(names[i])}, d.fn(names[i]))
	}
	var window []*packet.Publish
	for range 4 {
		window = append(window, readPublish(t, c))
	}
	if _, err := c.readErr(100 * time.Millisecond); err == nil {
		t.Fatal("a fifth PUBLISH was sent with four unacknowledged")
	}
	d.none(t, 0)
	ids := map[uint16]bool{}
	for i := 0; i < n; i++ {
		p := window[0]
		window = window[1:]
		if string(p.Payload) != names[i] || p.QoS != 1 || p.PacketID == 0 || ids[p.PacketID] || p.Dup {
			t.Fatalf("publish %d: payload %q qos %d id %d dup %v", i, p.Payload, p.QoS, p.PacketID, p.Dup)
		}
		ids[p.PacketID] = true
		c.send(&packet.Puback{PacketID: p.PacketID})
		if name, err := d.next(t); name != names[i] || err != nil {
			t.Fatalf("done %s (%v) after PUBACK of %s", name, err, names[i])
		}
		if i+4 < n {
			window = append(window, readPublish(t, c))
		}
	}
	d.once(t, names...)
}

// TestPublishAsync_QoS0DoneOnceWritten: a QoS 0 done comes once the PUBLISH is written.
func TestPublishAsync_QoS0DoneOnceWritten(t *testing.T) {
	ts := startServer(t, Config{})
	c := mustConnect(t, ts, "q0")
	d := newDones()
	ts.Lookup("q0").PublishAsync(context.Background(), &Publish{Topic: "t", Payload: []byte("x"), Dup: true}, d.fn("a"))
	if name, err := d.next(t); name != "a" || err != nil {
		t.Fatalf("done %s: %v", name, err)
	}
	if p := readPublish(t, c); p.QoS != 0 || p.Dup || string(p.Payload) != "x" {
		t.Fatalf("got qos %d dup %v %q; DUP must be 0 for QoS 0 [MQTT-3.3.1-2]", p.QoS, p.Dup, p.Payload)
	}
}

// TestPublishAsync_WithdrawnBeforeWrite: a publish whose ctx ends while it waits for the
// window is never sent and its done gets the ctx error; one whose ctx ends after it was
// written still waits for its PUBACK.
func TestPublishAsync_WithdrawnBeforeWrite(t *testing.T) {
	ts := startServer(t, Config{MaxInflight: 1})
	c := mustConnect(t, ts, "wd")
	conn := ts.Lookup("wd")
	d := newDones()
	ctxA, cancelA := context.WithCancel(context.Background())
	conn.PublishAsync(ctxA, &Publish{Topic: "t", QoS: 1, Payload: []byte("a")}, d.fn("a"))
	a := readPublish(t, c)
	ctxB, cancelB := context.WithCancel(context.Background())
	conn.PublishAsync(ctxB, &Publish{Topic: "t", QoS: 1, Payload: []byte("b")}, d.fn("b"))
	cancelB()
	if name, err := d.next(t); name != "b" || !errors.Is(err, context.Canceled) {
		t.Fatalf("done %s: %v, want b withdrawn with context.Canceled", name, err)
	}
	cancelA() // a was written: it waits for its PUBACK
	d.none(t, 50*time.Millisecond)
	conn.PublishAsync(context.Background(), &Publish{Topic: "t", QoS: 1, Payload: []byte("c")}, d.fn("c"))
	c.send(&packet.Puback{PacketID: a.PacketID})
	if name, err := d.next(t); name != "a" || err != nil {
		t.Fatalf("done %s: %v, want a acknowledged", name, err)
	}
	if p := readPublish(t, c); string(p.Payload) != "c" {
		t.Fatalf("after the withdrawal got %q, want c (b must never be sent)", p.Payload)
	}
	d.once(t, "a", "b")
}

// TestPublishAsync_ConnectionEndFailsOutstanding: written and queued publishes get
// ErrConnClosed when the connection ends, each once; later ones are refused at once.
func TestPublishAsync_ConnectionEndFailsOutstanding(t *testing.T) {
	ts := startServer(t, Config{MaxInflight: 2})
	c := mustConnect(t, ts, "end")
	conn := ts.Lookup("end")
	d := newDones()
	for _, n := range []string{"a", "b", "c", "d"} {
		conn.PublishAsync(context.Background(), &Publish{Topic: "t", QoS: 1, Payload: []byte(n)}, d.fn(n))
	}
	readPublish(t, c)
	readPublish(t, c)
	_ = c.nc.Close()
	for range 4 {
		if name, err := d.next(t); !errors.Is(err, ErrConnClosed) {
			t.Fatalf("done %s: %v, want ErrConnClosed", name, err)
		}
	}
	<-conn.Done()
	conn.PublishAsync(context.Background(), &Publish{Topic: "t", QoS: 1}, d.fn("late"))
	if name, err := d.next(t); name != "late" || !errors.Is(err, ErrConnClosed) {
		t.Fatalf("done %s: %v, want late refused with ErrConnClosed", name, err)
	}
	d.once(t, "a", "b", "c", "d", "late")
}

// TestPublishAsync_FullQueueRefusesAtOnce: beyond the window and OutboundQueue unwritten
// QoS 1 publishes, PublishAsync refuses with ErrQueueFull before it returns (D5, D9).
func TestPublishAsync_FullQueueRefusesAtOnce(t *testing.T) {
	ts := startServer(t, Config{MaxInflight: 1, OutboundQueue: 2})
	c := mustConnect(t, ts, "full")
	conn := ts.Lookup("full")
	d := newDones()
	conn.PublishAsync(context.Background(), &Publish{Topic: "t", QoS: 1}, d.fn("inflight"))
	readPublish(t, c) // in the window now
	conn.PublishAsync(context.Background(), &Publish{Topic: "t", QoS: 1}, d.fn("q1"))
	conn.PublishAsync(context.Background(), &Publish{Topic: "t", QoS: 1}, d.fn("q2"))
	var refused error
	conn.PublishAsync(context.Background(), &Publish{Topic: "t", QoS: 1}, func(err error) { refused = err })
	if !errors.Is(refused, ErrQueueFull) {
		t.Fatalf("fourth publish: %v, want ErrQueueFull before PublishAsync returned", refused)
	}
	d.none(t, 0)
}

// TestPublishAsync_DupOnRedelivery: a QoS 1 publish sent again carries DUP [MQTT-3.3.1-1].
func TestPublishAsync_DupOnRedelivery(t *testing.T) {
	ts := startServer(t, Config{})
	c := mustConnect(t, ts, "dup")
	d := newDones()
	ts.Lookup("dup").PublishAsync(context.Background(), &Publish{Topic: "t", QoS: 1, Dup: true, Payload: []byte("again")}, d.fn("a"))
	p := readPublish(t, c)
	if !p.Dup || p.QoS != 1 {
		t.Fatalf("dup %v qos %d, want a QoS 1 PUBLISH with DUP", p.Dup, p.QoS)
	}
	c.send(&packet.Puback{PacketID: p.PacketID})
	if _, err := d.next(t); err != nil {
		t.Fatal(err)
	}
}

// TestConnContext: a connection's context ends when it closes, with the reason as cause.
func TestConnContext(t *testing.T) {
	ts := startServer(t, Config{})
	mustConnect(t, ts, "ctx")
	old := ts.Lookup("ctx")
	if old.Context().Err() != nil {
		t.Fatal("context ended on a live connection")
	}
	mustConnect(t, ts, "ctx") // takes the client id over
	select {
	case <-old.Context().Done():
	case <-time.After(5 * time.Second):
		t.Fatal("context of a taken-over connection still live")
	}
	if cause := context.Cause(old.Context()); !errors.Is(cause, ErrSessionTakenOver) {
		t.Fatalf("cause %v, want ErrSessionTakenOver", cause)
	}
}

// TestPublish_QoS0SentAfterCtxCancelled: Publish returns once a QoS 0 PUBLISH is queued,
// and the caller's usual deferred cancel does not withdraw it.
func TestPublish_QoS0SentAfterCtxCancelled(t *testing.T) {
	ts := startServer(t, Config{})
	c := mustConnect(t, ts, "q0ctx")
	ctx, cancel := context.WithCancel(context.Background())
	if err := ts.Lookup("q0ctx").Publish(ctx, "t", []byte("kept"), 0); err != nil {
		t.Fatal(err)
	}
	cancel()
	if p := readPublish(t, c); string(p.Payload) != "kept" {
		t.Fatalf("got %q", p.Payload)
	}
}

// TestOutboundQueue_BytesCapTakesOneLargePublish: the 4 MiB cap of unwritten publishes
// refuses more behind a large one, never the large one itself on an empty queue.
func TestOutboundQueue_BytesCapTakesOneLargePublish(t *testing.T) {
	o := newOutbound(Config{MaxInflight: 1, OutboundQueue: 4})
	if err := o.enqueue(&delivery{b: make([]byte, maxQueuedBytes+1), qos: 1}); err != nil {
		t.Fatalf("large publish on an empty queue: %v", err)
	}
	if err := o.enqueue(&delivery{b: make([]byte, 1), qos: 1}); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("publish behind it: %v, want ErrQueueFull", err)
	}
	if err := o.enqueue(&delivery{b: make([]byte, 1), qos: 0}); err != nil {
		t.Fatalf("QoS 0 has a queue of its own: %v", err)
	}
}
