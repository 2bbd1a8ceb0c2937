package client

import (
	"bufio"
	"errors"
	"time"

	"github.com/outpost-iot/outpost/internal/mqtt/packet"
)

// readLoop is the read goroutine: it reads packets until the connection ends.
func (c *Client) readLoop(r *packet.Reader) {
	defer c.workers.Done()
	for {
		p, err := r.ReadPacket()
		if err != nil {
			c.fail(c.readError(err))
			return
		}
		if err := c.handle(p); err != nil {
			c.fail(err)
			return
		}
	}
}

func (c *Client) readError(err error) error {
	c.mu.Lock()
	disconnecting := c.disconnecting
	c.mu.Unlock()
	if disconnecting {
		return ErrClosed // the server closes once it has read our DISCONNECT
	}
	var pe *packet.Error
	if errors.As(err, &pe) {
		return lost("%w: %w", ErrProtocol, err)
	}
	return lost("read: %w", err)
}

// handle processes one packet from the server. A packet a server must not send
// ends the connection [MQTT-4.8.0-1].
func (c *Client) handle(p packet.Packet) error {
	switch p := p.(type) {
	case *packet.Publish:
		return c.handlePublish(p)
	case *packet.Puback:
		return c.handlePuback(p.PacketID)
	case *packet.Suback:
		return c.handleAck(p, p.PacketID, len(p.ReturnCodes))
	case *packet.Unsuback:
		return c.handleAck(p, p.PacketID, -1)
	case *packet.Pingresp:
		c.mu.Lock()
		c.pingOutstanding = false
		c.mu.Unlock()
		return nil
	}
	return lost("%w: unexpected %v", ErrProtocol, p.Type())
}

func (c *Client) handlePuback(id uint16) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.inflight[id]
	if e == nil {
		return lost("%w: PUBACK for packet identifier %d not in flight", ErrProtocol, id)
	}
	delete(c.inflight, id)
	e.acked = true
	c.advanceLocked()
	return nil
}

// handleAck completes a SUBSCRIBE (n return codes) or an UNSUBSCRIBE (n < 0).
func (c *Client) handleAck(p packet.Packet, id uint16, n int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.waiters[id]
	if w == nil || w.kind != p.Type() {
		return lost("%w: %v for packet identifier %d not awaited", ErrProtocol, p.Type(), id)
	}
	if n >= 0 && n != w.n {
		return lost("%w: SUBACK with %d return codes for %d filters [MQTT-3.9.3-1]", ErrProtocol, n, w.n)
	}
	delete(c.waiters, id)
	w.ch <- p // capacity 1, one send
	return nil
}

// handlePublish hands an inbound PUBLISH to OnPublish. The decoded payload
// aliases a body buffer of its own (packet.Reader allocates one per packet),
// so it stays valid for the handler.
func (c *Client) handlePublish(p *packet.Publish) error {
	if p.QoS > 1 {
		// We never subscribe with QoS 2, and a server never upgrades [MQTT-3.8.4-6].
		return lost("%w: qos 2 PUBLISH on %q", ErrProtocol, p.Topic)
	}
	ack := func() {}
	if p.QoS == 1 {
		m := &inboundMsg{id: p.PacketID}
		c.mu.Lock()
		c.inbound = append(c.inbound, m)
		c.mu.Unlock()
		ack = func() { c.ackInbound(m) }
	}
	if c.opts.OnPublish == nil {
		ack()
		return nil
	}
	c.opts.OnPublish(p, ack)
	return nil
}

// ackInbound marks m acknowledged and queues the PUBACKs now due, in arrival order.
func (c *Client) ackInbound(m *inboundMsg) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m.acked || c.err != nil {
		return
	}
	m.acked = true
	for len(c.inbound) > 0 && c.inbound[0].acked {
		b, _ := packet.Encode(&packet.Puback{PacketID: c.inbound[0].id}) // four fixed bytes
		c.enqueueLocked(outItem{buf: b})
		c.inbound[0] = nil
		c.inbound = c.inbound[1:]
	}
}

// writeLoop is the write goroutine, the connection's only writer: it writes the
// queue in order and flushes once per batch.
func (c *Client) writeLoop() {
	defer c.workers.Done()
	w := bufio.NewWriterSize(c.conn, 32<<10)
	var batch []outItem
	for {
		select {
		case <-c.wake:
		case <-c.dying:
			return
		}
		c.mu.Lock()
		batch, c.outq = c.outq, batch[:0]
		c.mu.Unlock()
		if err := writeBatch(w, batch); err != nil {
			c.fail(lost("write: %w", err))
			return
		}
		c.lastSent.Store(c.now())
		c.written(batch)
		clear(batch) // drop the references before the slice is reused
	}
}

func writeBatch(w *bufio.Writer, batch []outItem) error {
	for _, o := range batch {
		if _, err := w.Write(o.buf); err != nil {
			return err
		}
	}
	return w.Flush()
}

// written completes the QoS 0 publishes of a flushed batch and wakes Disconnect.
func (c *Client) written(batch []outItem) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, o := range batch {
		if o.e != nil {
			o.e.written = true
		}
		if o.flushed != nil {
			close(o.flushed)
		}
	}
	c.advanceLocked()
}

// keepAliveLoop is the keep-alive goroutine. It sends PINGREQ when nothing has
// been sent for the keep-alive [MQTT-3.1.2-23] or nothing received for it (so a
// client that only sends QoS 0 still hears from a live server), and ends the
// connection when nothing at all has been received for 1.5 x the keep-alive:
// on a half-open link writes still succeed into the socket buffer, so only
// silence can tell (RELIABILITY B2). Times are monotonic (C1).
func (c *Client) keepAliveLoop() {
	defer c.workers.Done()
	k := int64(c.opts.KeepAlive)
	dead := k + k/2
	t := time.NewTimer(c.opts.KeepAlive)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-c.dying:
			return
		}
		now, recv, sent := c.now(), c.lastRecv.Load(), c.lastSent.Load()
		if now-recv >= dead {
			c.fail(lost("%w: nothing received for %v", ErrKeepAliveTimeout, time.Duration(now-recv).Round(time.Millisecond)))
			return
		}
		outstanding := c.pingIfQuiet(now-sent >= k || now-recv >= k)
		next := recv + dead
		if !outstanding {
			next = min(next, min(sent, recv)+k)
		}
		t.Reset(time.Duration(max(next-now, int64(time.Millisecond))))
	}
}

// pingIfQuiet queues a PINGREQ when quiet and none is outstanding; it reports
// whether one is outstanding.
func (c *Client) pingIfQuiet(quiet bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if quiet && !c.pingOutstanding && c.err == nil {
		b, _ := packet.Encode(&packet.Pingreq{}) // two fixed bytes
		c.enqueueLocked(outItem{buf: b})
		c.pingOutstanding = true
	}
	return c.pingOutstanding
}
