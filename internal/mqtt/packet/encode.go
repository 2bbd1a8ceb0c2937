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

// appendBinary appends a 2-byte length prefixed field [MQTT-1.5.3]; a string is
// appended without first being copied to a []byte.
func appendBinary[T string | []byte](dst []byte, v T) ([]byte, error) {
	if len(v) > 0xffff {
		return dst, fmt.Errorf("%w: field of %d bytes over 65535", errEncode, len(v))
	}
	return append(appendUint16(dst, uint16(len(v))), v...), nil
}

// encoder builds a packet body from length-prefixed fields; the first error
// sticks and later fields are skipped (the mirror of decoder).
type encoder struct {
	b   []byte
	err error
}

func (e *encoder) string(s string) {
	if e.err == nil {
		e.b, e.err = appendBinary(e.b, s)
	}
}

func (e *encoder) binary(b []byte) {
	if e.err == nil {
		e.b, e.err = appendBinary(e.b, b)
	}
}

// finish appends the fixed header and the body to dst, or returns the first field error.
func (e *encoder) finish(dst []byte, first byte) ([]byte, error) {
	if e.err != nil {
		return dst, e.err
	}
	return appendWithBody(dst, first, e.b)
}

// appendIDOnly encodes the 2-byte packets carrying just a packet identifier.
func appendIDOnly(dst []byte, first byte, id uint16) ([]byte, error) {
	return appendUint16(append(dst, first, 2), id), nil
}

// Append implements Packet.
func (c *Connect) Append(dst []byte) ([]byte, error) {
	var e encoder
	e.string(c.ProtocolName)
	e.b = append(e.b, c.ProtocolLevel, c.flags())
	e.b = appendUint16(e.b, c.KeepAlive)
	e.string(c.ClientID)
	if c.Will != nil {
		e.string(c.Will.Topic)
		e.binary(c.Will.Message)
	}
	if c.HasUsername {
		e.string(c.Username)
	}
	if c.HasPassword {
		e.binary(c.Password)
	}
	return e.finish(dst, byte(CONNECT)<<4)
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
	dst, _ = appendBinary(dst, p.Topic) // length checked above
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
	e := encoder{b: appendUint16(nil, s.PacketID)}
	for _, sub := range s.Subscriptions {
		e.string(sub.Filter)
		e.b = append(e.b, sub.QoS)
	}
	return e.finish(dst, byte(SUBSCRIBE)<<4|2)
}

// Append implements Packet.
func (s *Suback) Append(dst []byte) ([]byte, error) {
	body := append(appendUint16(nil, s.PacketID), s.ReturnCodes...)
	return appendWithBody(dst, byte(SUBACK)<<4, body)
}

// Append implements Packet.
func (u *Unsubscribe) Append(dst []byte) ([]byte, error) {
	e := encoder{b: appendUint16(nil, u.PacketID)}
	for _, f := range u.Filters {
		e.string(f)
	}
	return e.finish(dst, byte(UNSUBSCRIBE)<<4|2)
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
