package broker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
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
// write buffer, only while something is queued (D4).
type outbound struct {
	sem   chan struct{} // QoS 1 inflight window (D9)
	maxQ0 int           // Config.OutboundQueue

	mu       sync.Mutex    // guards the following
	ctrl     [][]byte      // acks; pushCtrl waits while ctrlCap are queued, pushAck does not
	q1       [][]byte      // QoS 1 publishes; never more than MaxInflight thanks to sem
	q0       [][]byte      // QoS 0 publishes; dropped when full (D5)
	q0Bytes  int           // bytes queued in q0
	ctrlFree chan struct{} // closed when ctrl has room again; nil when nobody waits
	nextID   uint16
	pending  map[uint16]chan struct{} // packet id -> closed on PUBACK
}

func newOutbound(cfg Config) outbound {
	return outbound{
		sem:     make(chan struct{}, cfg.MaxInflight),
		maxQ0:   cfg.OutboundQueue,
		pending: map[uint16]chan struct{}{},
	}
}

// pushCtrl queues an ack, or returns a channel closed once there is room.
func (o *outbound) pushCtrl(b []byte) (wait <-chan struct{}) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.ctrl) < ctrlCap {
		o.ctrl = append(o.ctrl, b)
		return nil
	}
	if o.ctrlFree == nil {
		o.ctrlFree = make(chan struct{})
	}
	return o.ctrlFree
}

// pushAck queues a PUBACK of an AsyncPublisher's verdict; it does not wait, the
// MaxInboundInflight bound of those verdicts bounds the queue instead.
func (o *outbound) pushAck(b []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ctrl = append(o.ctrl, b)
}

func (o *outbound) push1(b []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.q1 = append(o.q1, b)
}

// push0 queues a QoS 0 publish unless OutboundQueue packets or maxQueuedBytes are queued.
func (o *outbound) push0(b []byte) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.q0) >= o.maxQ0 || o.q0Bytes+len(b) > maxQueuedBytes {
		return false
	}
	o.q0 = append(o.q0, b)
	o.q0Bytes += len(b)
	return true
}

// pop returns the next packet to write, acks first, then QoS 1, then QoS 0, and
// whether more are queued; nil when all queues are empty.
func (o *outbound) pop() (b []byte, more bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case len(o.ctrl) > 0:
		b, o.ctrl = popFront(o.ctrl)
		if o.ctrlFree != nil {
			close(o.ctrlFree)
			o.ctrlFree = nil
		}
	case len(o.q1) > 0:
		b, o.q1 = popFront(o.q1)
	case len(o.q0) > 0:
		b, o.q0 = popFront(o.q0)
		o.q0Bytes -= len(b)
	default:
		return nil, false
	}
	return b, len(o.ctrl)+len(o.q1)+len(o.q0) > 0
}

// popFront removes q's first element; an emptied queue drops its array.
func popFront(q [][]byte) ([]byte, [][]byte) {
	b := q[0]
	if len(q) == 1 {
		return b, nil
	}
	q[0] = nil
	return b, q[1:]
}

func (o *outbound) empty() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.ctrl)+len(o.q1)+len(o.q0) == 0
}

// ack completes the QoS 1 delivery with id; unknown ids are ignored.
func (o *outbound) ack(id uint16) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if ch, ok := o.pending[id]; ok {
		close(ch)
		delete(o.pending, id)
	}
}

// expects reports whether id is an outstanding QoS 1 delivery.
func (o *outbound) expects(id uint16) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, ok := o.pending[id]
	return ok
}

// allocate reserves a free non-zero packet id. The caller holds a sem slot, so
// fewer than 1025 ids are in use and the loop ends.
func (o *outbound) allocate() (uint16, chan struct{}) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for {
		o.nextID++
		if _, used := o.pending[o.nextID]; o.nextID != 0 && !used {
			ch := make(chan struct{})
			o.pending[o.nextID] = ch
			return o.nextID, ch
		}
	}
}

func (o *outbound) release(id uint16, ch chan struct{}) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.pending[id] == ch {
		delete(o.pending, id)
	}
}

// Publish sends a PUBLISH to the client. QoS 0 is queued, or dropped with
// ErrQueueFull when the queue is full (D5). QoS 1 waits for a free slot in the
// inflight window, then for the PUBACK (D9); ctx bounds both waits.
// Retransmission with DUP on reconnect is not the broker's job.
func (c *Conn) Publish(ctx context.Context, topic string, payload []byte, qos byte) error {
	if qos > 1 {
		return fmt.Errorf("broker: publish to %q: qos %d not supported", c.clientID, qos)
	}
	if !packet.ValidTopicName(topic) {
		return fmt.Errorf("broker: publish to %q: invalid topic name", c.clientID)
	}
	if c.ctx.Err() != nil {
		return fmt.Errorf("broker: publish to %q: %w", c.clientID, ErrConnClosed)
	}
	if qos == 0 {
		return c.publish0(topic, payload)
	}
	return c.publish1(ctx, topic, payload)
}

func (c *Conn) publish0(topic string, payload []byte) error {
	b, err := packet.Encode(&packet.Publish{Topic: topic, Payload: payload})
	if err != nil {
		return fmt.Errorf("broker: publish to %q: %w", c.clientID, err)
	}
	if c.out.push0(b) {
		c.startWriter()
		return nil
	}
	c.srv.cfg.Metrics.DroppedQoS0()
	c.srv.limited.logAttrs(slog.LevelDebug, "mqtt qos 0 publish dropped", "client_id", c.clientID)
	return fmt.Errorf("broker: publish to %q: %w", c.clientID, ErrQueueFull)
}

func (c *Conn) publish1(ctx context.Context, topic string, payload []byte) error {
	select {
	case c.out.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("broker: publish to %q: wait for inflight slot: %w", c.clientID, ctx.Err())
	case <-c.ctx.Done():
		return fmt.Errorf("broker: publish to %q: %w", c.clientID, ErrConnClosed)
	}
	defer func() { <-c.out.sem }()
	id, acked := c.out.allocate()
	defer c.out.release(id, acked)
	b, err := packet.Encode(&packet.Publish{QoS: 1, Topic: topic, PacketID: id, Payload: payload})
	if err != nil {
		return fmt.Errorf("broker: publish to %q: %w", c.clientID, err)
	}
	c.out.push1(b)
	c.startWriter()
	select {
	case <-acked:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("broker: publish to %q: wait for PUBACK: %w", c.clientID, ctx.Err())
	case <-c.ctx.Done():
		return fmt.Errorf("broker: publish to %q: %w", c.clientID, ErrConnClosed)
	}
}

// writeLoop is the write goroutine, started by the first packet queued on an idle
// connection: it writes acks first, then QoS 1, then QoS 0, flushes when nothing else
// is queued and returns, with its buffer to the pool, once the queues are empty or the
// connection is closed.
func (c *Conn) writeLoop() {
	w := writerPool.Get().(*bufio.Writer)
	w.Reset(c.nc)
	defer func() {
		w.Reset(nil)
		writerPool.Put(w)
	}()
	for c.ctx.Err() == nil {
		b, more := c.out.pop()
		if b == nil {
			if c.writer.tryExit(c.out.empty) {
				return
			}
			continue
		}
		if err := c.write(w, b, more); err != nil {
			c.Close(err)
			return
		}
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
