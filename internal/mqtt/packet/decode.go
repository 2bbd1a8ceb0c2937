package packet

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"unicode/utf8"
)

// checkFlags validates the fixed-header flag bits for type t [MQTT-2.2.2-1], [MQTT-2.2.2-2],
// and the PUBLISH QoS/DUP rules [MQTT-3.3.1-2], [MQTT-3.3.1-4].
func checkFlags(t Type, flags byte) error {
	switch t {
	case 0, 15:
		return malformed(t, "reserved packet type")
	case PUBLISH:
		qos := (flags >> 1) & 3
		if qos == 3 {
			return malformed(t, "qos 3 [MQTT-3.3.1-4]")
		}
		if qos == 0 && flags&8 != 0 {
			return malformed(t, "dup set on qos 0 [MQTT-3.3.1-2]")
		}
	case PUBREL, SUBSCRIBE, UNSUBSCRIBE:
		if flags != 2 {
			return malformed(t, "reserved flags must be 0010 [MQTT-2.2.2-2]")
		}
	default:
		if flags != 0 {
			return malformed(t, "reserved flags must be 0000 [MQTT-2.2.2-2]")
		}
	}
	return nil
}

// Decode decodes one packet from the start of b. It returns the packet and the
// number of bytes consumed. A remaining length above max (or above
// MaxRemainingLength when max <= 0) fails with ErrTooLarge. When b holds only
// part of a packet, Decode fails with ErrMalformed ("truncated").
func Decode(b []byte, max int) (Packet, int, error) {
	if len(b) < 2 {
		return nil, 0, malformed(0, "truncated fixed header")
	}
	t, flags := Type(b[0]>>4), b[0]&0x0f
	if err := checkFlags(t, flags); err != nil {
		return nil, 0, err
	}
	lr := bytes.NewReader(b[1:])
	n, err := readVarint(lr)
	if errors.Is(err, io.EOF) {
		err = malformed(0, "truncated remaining length")
	}
	if err != nil {
		return nil, 0, err
	}
	used := len(b) - 1 - lr.Len()
	if err := checkLength(t, n, max); err != nil {
		return nil, 0, err
	}
	end := 1 + used + n
	if end > len(b) {
		return nil, 0, malformed(t, "truncated body")
	}
	p, err := decodeBody(t, flags, b[1+used:end])
	return p, end, err
}

func checkLength(t Type, n, max int) error {
	if max <= 0 || max > MaxRemainingLength {
		max = MaxRemainingLength
	}
	if n > max {
		return &Error{Kind: ErrTooLarge, Packet: t, Detail: "remaining length over the maximum"}
	}
	return nil
}

// readVarint decodes a remaining length (at most 4 bytes [MQTT-2.2.3]) from r,
// for Decode and Reader alike. Errors from r are returned as they are.
func readVarint(r io.ByteReader) (int, error) {
	n, mult := 0, 1
	for range 4 {
		b, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		n += int(b&0x7f) * mult
		if b&0x80 == 0 {
			return n, nil
		}
		mult *= 128
	}
	return 0, malformed(0, "remaining length longer than 4 bytes")
}

// decodeBody decodes a packet from its type, its fixed-header flags (already
// checked by checkFlags) and its body (the remaining length bytes). The returned
// packet may alias body (PUBLISH payload, will message, password).
func decodeBody(t Type, flags byte, body []byte) (Packet, error) {
	d := &decoder{t: t, b: body}
	p := d.packet(flags)
	if d.err == nil && len(d.b) != 0 {
		d.fail(malformed(t, "trailing bytes"))
	}
	if d.err != nil {
		return nil, d.err
	}
	return p, nil
}

// decoder reads fields from a packet body; the first error sticks and later reads return zero values.
type decoder struct {
	t   Type
	b   []byte
	err error
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

// take reads the next n bytes, which alias the body; when fewer remain it fails with
// detail and returns nil. After an error it returns nil.
func (d *decoder) take(n int, detail string) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b) < n {
		d.fail(malformed(d.t, detail))
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	if v := d.take(1, "truncated"); v != nil {
		return v[0]
	}
	return 0
}

func (d *decoder) uint16() uint16 {
	if v := d.take(2, "truncated"); v != nil {
		return uint16(v[0])<<8 | uint16(v[1])
	}
	return 0
}

// packetID reads a packet identifier, which must be non-zero [MQTT-2.3.1-1].
func (d *decoder) packetID() uint16 {
	id := d.uint16()
	if d.err == nil && id == 0 {
		d.fail(malformed(d.t, "packet identifier 0 [MQTT-2.3.1-1]"))
	}
	return id
}

// binary reads a 2-byte length prefixed byte field; the result aliases the body.
func (d *decoder) binary() []byte {
	n := int(d.uint16())
	return d.take(n, "truncated length-prefixed field")
}

// string reads a UTF-8 encoded string [MQTT-1.5.3].
func (d *decoder) string() string {
	b := d.binary()
	if d.err != nil {
		return ""
	}
	s := string(b)
	if !validUTF8(s) {
		d.fail(malformed(d.t, "invalid UTF-8 string [MQTT-1.5.3-1/2]"))
		return ""
	}
	return s
}

// validUTF8 reports whether s is well-formed UTF-8 without U+0000 [MQTT-1.5.3-1], [MQTT-1.5.3-2].
// Go's decoder already rejects surrogate halves and overlong encodings.
func validUTF8(s string) bool {
	return strings.IndexByte(s, 0) < 0 && utf8.ValidString(s)
}

func (d *decoder) packet(flags byte) Packet {
	switch d.t {
	case CONNECT:
		return d.connect()
	case CONNACK:
		return d.connack()
	case PUBLISH:
		return d.publish(flags)
	case PUBACK:
		return &Puback{PacketID: d.packetID()}
	case PUBREC:
		return &Pubrec{PacketID: d.packetID()}
	case PUBREL:
		return &Pubrel{PacketID: d.packetID()}
	case PUBCOMP:
		return &Pubcomp{PacketID: d.packetID()}
	case SUBSCRIBE:
		return d.subscribe()
	case SUBACK:
		return d.suback()
	case UNSUBSCRIBE:
		return d.unsubscribe()
	case UNSUBACK:
		return &Unsuback{PacketID: d.packetID()}
	case PINGREQ:
		return &Pingreq{}
	case PINGRESP:
		return &Pingresp{}
	case DISCONNECT:
		return &Disconnect{}
	}
	d.fail(malformed(d.t, "reserved packet type"))
	return nil
}

// connect decodes a CONNECT body [MQTT-3.1]. It is long because it follows the
// variable header and payload field by field, checking each "MUST" in order.
func (d *decoder) connect() Packet {
	c := &Connect{ProtocolName: d.string()}
	c.ProtocolLevel = d.byte()
	if d.err != nil {
		return nil
	}
	if c.ProtocolName != "MQTT" && c.ProtocolName != "MQIsdp" {
		d.fail(violation(d.t, "protocol name is not MQTT [MQTT-3.1.2-1]"))
		return nil
	}
	if c.ProtocolLevel != 4 || c.ProtocolName != "MQTT" {
		d.fail(&ProtocolLevelError{Level: c.ProtocolLevel})
		return nil
	}
	flags := d.byte()
	c.KeepAlive = d.uint16()
	if d.err != nil {
		return nil
	}
	if err := checkConnectFlags(flags); err != nil {
		d.fail(err)
		return nil
	}
	c.CleanSession = flags&0x02 != 0
	c.ClientID = d.string()
	if flags&0x04 != 0 {
		w := &Will{QoS: (flags >> 3) & 3, Retain: flags&0x20 != 0}
		w.Topic = d.string()
		w.Message = d.binary()
		if d.err == nil && !isTopicName(w.Topic) {
			d.fail(violation(d.t, "invalid will topic [MQTT-3.1.3-10]"))
		}
		c.Will = w
	}
	if flags&0x80 != 0 {
		c.HasUsername, c.Username = true, d.string()
	}
	if flags&0x40 != 0 {
		c.HasPassword, c.Password = true, d.binary()
	}
	return c
}

// checkConnectFlags validates the CONNECT flags byte [MQTT-3.1.2-3], [MQTT-3.1.2-11..15], [MQTT-3.1.2-22].
func checkConnectFlags(flags byte) error {
	if flags&0x01 != 0 {
		return malformed(CONNECT, "reserved connect flag set [MQTT-3.1.2-3]")
	}
	willQoS := (flags >> 3) & 3
	if flags&0x04 == 0 && (willQoS != 0 || flags&0x20 != 0) {
		return malformed(CONNECT, "will qos or retain without will flag [MQTT-3.1.2-11/13/15]")
	}
	if willQoS == 3 {
		return malformed(CONNECT, "will qos 3 [MQTT-3.1.2-14]")
	}
	if flags&0x80 == 0 && flags&0x40 != 0 {
		return malformed(CONNECT, "password without username [MQTT-3.1.2-22]")
	}
	return nil
}

func (d *decoder) connack() Packet {
	ack, code := d.byte(), d.byte()
	if d.err != nil {
		return nil
	}
	if ack&0xfe != 0 {
		d.fail(malformed(d.t, "reserved acknowledge flags [MQTT-3.2.2.1]"))
	} else if code > RefusedNotAuthorized {
		d.fail(malformed(d.t, "unknown return code"))
	} else if code != 0 && ack != 0 {
		d.fail(malformed(d.t, "session present with refusal [MQTT-3.2.2-4]"))
	}
	return &Connack{SessionPresent: ack == 1, ReturnCode: code}
}

func (d *decoder) publish(flags byte) Packet {
	p := &Publish{Dup: flags&8 != 0, QoS: (flags >> 1) & 3, Retain: flags&1 != 0}
	p.Topic = d.string()
	if d.err == nil && !isTopicName(p.Topic) {
		d.fail(violation(d.t, "invalid topic name [MQTT-3.3.2-2], [MQTT-4.7.3-1]"))
	}
	if p.QoS > 0 {
		p.PacketID = d.packetID()
	}
	if d.err != nil {
		return nil
	}
	p.Payload, d.b = d.b, nil
	return p
}

func (d *decoder) subscribe() Packet {
	s := &Subscribe{PacketID: d.packetID()}
	for d.err == nil && len(d.b) > 0 {
		f := d.filter()
		q := d.byte()
		if d.err == nil && q > 2 {
			d.fail(malformed(d.t, "requested qos byte invalid [MQTT-3.8.3-4]"))
		}
		s.Subscriptions = append(s.Subscriptions, Subscription{Filter: f, QoS: q})
	}
	if d.err == nil && len(s.Subscriptions) == 0 {
		d.fail(violation(d.t, "no topic filters [MQTT-3.8.3-3]"))
	}
	return s
}

func (d *decoder) filter() string {
	f := d.string()
	if d.err == nil && !isTopicFilter(f) {
		d.fail(violation(d.t, "invalid topic filter [MQTT-4.7.1]"))
	}
	return f
}

func (d *decoder) suback() Packet {
	s := &Suback{PacketID: d.packetID()}
	if d.err == nil && len(d.b) == 0 {
		d.fail(malformed(d.t, "no return codes"))
	}
	for _, c := range d.b {
		if c > 2 && c != SubackFailure {
			d.fail(malformed(d.t, "invalid return code [MQTT-3.9.3-2]"))
		}
	}
	s.ReturnCodes, d.b = d.b, nil
	return s
}

func (d *decoder) unsubscribe() Packet {
	u := &Unsubscribe{PacketID: d.packetID()}
	for d.err == nil && len(d.b) > 0 {
		u.Filters = append(u.Filters, d.filter())
	}
	if d.err == nil && len(u.Filters) == 0 {
		d.fail(violation(d.t, "no topic filters [MQTT-3.10.3-2]"))
	}
	return u
}
