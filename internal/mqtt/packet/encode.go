package packet

import (
	"errors"
	"fmt"
)

// errEncode reports a field that cannot be encoded.
var errEncode = errors.New("packet: encode")

// appendHeader appends the fixed header for a body of n bytes.
func appendHeader(dst []byte, first byte, n int) ([]byte, error) {
	if n > MaxRemainingLength {
		return dst, fmt.Errorf("%w: remaining length %d over the maximum", errEncode, n)
	}
	dst = append(dst, first)
	for {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		dst = append(dst, b)
		if n == 0 {
			return dst, nil
		}
	}
}

func appendUint16(dst []byte, v uint16) []byte { return append(dst, byte(v>>8), byte(v)) }

func appendBinary(dst, b []byte) ([]byte, error) {
	if len(b) > 0xffff {
		return dst, fmt.Errorf("%w: field of %d bytes over 65535", errEncode, len(b))
	}
	return append(appendUint16(dst, uint16(len(b))), b...), nil
}

func appendString(dst []byte, s string) ([]byte, error) { return appendBinary(dst, []byte(s)) }

// appendIDOnly encodes the 2-byte packets carrying just a packet identifier.
func appendIDOnly(dst []byte, first byte, id uint16) ([]byte, error) {
	return appendUint16(append(dst, first, 2), id), nil
}

// Append implements Packet.
func (c *Connect) Append(dst []byte) ([]byte, error) {
	var body []byte
	var err error
	w := func(f func([]byte) ([]byte, error)) {
		if err == nil {
			body, err = f(body)
		}
	}
	w(func(b []byte) ([]byte, error) { return appendString(b, c.ProtocolName) })
	body = append(body, c.ProtocolLevel, c.flags())
	body = appendUint16(body, c.KeepAlive)
	w(func(b []byte) ([]byte, error) { return appendString(b, c.ClientID) })
	if c.Will != nil {
		w(func(b []byte) ([]byte, error) { return appendString(b, c.Will.Topic) })
		w(func(b []byte) ([]byte, error) { return appendBinary(b, c.Will.Message) })
	}
	if c.HasUsername {
		w(func(b []byte) ([]byte, error) { return appendString(b, c.Username) })
	}
	if c.HasPassword {
		w(func(b []byte) ([]byte, error) { return appendBinary(b, c.Password) })
	}
	if err != nil {
		return dst, err
	}
	return appendWithBody(dst, byte(CONNECT)<<4, body)
}

func (c *Connect) flags() byte {
	var f byte
	if c.CleanSession {
		f |= 0x02
	}
	if c.Will != nil {
		f |= 0x04 | (c.Will.QoS&3)<<3
		if c.Will.Retain {
			f |= 0x20
		}
	}
	if c.HasPassword {
		f |= 0x40
	}
	if c.HasUsername {
		f |= 0x80
	}
	return f
}

func appendWithBody(dst []byte, first byte, body []byte) ([]byte, error) {
	dst, err := appendHeader(dst, first, len(body))
	if err != nil {
		return dst, err
	}
	return append(dst, body...), nil
}

// Append implements Packet.
func (c *Connack) Append(dst []byte) ([]byte, error) {
	var ack byte
	if c.SessionPresent {
		ack = 1
	}
	return append(dst, byte(CONNACK)<<4, 2, ack, c.ReturnCode), nil
}

// Append implements Packet.
func (p *Publish) Append(dst []byte) ([]byte, error) {
	first := byte(PUBLISH)<<4 | (p.QoS&3)<<1
	if p.Dup {
		first |= 8
	}
	if p.Retain {
		first |= 1
	}
	if len(p.Topic) > 0xffff {
		return dst, fmt.Errorf("%w: topic of %d bytes over 65535", errEncode, len(p.Topic))
	}
	n := 2 + len(p.Topic) + len(p.Payload)
	if p.QoS > 0 {
		n += 2
	}
	dst, err := appendHeader(dst, first, n)
	if err != nil {
		return dst, err
	}
	dst, _ = appendString(dst, p.Topic)
	if p.QoS > 0 {
		dst = appendUint16(dst, p.PacketID)
	}
	return append(dst, p.Payload...), nil
}

// Append implements Packet.
func (p *Puback) Append(dst []byte) ([]byte, error) {
	return appendIDOnly(dst, byte(PUBACK)<<4, p.PacketID)
}

// Append implements Packet.
func (p *Pubrec) Append(dst []byte) ([]byte, error) {
	return appendIDOnly(dst, byte(PUBREC)<<4, p.PacketID)
}

// Append implements Packet.
func (p *Pubrel) Append(dst []byte) ([]byte, error) {
	return appendIDOnly(dst, byte(PUBREL)<<4|2, p.PacketID)
}

// Append implements Packet.
func (p *Pubcomp) Append(dst []byte) ([]byte, error) {
	return appendIDOnly(dst, byte(PUBCOMP)<<4, p.PacketID)
}

// Append implements Packet.
func (s *Subscribe) Append(dst []byte) ([]byte, error) {
	body := appendUint16(nil, s.PacketID)
	for _, sub := range s.Subscriptions {
		var err error
		if body, err = appendString(body, sub.Filter); err != nil {
			return dst, err
		}
		body = append(body, sub.QoS)
	}
	return appendWithBody(dst, byte(SUBSCRIBE)<<4|2, body)
}

// Append implements Packet.
func (s *Suback) Append(dst []byte) ([]byte, error) {
	body := append(appendUint16(nil, s.PacketID), s.ReturnCodes...)
	return appendWithBody(dst, byte(SUBACK)<<4, body)
}

// Append implements Packet.
func (u *Unsubscribe) Append(dst []byte) ([]byte, error) {
	body := appendUint16(nil, u.PacketID)
	for _, f := range u.Filters {
		var err error
		if body, err = appendString(body, f); err != nil {
			return dst, err
		}
	}
	return appendWithBody(dst, byte(UNSUBSCRIBE)<<4|2, body)
}

// Append implements Packet.
func (u *Unsuback) Append(dst []byte) ([]byte, error) {
	return appendIDOnly(dst, byte(UNSUBACK)<<4, u.PacketID)
}

// Append implements Packet.
func (*Pingreq) Append(dst []byte) ([]byte, error) { return append(dst, byte(PINGREQ)<<4, 0), nil }

// Append implements Packet.
func (*Pingresp) Append(dst []byte) ([]byte, error) { return append(dst, byte(PINGRESP)<<4, 0), nil }

// Append implements Packet.
func (*Disconnect) Append(dst []byte) ([]byte, error) {
	return append(dst, byte(DISCONNECT)<<4, 0), nil
}
