package client

import (
	"context"
	"fmt"

	"github.com/outpost-iot/outpost/internal/mqtt/packet"
)

// PublishAsync sends p (QoS 0 or 1) and returns at once; done is called
// exactly once, on the client's callbacks goroutine, in the order of the
// PublishAsync calls (QoS 0 and 1 alike: a publish completes only after every
// earlier one has, even when its PUBACK comes first):
//
//   - QoS 0: nil once the packet has been written to the connection;
//   - QoS 1: nil once its PUBACK has arrived;
//   - an error when the connection ends first (ErrClosed, or an error wrapping
//     ErrConnectionLost): the server may or may not have the message, so the
//     caller re-sends it on the next connection with p.Dup set [MQTT-4.4.0-1].
//
// done must not block, nor call Close or PublishAsync (it would wait for its own
// goroutine or window). The client assigns the packet identifier (p.PacketID is
// ignored) and copies p, so the caller may reuse it when PublishAsync returns.
//
// Back-pressure: at most Options.Window publishes are pending (handed over and
// done not yet called); while the window is full PublishAsync blocks until a
// slot frees, ctx ends or the connection ends. When PublishAsync returns an
// error (an invalid packet, ctx, the connection already ended) done is not called.
func (c *Client) PublishAsync(ctx context.Context, p *packet.Publish, done func(error)) error {
	buf, err := encodePublish(p)
	if err != nil {
		return err
	}
	idAt := len(buf) - len(p.Payload) - 2 // header, topic, packet identifier, payload
	if done == nil {
		done = func(error) {}
	}
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("mqtt client: publish %q: wait for the window: %w", p.Topic, ctx.Err())
	case <-c.dying:
		return fmt.Errorf("mqtt client: publish %q: %w", p.Topic, c.Err())
	}
	if err := c.queuePublish(p.QoS, buf, idAt, done); err != nil {
		<-c.slots
		return fmt.Errorf("mqtt client: publish %q: %w", p.Topic, err)
	}
	return nil
}

// encodePublish validates and encodes p with packet identifier 0, which
// queuePublish patches in place.
func encodePublish(p *packet.Publish) ([]byte, error) {
	switch {
	case p.QoS > 1:
		return nil, fmt.Errorf("mqtt client: publish %q: qos %d not supported", p.Topic, p.QoS)
	case p.Dup && p.QoS == 0:
		return nil, fmt.Errorf("mqtt client: publish %q: dup on qos 0 [MQTT-3.3.1-2]", p.Topic)
	case !packet.ValidTopicName(p.Topic):
		return nil, fmt.Errorf("mqtt client: publish %q: invalid topic name [MQTT-4.7.3]", p.Topic)
	}
	q := *p
	q.PacketID = 0
	buf, err := q.Append(nil)
	if err != nil {
		return nil, fmt.Errorf("mqtt client: publish %q: %w", p.Topic, err)
	}
	return buf, nil
}

// queuePublish records the publish as pending and queues it for writing, in one
// critical section so that the wire order is the PublishAsync order.
func (c *Client) queuePublish(qos byte, buf []byte, idAt int, done func(error)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	if c.stopping {
		return ErrClosed
	}
	e := &entry{qos: qos, done: done}
	if qos == 1 {
		id, ok := c.allocIDLocked()
		if !ok {
			return ErrNoPacketID
		}
		e.id = id
		c.inflight[id] = e
		buf[idAt], buf[idAt+1] = byte(id>>8), byte(id)
	}
	c.fifo = append(c.fifo, e)
	c.enqueueLocked(outItem{buf: buf, e: e})
	return nil
}

// allocIDLocked returns a packet identifier not held by a pending QoS 1
// publish or (UN)SUBSCRIBE [MQTT-2.3.1-2].
func (c *Client) allocIDLocked() (uint16, bool) {
	for range 65535 {
		c.nextID++
		if c.nextID == 0 {
			c.nextID = 1
		}
		if c.inflight[c.nextID] == nil && c.waiters[c.nextID] == nil {
			return c.nextID, true
		}
	}
	return 0, false
}

// advanceLocked hands the completed publishes at the head of fifo to the
// callbacks goroutine. The send never blocks: every entry in fifo or in
// completions holds one of Window slots (the callbacks goroutine frees a slot
// as it takes an entry out), so completions, of capacity Window, has room.
func (c *Client) advanceLocked() {
	for len(c.fifo) > 0 {
		e := c.fifo[0]
		if !e.acked && (e.qos == 1 || !e.written) {
			break
		}
		c.fifo[0] = nil
		c.fifo = c.fifo[1:]
		c.completions <- e
	}
	if len(c.fifo) == 0 && c.drained != nil {
		close(c.drained)
		c.drained = nil
	}
}

// callbackLoop calls the done functions in order; it returns when supervise
// closes completions.
func (c *Client) callbackLoop() {
	defer close(c.callbacks)
	for e := range c.completions {
		<-c.slots
		e.done(e.err)
	}
}

// Subscribe sends one SUBSCRIBE and returns the SUBACK's return codes, one per
// subscription in order: the granted QoS or packet.SubackFailure. QoS 2 is not
// supported. When ctx ends first the subscription may still take effect.
func (c *Client) Subscribe(ctx context.Context, subs ...packet.Subscription) ([]byte, error) {
	if len(subs) == 0 {
		return nil, fmt.Errorf("mqtt client: subscribe: no filters [MQTT-3.8.3-3]")
	}
	for _, s := range subs {
		if s.QoS > 1 || !packet.ValidTopicFilter(s.Filter) {
			return nil, fmt.Errorf("mqtt client: subscribe %q qos %d: invalid filter or qos", s.Filter, s.QoS)
		}
	}
	p := &packet.Subscribe{Subscriptions: subs}
	ack, err := c.request(ctx, p, &p.PacketID, packet.SUBACK, len(subs))
	if err != nil {
		return nil, fmt.Errorf("mqtt client: subscribe %q: %w", subs[0].Filter, err)
	}
	return ack.(*packet.Suback).ReturnCodes, nil
}

// Unsubscribe sends one UNSUBSCRIBE and waits for its UNSUBACK.
func (c *Client) Unsubscribe(ctx context.Context, filters ...string) error {
	if len(filters) == 0 {
		return fmt.Errorf("mqtt client: unsubscribe: no filters [MQTT-3.10.3-2]")
	}
	for _, f := range filters {
		if !packet.ValidTopicFilter(f) {
			return fmt.Errorf("mqtt client: unsubscribe %q: invalid filter", f)
		}
	}
	p := &packet.Unsubscribe{Filters: filters}
	if _, err := c.request(ctx, p, &p.PacketID, packet.UNSUBACK, len(filters)); err != nil {
		return fmt.Errorf("mqtt client: unsubscribe %q: %w", filters[0], err)
	}
	return nil
}

// request sends p with a fresh packet identifier stored in *id and waits for the
// acknowledgement of type kind.
func (c *Client) request(ctx context.Context, p packet.Packet, id *uint16, kind packet.Type, n int) (packet.Packet, error) {
	w := &waiter{kind: kind, n: n, ch: make(chan packet.Packet, 1)}
	if err := c.queueRequest(p, id, w); err != nil {
		return nil, err
	}
	select {
	case ack := <-w.ch:
		return ack, nil
	case <-ctx.Done():
		return nil, ctx.Err() // the waiter keeps its identifier until the ack comes
	case <-c.dying:
		return nil, c.Err()
	}
}

func (c *Client) queueRequest(p packet.Packet, id *uint16, w *waiter) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	var ok bool
	if *id, ok = c.allocIDLocked(); !ok {
		return ErrNoPacketID
	}
	buf, err := packet.Encode(p)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	c.waiters[*id] = w
	c.enqueueLocked(outItem{buf: buf})
	return nil
}
