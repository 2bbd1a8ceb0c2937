package broker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/outpost-iot/outpost/internal/mqtt/packet"
)

// ctrlCap is how many acks (PUBACK, SUBACK, UNSUBACK, PINGRESP) may wait for the
// write goroutine; beyond it the read goroutine waits, so a client that does not read
// its acks stops being read.
const ctrlCap = 16

// outbound holds the queues between senders and the write goroutine. The queues are
// slices, empty (nil) on an idle connection; the write goroutine runs, with a pooled
// write buffer, only while something is writable (D4).
type outbound struct {
	maxInflight int // Config.MaxInflight: QoS 1 publishes written and not yet acknowledged (D9)
	maxQueue    int // Config.OutboundQueue: unwritten publishes per QoS (D5)

	mu       sync.Mutex    // guards the following
	ended    error         // set by end: the connection is over, publishes are refused
	ctrl     []ctrlPacket  // acks; pushCtrl waits while ctrlCap are queued, pushAck does not
	q1       []*delivery   // QoS 1 publishes not yet written, in PublishAsync order
	q1Bytes  int           // bytes queued in q1
	q0       []*delivery   // QoS 0 publishes not yet written
	q0Bytes  int           // bytes queued in q0
	ctrlFree chan struct{} // closed when ctrl has room again; nil when nobody waits
	nextID   uint16
	inflight map[uint16]*delivery // written QoS 1 publishes by packet id, until PUBACK
}

// ctrlPacket is a queued ack; slot marks the PUBACK of an inbound publish whose
// MaxInboundInflight slot is released once the write goroutine takes it.
type ctrlPacket struct {
	b    []byte
	slot bool
}

// delivery is one outbound PUBLISH from PublishAsync until its done is called. It is in
// exactly one of q1, q0, inflight or the write goroutine's hands; whoever takes it out
// for the last time calls complete, so done runs exactly once.
type delivery struct {
	b    []byte
	idAt int // offset of the packet identifier in b (QoS 1)
	qos  byte
	done func(error)
	stop func() bool // stops the ctx watch; nil when none; guarded by outbound.mu
	over bool        // completed; guarded by outbound.mu
}

func newOutbound(cfg Config) outbound {
	return outbound{maxInflight: cfg.MaxInflight, maxQueue: cfg.OutboundQueue, inflight: map[uint16]*delivery{}}
}

// complete ends d's ctx watch and calls its done with err; d must have been taken out
// of its queue or window by the caller, so that only one caller completes it.
func (o *outbound) complete(d *delivery, err error) {
	o.mu.Lock()
	d.over = true
	stop := d.stop
	d.stop = nil
	o.mu.Unlock()
	if stop != nil {
		stop()
	}
	d.done(err)
}

// pushCtrl queues an ack, or returns a channel closed once there is room.
func (o *outbound) pushCtrl(b []byte) (wait <-chan struct{}) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.ctrl) < ctrlCap {
		o.ctrl = append(o.ctrl, ctrlPacket{b: b})
		return nil
	}
	if o.ctrlFree == nil {
		o.ctrlFree = make(chan struct{})
	}
	return o.ctrlFree
}

// pushAck queues the PUBACK of an inbound publish's verdict; it does not wait: the
// publish's MaxInboundInflight slot, released when the PUBACK is taken to be written,
// bounds these instead.
func (o *outbound) pushAck(b []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ctrl = append(o.ctrl, ctrlPacket{b: b, slot: true})
}

// enqueue queues d behind the unwritten publishes of its QoS, or refuses it: the
// connection ended, or OutboundQueue publishes or maxQueuedBytes bytes of that QoS
// wait already (ErrQueueFull, D5); a publish finding its queue empty is taken whatever
// its size.
func (o *outbound) enqueue(d *delivery) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ended != nil {
		return o.ended
	}
	q, n := &o.q0, &o.q0Bytes
	if d.qos == 1 {
		q, n = &o.q1, &o.q1Bytes
	}
	if len(*q) >= o.maxQueue || len(*q) > 0 && *n+len(d.b) > maxQueuedBytes {
		return ErrQueueFull
	}
	*q = append(*q, d)
	*n += len(d.b)
	return nil
}

// watch registers stop, which ends d's ctx watch, unless d is already done.
func (o *outbound) watch(d *delivery, stop func() bool) {
	o.mu.Lock()
	over := d.over
	if !over {
		d.stop = stop
	}
	o.mu.Unlock()
	if over {
		stop()
	}
}

// withdraw removes d if it is still unwritten and reports whether it did; the caller
// then completes it.
func (o *outbound) withdraw(d *delivery) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	q, n := &o.q0, &o.q0Bytes
	if d.qos == 1 {
		q, n = &o.q1, &o.q1Bytes
	}
	i := slices.Index(*q, d)
	if i < 0 {
		return false
	}
	*q = slices.Delete(*q, i, i+1)
	if len(*q) == 0 {
		*q = nil
	}
	*n -= len(d.b)
	return true
}

// writableLocked reports whether pop would return a packet.
func (o *outbound) writableLocked() bool {
	return len(o.ctrl) > 0 || len(o.q0) > 0 || len(o.q1) > 0 && len(o.inflight) < o.maxInflight
}

// written is what pop hands the write goroutine: the bytes, whether they release an
// inbound slot, and the QoS 0 delivery to finish once flushed.
type written struct {
	b    []byte
	slot bool
	q0   *delivery
}

// pop returns the next packet to write, acks first, then QoS 1 while the inflight window
// has room (the publish gets its packet id and enters the window), then QoS 0, and
// whether more are writable; a zero written when nothing is.
func (o *outbound) pop() (w written, more bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case len(o.ctrl) > 0:
		var c ctrlPacket
		c, o.ctrl = popFront(o.ctrl)
		w = written{b: c.b, slot: c.slot}
		if o.ctrlFree != nil {
			close(o.ctrlFree)
			o.ctrlFree = nil
		}
	case len(o.q1) > 0 && len(o.inflight) < o.maxInflight:
		var d *delivery
		d, o.q1 = popFront(o.q1)
		o.q1Bytes -= len(d.b)
		id := o.allocateLocked()
		d.b[d.idAt], d.b[d.idAt+1] = byte(id>>8), byte(id)
		o.inflight[id] = d
		w = written{b: d.b}
	case len(o.q0) > 0:
		var d *delivery
		d, o.q0 = popFront(o.q0)
		o.q0Bytes -= len(d.b)
		w = written{b: d.b, q0: d}
	default:
		return written{}, false
	}
	return w, o.writableLocked()
}

// popFront removes q's first element; an emptied queue drops its array.
func popFront[T any](q []T) (T, []T) {
	v := q[0]
	if len(q) == 1 {
		return v, nil
	}
	var zero T
	q[0] = zero
	return v, q[1:]
}

// idle reports whether nothing is writable (QoS 1 publishes may wait for the window).
func (o *outbound) idle() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return !o.writableLocked()
}

// ack takes the QoS 1 delivery with id out of the window; nil for an unknown id. more
// reports whether publishes wait for the slot it freed.
func (o *outbound) ack(id uint16) (d *delivery, more bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	d, ok := o.inflight[id]
	if !ok {
		return nil, false
	}
	delete(o.inflight, id)
	return d, len(o.q1) > 0
}

// expects reports whether id is an outstanding QoS 1 delivery.
func (o *outbound) expects(id uint16) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, ok := o.inflight[id]
	return ok
}

// allocateLocked returns a free non-zero packet id. Fewer than MaxInflight (at most
// 1024) ids are in use, so the loop ends.
func (o *outbound) allocateLocked() uint16 {
	for {
		o.nextID++
		if _, used := o.inflight[o.nextID]; o.nextID != 0 && !used {
			return o.nextID
		}
	}
}

// end refuses further publishes with err and takes out every queued and unacknowledged
// one, which the caller completes.
func (o *outbound) end(err error) []*delivery {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ended = err
	ds := make([]*delivery, 0, len(o.q1)+len(o.q0)+len(o.inflight))
	for _, d := range o.inflight {
		ds = append(ds, d)
	}
	ds = append(append(ds, o.q1...), o.q0...)
	o.q1, o.q0, o.q1Bytes, o.q0Bytes = nil, nil, 0, 0
	clear(o.inflight)
	return ds
}

// PublishAsync sends p to the client without waiting and calls done exactly once: for
// QoS 1 when the client's PUBACK arrives, for QoS 0 once the PUBLISH was written, and
// with an error if it was refused, withdrawn or the connection ended first. The broker
// assigns the packet identifier (p.PacketID is ignored) and copies what it needs: p is
// not retained. p.Dup is sent for QoS 1, to be set when the message is sent again, to a
// resumed session or after an unanswered attempt [MQTT-3.3.1-1]; it is never sent for
// QoS 0 [MQTT-3.3.1-2].
//
// Order: publishes of one QoS are written in PublishAsync order [MQTT-4.6.0-5]; acks go
// first, then QoS 1, then QoS 0.
//
// Back-pressure: at most Config.MaxInflight QoS 1 publishes are written and awaiting
// their PUBACK (D9); further ones wait, unwritten, in the connection's queue. Each QoS
// has a queue of at most Config.OutboundQueue publishes and 4 MiB (one publish is always
// taken); a publish that finds its queue full is refused at once with ErrQueueFull (D5).
// So PublishAsync never blocks, and a caller that keeps at most MaxInflight+OutboundQueue
// QoS 1 publishes outstanding, and their unwritten bytes under 4 MiB, is never refused
// for room.
//
// Withdrawal: when ctx ends before the PUBLISH was written, it is removed from the queue
// and never sent, and done gets ctx's error. Once written, ctx no longer matters: the
// publish holds its packet id and window slot until the PUBACK or the end of the
// connection.
//
// done may run before PublishAsync returns (a refusal), or on one of the connection's
// goroutines; it must not block, and may call PublishAsync again.
func (c *Conn) PublishAsync(ctx context.Context, p *Publish, done func(error)) {
	d, err := c.newDelivery(p, done)
	if err != nil {
		done(fmt.Errorf("broker: publish to %q: %w", c.clientID, err))
		return
	}
	if err := ctx.Err(); err != nil {
		done(fmt.Errorf("broker: publish to %q: %w", c.clientID, err))
		return
	}
	if c.ctx.Err() != nil { // closing: refused now rather than when the read goroutine ends
		done(fmt.Errorf("broker: publish to %q: %w", c.clientID, ErrConnClosed))
		return
	}
	if err := c.out.enqueue(d); err != nil {
		c.refused(d, err)
		return
	}
	c.startWriter()
	if ctx.Done() != nil {
		c.out.watch(d, context.AfterFunc(ctx, func() { c.withdraw(d, ctx.Err()) }))
	}
}

// newDelivery checks and encodes p; a QoS 1 packet id is filled in when it is written.
func (c *Conn) newDelivery(p *Publish, done func(error)) (*delivery, error) {
	if p.QoS > 1 {
		return nil, fmt.Errorf("qos %d not supported", p.QoS)
	}
	if !packet.ValidTopicName(p.Topic) {
		return nil, errors.New("invalid topic name")
	}
	wire := &packet.Publish{Topic: p.Topic, Payload: p.Payload, QoS: p.QoS, Retain: p.Retain, Dup: p.Dup && p.QoS == 1}
	if p.QoS == 1 {
		wire.PacketID = 1 // a placeholder: pop assigns the id
	}
	b, err := packet.Encode(wire)
	if err != nil {
		return nil, err
	}
	return &delivery{b: b, idAt: len(b) - len(p.Payload) - 2, qos: p.QoS, done: done}, nil
}

// refused reports a publish enqueue refused: the connection ended or its queue is full.
func (c *Conn) refused(d *delivery, err error) {
	if errors.Is(err, ErrQueueFull) {
		if d.qos == 0 {
			c.srv.cfg.Metrics.DroppedQoS0()
		}
		c.log.logAttrs(slog.LevelDebug, "mqtt publish refused, outbound queue full", "client_id", c.clientID, "qos", d.qos)
	}
	d.done(fmt.Errorf("broker: publish to %q: %w", c.clientID, err))
}

// withdraw finishes d with err (ctx's) unless it was written already.
func (c *Conn) withdraw(d *delivery, err error) {
	if c.out.withdraw(d) {
		c.out.complete(d, fmt.Errorf("broker: publish to %q withdrawn before it was sent: %w", c.clientID, err))
	}
}

// acked completes the QoS 1 delivery the client's PUBACK names; unknown ids are ignored.
func (c *Conn) acked(id uint16) {
	d, more := c.out.ack(id)
	if d == nil {
		return
	}
	if more {
		c.startWriter()
	}
	c.out.complete(d, nil)
}

// endPublishes finishes every outstanding publish once the connection has ended and the
// write goroutine is gone; later publishes are refused at once.
func (c *Conn) endPublishes(reason error) {
	err := ErrConnClosed
	if !errors.Is(reason, ErrConnClosed) {
		err = fmt.Errorf("%w: %w", ErrConnClosed, reason)
	}
	for _, d := range c.out.end(err) {
		c.out.complete(d, fmt.Errorf("broker: publish to %q: %w", c.clientID, err))
	}
}

// Publish sends a PUBLISH to the client: PublishAsync waited for. QoS 0 returns once
// queued (refusals are reported before PublishAsync returns), or dropped with
// ErrQueueFull when the queue is full (D5); a queued one is sent whatever ctx does
// afterwards (callers cancel their ctx on return). QoS 1 waits for the PUBACK (D9); when
// ctx ends first Publish returns its error, and a PUBLISH not yet written is withdrawn,
// one written stays in the window until its PUBACK or the end of the connection.
func (c *Conn) Publish(ctx context.Context, topic string, payload []byte, qos byte) error {
	p := &Publish{Topic: topic, Payload: payload, QoS: qos}
	if qos == 0 {
		result := make(chan error, 1)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("broker: publish to %q: %w", c.clientID, err)
		}
		c.PublishAsync(context.WithoutCancel(ctx), p, func(err error) { result <- err })
		select {
		case err := <-result:
			return err
		default:
			return nil // queued
		}
	}
	return c.PublishWait(ctx, p)
}

// PublishWait is PublishAsync waited for: it returns done's error, or ctx's when ctx
// ends first (a PUBLISH not yet written is then withdrawn; one written stays in the
// window until its PUBACK or the end of the connection).
func (c *Conn) PublishWait(ctx context.Context, p *Publish) error {
	result := make(chan error, 1)
	c.PublishAsync(ctx, p, func(err error) { result <- err })
	select {
	case err := <-result:
		return err
	case <-ctx.Done():
		return fmt.Errorf("broker: publish to %q: %w", c.clientID, ctx.Err())
	}
}

// writeLoop is the write goroutine, started by the first packet queued on an idle
// connection: it writes acks first, then QoS 1, then QoS 0, flushes when nothing else
// is writable and returns, with its buffer to the pool, once nothing is or the
// connection is closed. QoS 0 publishes are finished once flushed.
func (c *Conn) writeLoop() {
	w := writerPool.Get().(*bufio.Writer)
	w.Reset(c.nc)
	var flushed []*delivery // QoS 0 publishes written since the last flush
	defer func() {
		w.Reset(nil)
		writerPool.Put(w)
		c.completeAll(flushed, fmt.Errorf("broker: publish to %q: %w", c.clientID, ErrConnClosed))
	}()
	for c.ctx.Err() == nil {
		p, more := c.out.pop()
		if p.b == nil {
			if c.writer.tryExit(c.out.idle) {
				return
			}
			continue
		}
		if p.slot {
			<-c.ackSlots
		}
		err := c.write(w, p.b, more)
		if p.q0 != nil {
			flushed = append(flushed, p.q0)
		}
		if err != nil {
			c.Close(err)
			return
		}
		if !more {
			c.completeAll(flushed, nil)
			flushed = flushed[:0]
		}
	}
}

// completeAll completes the QoS 0 publishes the write goroutine took from the queue.
func (c *Conn) completeAll(ds []*delivery, err error) {
	for _, d := range ds {
		c.out.complete(d, err)
	}
}

// startWriter launches the write goroutine for packets just queued, unless it runs.
// The goroutine is started from here rather than by a func handed to the worker, so
// that queueing a packet to a running writer allocates nothing.
func (c *Conn) startWriter() {
	if c.writer.begin() {
		go func() {
			defer c.writer.wg.Done()
			c.writeLoop()
		}()
	}
}

// writerPool holds the write buffers of connections that have nothing to write.
var writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 8<<10) }}

// write writes b within WriteTimeout and flushes unless more packets are queued.
func (c *Conn) write(w *bufio.Writer, b []byte, more bool) error {
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
	if _, err := w.Write(b); err != nil {
		return writeErr(err)
	}
	if more {
		return nil
	}
	return writeErr(w.Flush())
}

func writeErr(err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("broker: write: %w", err)
}
