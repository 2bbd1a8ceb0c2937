package broker

import (
	"fmt"
	"log/slog"
	"slices"

	"github.com/outpost-iot/outpost/internal/mqtt/packet"
)

// subscribe handles SUBSCRIBE: caps, handler decision, persistence, SUBACK.
func (c *Conn) subscribe(p *packet.Subscribe) error {
	codes := make([]byte, len(p.Subscriptions))
	for i, s := range p.Subscriptions {
		codes[i] = c.subscribeOne(s.Filter, s.QoS)
	}
	if err := c.saveSession(); err != nil {
		return err
	}
	return c.send(&packet.Suback{PacketID: p.PacketID, ReturnCodes: codes})
}

// subscribeOne grants at most QoS 1 (QoS 2 is granted 1, IOTEDGE-REFERENCE §1.9)
// and refuses new filters beyond MaxSubscriptions (D11).
func (c *Conn) subscribeOne(filter string, qos byte) byte {
	qos = min(qos, 1)
	c.mu.Lock()
	i := c.indexLocked(filter)
	full := i < 0 && len(c.subs) >= c.srv.cfg.MaxSubscriptions
	c.mu.Unlock()
	if full {
		c.log.logAttrs(slog.LevelInfo, "mqtt subscription limit reached", "client_id", c.clientID)
		return packet.SubackFailure
	}
	granted := c.handler.Subscribe(filter, qos)
	if granted == packet.SubackFailure {
		return granted
	}
	granted = min(granted, qos)
	c.mu.Lock()
	defer c.mu.Unlock()
	if i = c.indexLocked(filter); i >= 0 {
		c.subs[i].QoS = granted // [MQTT-3.8.4-3] replaces the existing subscription
	} else {
		c.subs = append(c.subs, Subscription{Filter: filter, QoS: granted})
	}
	return granted
}

// indexLocked returns the index of filter in c.subs or -1; c.mu must be held.
func (c *Conn) indexLocked(filter string) int {
	return slices.IndexFunc(c.subs, func(s Subscription) bool { return s.Filter == filter })
}

// unsubscribe handles UNSUBSCRIBE [MQTT-3.10.4].
func (c *Conn) unsubscribe(p *packet.Unsubscribe) error {
	for _, f := range p.Filters {
		c.mu.Lock()
		i := c.indexLocked(f)
		if i >= 0 {
			c.subs = slices.Delete(c.subs, i, i+1)
		}
		c.mu.Unlock()
		if i >= 0 {
			c.handler.Unsubscribe(f)
		}
	}
	if err := c.saveSession(); err != nil {
		return err
	}
	return c.send(&packet.Unsuback{PacketID: p.PacketID})
}

// saveSession persists the subscriptions of a CleanSession=0 session.
func (c *Conn) saveSession() error {
	if c.clean {
		return nil
	}
	if err := c.srv.cfg.Sessions.SaveSession(c.clientID, c.Subscriptions()); err != nil {
		return fmt.Errorf("broker: save session %q: %w", c.clientID, err)
	}
	return nil
}
