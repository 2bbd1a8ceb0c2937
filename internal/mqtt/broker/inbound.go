package broker

import (
	"context"
	"fmt"

	"github.com/outpost-iot/outpost/internal/mqtt/packet"
)

// pendingAck is an inbound publish waiting for its handler's verdict.
type pendingAck struct {
	id   uint16
	qos  byte
	done bool  // the verdict arrived
	err  error // the verdict
}

// inboundAsync hands a publish to the Handler after reserving its place in the ack order;
// the read goroutine waits while MaxInboundInflight publishes await their verdict or the
// writing of their PUBACK.
func (c *Conn) inboundAsync(pub *Publish) error {
	select {
	case c.ackSlots <- struct{}{}:
	case <-c.ctx.Done():
		return context.Cause(c.ctx)
	}
	pa := &pendingAck{id: pub.PacketID, qos: pub.QoS}
	c.ackMu.Lock()
	c.ackQ = append(c.ackQ, pa)
	c.ackMu.Unlock()
	c.handler.PublishAsync(c.ctx, pub, func(err error) { c.verdict(pa, err) })
	return nil
}

// verdict records pa's verdict and queues the PUBACKs of the publishes at the head of
// the ack order that have theirs, in arrival order [MQTT-4.6.0-2]; a refused publish
// closes the connection, and neither it nor any later publish is acknowledged. It runs
// in whatever goroutine the handler calls done from, and never blocks: at most
// MaxInboundInflight PUBACKs are added to the ack queue beyond its ctrlCap, as a QoS 1
// publish keeps its slot until the write goroutine takes its PUBACK, so a client that does
// not read its PUBACKs stops being read.
func (c *Conn) verdict(pa *pendingAck, err error) {
	if err != nil {
		c.Close(fmt.Errorf("broker: publish refused by handler: %w", err))
	}
	c.ackMu.Lock()
	pa.done, pa.err = true, err
	queued := false
	for len(c.ackQ) > 0 && c.ackQ[0].done && c.ackQ[0].err == nil {
		head := c.ackQ[0]
		if len(c.ackQ) == 1 {
			c.ackQ = nil
		} else {
			c.ackQ[0] = nil
			c.ackQ = c.ackQ[1:]
		}
		if head.qos != 1 {
			<-c.ackSlots
			continue
		}
		b, _ := packet.Encode(&packet.Puback{PacketID: head.id}) // a PUBACK always encodes
		c.out.pushAck(b)
		queued = true
	}
	idle := len(c.ackQ) == 0
	c.ackMu.Unlock()
	if queued {
		c.startWriter()
	}
	if idle {
		c.signalAcksIdle()
	}
}

// signalAcksIdle wakes awaitVerdicts once no verdict is outstanding. It runs after the
// PUBACKs just queued have their writer started, so a drain that then stops the writer
// waits for them to be written.
func (c *Conn) signalAcksIdle() {
	c.ackMu.Lock()
	defer c.ackMu.Unlock()
	if len(c.ackQ) == 0 && c.acksIdle != nil {
		close(c.acksIdle)
		c.acksIdle = nil
	}
}

// awaitVerdicts returns once every publish handed to the handler has its verdict (and its
// PUBACK is queued), or when the connection closes.
func (c *Conn) awaitVerdicts() {
	c.ackMu.Lock()
	if len(c.ackQ) == 0 {
		c.ackMu.Unlock()
		return
	}
	if c.acksIdle == nil {
		c.acksIdle = make(chan struct{})
	}
	idle := c.acksIdle
	c.ackMu.Unlock()
	select {
	case <-idle:
	case <-c.ctx.Done():
	}
}
