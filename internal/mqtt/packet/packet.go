package packet

import (
	"errors"
	"fmt"
)

// Type is an MQTT control packet type (the high nibble of the first byte).
type Type byte

// Control packet types [MQTT-2.2.1].
const (
	CONNECT     Type = 1
	CONNACK     Type = 2
	PUBLISH     Type = 3
	PUBACK      Type = 4
	PUBREC      Type = 5
	PUBREL      Type = 6
	PUBCOMP     Type = 7
	SUBSCRIBE   Type = 8
	SUBACK      Type = 9
	UNSUBSCRIBE Type = 10
	UNSUBACK    Type = 11
	PINGREQ     Type = 12
	PINGRESP    Type = 13
	DISCONNECT  Type = 14
)

var typeNames = [...]string{"RESERVED0", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL",
	"PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "RESERVED15"}

// String returns the packet type name.
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(%d)", byte(t))
}

// FromClient reports whether a client may send packets of type t to a server.
// CONNACK, SUBACK, UNSUBACK and PINGRESP are server-only [MQTT-2.2.1].
func (t Type) FromClient() bool {
	switch t {
	case CONNACK, SUBACK, UNSUBACK, PINGRESP:
		return false
	}
	return t >= CONNECT && t <= DISCONNECT
}

// MaxRemainingLength is the largest remaining length the 4-byte varint can carry [MQTT-2.2.3].
const MaxRemainingLength = 268435455

// CONNACK return codes [MQTT-3.2.2.3].
const (
	Accepted                   byte = 0
	RefusedProtocolVersion     byte = 1
	RefusedIdentifierRejected  byte = 2
	RefusedServerUnavailable   byte = 3
	RefusedBadUsernamePassword byte = 4
	RefusedNotAuthorized       byte = 5
)

// SubackFailure is the SUBACK return code refusing a subscription [MQTT-3.9.3].
const SubackFailure byte = 0x80

// Decoder error kinds. Every decode error wraps exactly one of them.
var (
	// ErrMalformed: the bytes do not form a valid packet (bad lengths, bad UTF-8, bad flags).
	ErrMalformed = errors.New("malformed packet")
	// ErrProtocol: a well-formed packet that violates the protocol (bad topic, missing filters).
	ErrProtocol = errors.New("protocol violation")
	// ErrTooLarge: the declared remaining length exceeds the configured maximum.
	ErrTooLarge = errors.New("packet too large")
	// ErrProtocolLevel: a CONNECT with protocol level other than 4; the server answers
	// CONNACK 0x01 and closes [MQTT-3.1.2-2]. ProtocolLevelError carries the level.
	ErrProtocolLevel = errors.New("unsupported protocol level")
)

// Error is a decode error: a kind (one of the Err* sentinels), the packet type when known,
// and a human-readable detail that never contains payload bytes.
type Error struct {
	Kind   error
	Packet Type // 0 when the fixed header was not decoded
	Detail string
}

func (e *Error) Error() string {
	if e.Packet != 0 {
		return "packet: " + e.Kind.Error() + ": " + e.Packet.String() + ": " + e.Detail
	}
	return "packet: " + e.Kind.Error() + ": " + e.Detail
}

// Unwrap returns the error kind.
func (e *Error) Unwrap() error { return e.Kind }

// ProtocolLevelError reports a CONNECT whose protocol level is not 4. It wraps ErrProtocolLevel.
type ProtocolLevelError struct{ Level byte }

func (e *ProtocolLevelError) Error() string {
	return fmt.Sprintf("packet: unsupported protocol level %d", e.Level)
}

// Unwrap returns ErrProtocolLevel.
func (e *ProtocolLevelError) Unwrap() error { return ErrProtocolLevel }

// Reason returns a short fixed label for err, suited to a metric label:
// "malformed", "protocol", "too_large", "protocol_level", or "other".
func Reason(err error) string {
	switch {
	case errors.Is(err, ErrMalformed):
		return "malformed"
	case errors.Is(err, ErrProtocol):
		return "protocol"
	case errors.Is(err, ErrTooLarge):
		return "too_large"
	case errors.Is(err, ErrProtocolLevel):
		return "protocol_level"
	}
	return "other"
}

func malformed(t Type, detail string) error {
	return &Error{Kind: ErrMalformed, Packet: t, Detail: detail}
}
func violation(t Type, detail string) error {
	return &Error{Kind: ErrProtocol, Packet: t, Detail: detail}
}

// Packet is one decoded MQTT control packet.
type Packet interface {
	// Type returns the control packet type.
	Type() Type
	// Append appends the packet's wire encoding to dst. It fails when a field
	// cannot be encoded (string over 65,535 bytes, remaining length over the maximum).
	Append(dst []byte) ([]byte, error)
}

// Encode returns the wire encoding of p.
func Encode(p Packet) ([]byte, error) { return p.Append(nil) }

// Will is the will message carried by CONNECT.
type Will struct {
	Topic   string
	Message []byte
	QoS     byte
	Retain  bool
}

// Connect is a CONNECT packet [MQTT-3.1].
type Connect struct {
	ProtocolName  string // "MQTT"
	ProtocolLevel byte   // 4
	CleanSession  bool
	KeepAlive     uint16
	ClientID      string
	Will          *Will // nil when the will flag is clear
	HasUsername   bool
	Username      string
	HasPassword   bool
	Password      []byte
}

// Connack is a CONNACK packet [MQTT-3.2].
type Connack struct {
	SessionPresent bool
	ReturnCode     byte
}

// Publish is a PUBLISH packet [MQTT-3.3].
type Publish struct {
	Dup      bool
	QoS      byte
	Retain   bool
	Topic    string
	PacketID uint16 // 0 for QoS 0
	Payload  []byte
}

// Puback is a PUBACK packet [MQTT-3.4].
type Puback struct{ PacketID uint16 }

// Pubrec is a PUBREC packet [MQTT-3.5] (QoS 2; decoded only to be refused).
type Pubrec struct{ PacketID uint16 }

// Pubrel is a PUBREL packet [MQTT-3.6] (QoS 2; decoded only to be refused).
type Pubrel struct{ PacketID uint16 }

// Pubcomp is a PUBCOMP packet [MQTT-3.7] (QoS 2; decoded only to be refused).
type Pubcomp struct{ PacketID uint16 }

// Subscription is one topic filter and requested QoS in a SUBSCRIBE.
type Subscription struct {
	Filter string
	QoS    byte
}

// Subscribe is a SUBSCRIBE packet [MQTT-3.8].
type Subscribe struct {
	PacketID      uint16
	Subscriptions []Subscription
}

// Suback is a SUBACK packet [MQTT-3.9].
type Suback struct {
	PacketID    uint16
	ReturnCodes []byte // 0, 1, 2 or SubackFailure
}

// Unsubscribe is an UNSUBSCRIBE packet [MQTT-3.10].
type Unsubscribe struct {
	PacketID uint16
	Filters  []string
}

// Unsuback is an UNSUBACK packet [MQTT-3.11].
type Unsuback struct{ PacketID uint16 }

// Pingreq is a PINGREQ packet [MQTT-3.12].
type Pingreq struct{}

// Pingresp is a PINGRESP packet [MQTT-3.13].
type Pingresp struct{}

// Disconnect is a DISCONNECT packet [MQTT-3.14].
type Disconnect struct{}

// Type implements Packet.
func (*Connect) Type() Type { return CONNECT }

// Type implements Packet.
func (*Connack) Type() Type { return CONNACK }

// Type implements Packet.
func (*Publish) Type() Type { return PUBLISH }

// Type implements Packet.
func (*Puback) Type() Type { return PUBACK }

// Type implements Packet.
func (*Pubrec) Type() Type { return PUBREC }

// Type implements Packet.
func (*Pubrel) Type() Type { return PUBREL }

// Type implements Packet.
func (*Pubcomp) Type() Type { return PUBCOMP }

// Type implements Packet.
func (*Subscribe) Type() Type { return SUBSCRIBE }

// Type implements Packet.
func (*Suback) Type() Type { return SUBACK }

// Type implements Packet.
func (*Unsubscribe) Type() Type { return UNSUBSCRIBE }

// Type implements Packet.
func (*Unsuback) Type() Type { return UNSUBACK }

// Type implements Packet.
func (*Pingreq) Type() Type { return PINGREQ }

// Type implements Packet.
func (*Pingresp) Type() Type { return PINGRESP }

// Type implements Packet.
func (*Disconnect) Type() Type { return DISCONNECT }
