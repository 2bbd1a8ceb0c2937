package broker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outpost-iot/outpost/internal/mqtt/packet"
)

// outbound holds the queues between senders and the write goroutine.
type outbound struct {
	ctrl    chan []byte   // acks from the read goroutine; the read goroutine blocks when full
	q1      chan []byte   // QoS 1 publishes; never more than MaxInflight thanks to sem
	q0      chan []byte   // QoS 0 publishes; dropped when full (D5)
	q0Bytes atomic.Int64  // bytes queued in q0
	sem     chan struct{} // QoS 1 inflight window (D9)

	mu      sync.Mutex // guards the following
	nextID  uint16
	pending map[uint16]chan struct{} // packet id -> closed on PUBACK
}

func newOutbound(cfg Config) outbound {
	return outbound{
		ctrl:    make(chan []byte, 16),
		q1:      make(chan []byte, cfg.MaxInflight),
		q0:      make(chan []byte, cfg.OutboundQueue),
		sem:     make(chan struct{}, cfg.MaxInflight),
		pending: map[uint16]chan struct{}{},
	}
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
	if c.out.q0Bytes.Add(int64(len(b))) <= maxQueuedBytes {
		select {
		case c.out.q0 <- b:
			return nil
		default:
		}
	}
	c.out.q0Bytes.Add(-int64(len(b)))
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
	c.out.q1 <- b // never blocks: at most MaxInflight holders of sem
	select {
	case <-acked:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("broker: publish to %q: wait for PUBACK: %w", c.clientID, ctx.Err())
	case <-c.ctx.Done():
		return fmt.Errorf("broker: publish to %q: %w", c.clientID, ErrConnClosed)
	}
}

// startWriter starts the write goroutine; serve waits for it via writerDone.
func (c *Conn) startWriter() {
	c.writerDone = make(chan struct{})
	go c.writeLoop()
}

// writeLoop is the write goroutine: acks first, then QoS 1, then QoS 0; it
// flushes when nothing else is queued and stops when the connection closes.
func (c *Conn) writeLoop() {
	defer close(c.writerDone)
	w := bufio.NewWriterSize(c.nc, 8<<10)
	for {
		b, ok := c.next()
		if !ok {
			return
		}
		if err := c.write(w, b); err != nil {
			c.Close(err)
			return
		}
	}
}

// next returns the next packet to write, preferring acks; false when closed.
func (c *Conn) next() ([]byte, bool) {
	select {
	case b := <-c.out.ctrl:
		return b, true
	default:
	}
	select {
	case b := <-c.out.ctrl:
		return b, true
	case b := <-c.out.q1:
		return b, true
	case b := <-c.out.q0:
		c.out.q0Bytes.Add(-int64(len(b)))
		return b, true
	case <-c.ctx.Done():
		return nil, false
	}
}

func (c *Conn) write(w *bufio.Writer, b []byte) error {
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
	if _, err := w.Write(b); err != nil {
		return writeErr(err)
	}
	if len(c.out.ctrl)+len(c.out.q1)+len(c.out.q0) > 0 {
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
