package broker

import (
	"context"
	"fmt"

	"github.com/outpost-iot/outpost/internal/mqtt/packet"
)

// AsyncPublisher is an optional Handler capability. A handler that implements it receives
// inbound PUBLISHes without the read goroutine waiting for each one, so that a client with
// several QoS 1 messages in flight has them all handed over at once (the application can then
// make them durable in one group commit). The broker still sends PUBACKs in the order the
// PUBLISHes arrived [MQTT-4.6.0-2], each only after its done reported success; a done with an
// error closes the connection without that PUBACK. At most MaxInboundInflight publishes wait
// for done per connection; beyond that the broker stops reading (back-pressure).
type AsyncPublisher interface {
	PublishAsync(ctx context.Context, p *Publish, done func(error))
}

// pendingAck is an inbound publish waiting for its handler's verdict.
type pendingAck struct {
	id   uint16
	qos  byte
	done chan error
}

// startAcker starts the ack goroutine for an AsyncPublisher handler; serve waits for it via ackerDone.
func (c *Conn) startAcker() {
	if _, ok := c.handler.(AsyncPublisher); !ok {
		return
	}
	c.acks = make(chan *pendingAck, c.srv.cfg.MaxInboundInflight)
	c.ackerDone = make(chan struct{})
	go c.ackLoop()
}

// ackLoop is the ack goroutine: it waits for each pending publish in arrival order and sends
// its PUBACK. It stops when the connection closes.
func (c *Conn) ackLoop() {
	defer close(c.ackerDone)
	for {
		var pa *pendingAck
		select {
		case <-c.ctx.Done():
			return
		case pa = <-c.acks:
		}
		select {
		case <-c.ctx.Done():
			return
		case err := <-pa.done:
			if err != nil {
				c.Close(fmt.Errorf("broker: publish refused by handler: %w", err))
				return
			}
		}
		if pa.qos == 1 {
			if err := c.send(&packet.Puback{PacketID: pa.id}); err != nil {
				return
			}
		}
	}
}

// inboundAsync hands a publish to an AsyncPublisher after reserving its place in the ack order.
func (c *Conn) inboundAsync(ap AsyncPublisher, pub *Publish) error {
	pa := &pendingAck{id: pub.PacketID, qos: pub.QoS, done: make(chan error, 1)}
	select {
	case c.acks <- pa:
	case <-c.ctx.Done():
		return context.Cause(c.ctx)
	}
	ap.PublishAsync(c.ctx, pub, func(err error) { pa.done <- err })
	return nil
}
