// Package message is Outpost's model of an IoT Hub message (device-to-cloud,
// cloud-to-device and module-to-module): a body, system properties keyed by
// edgeHub's internal names (IOTEDGE-REFERENCE §1.6) and application
// properties. It imports only the standard library.
package message

import "maps"

// Message is a D2C/C2D/module message in IoT Hub's model.
type Message struct {
	Body       []byte
	System     map[string]string // system properties, keyed by the names below
	Properties map[string]string // application properties
}

// System property names (edgeHub internal names, IOTEDGE-REFERENCE §1.6).
const (
	MessageID          = "messageId"
	CorrelationID      = "cid"
	UserID             = "userId"
	To                 = "to"
	ExpiryTime         = "absolute-expiry-time"
	ContentType        = "contentType"
	ContentEncoding    = "contentEncoding"
	CreationTime       = "creationTime"
	MessageSchema      = "messageSchema"
	OutputName         = "outputName"
	ConnectionDeviceID = "connectionDeviceId"
	ConnectionModuleID = "connectionModuleId"
	InterfaceID        = "iothub-interface-id"
	ComponentName      = "dt-subject"
	Operation          = "operation"
	Ack                = "ack"
	DiagID             = "diagid"
	DiagContext        = "diagctx"
)

// MaxSize is the largest message IoT Hub and edgeHub accept, in bytes as
// counted by Size (§1.9).
const MaxSize = 262144

// New returns a message with the given body and empty, non-nil property maps.
func New(body []byte) *Message {
	return &Message{Body: body, System: map[string]string{}, Properties: map[string]string{}}
}

// Clone returns a deep copy of m; the copy's maps are never nil.
func (m *Message) Clone() *Message {
	c := &Message{System: maps.Clone(m.System), Properties: maps.Clone(m.Properties)}
	if m.Body != nil {
		c.Body = append([]byte(nil), m.Body...)
	}
	if c.System == nil {
		c.System = map[string]string{}
	}
	if c.Properties == nil {
		c.Properties = map[string]string{}
	}
	return c
}

// Size counts body + len(key)+len(value) of system and application properties
// (§1.9, edgeHub's rule, which is stricter than IoT Hub's).
func (m *Message) Size() int {
	n := len(m.Body)
	for k, v := range m.System {
		n += len(k) + len(v)
	}
	for k, v := range m.Properties {
		n += len(k) + len(v)
	}
	return n
}
