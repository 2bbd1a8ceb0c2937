package iothub

import "github.com/outpost-iot/outpost/internal/message"

// c2dHeaders maps message system properties to the HTTP headers that carry them when a service
// sends a cloud-to-device message over REST (the hub sets "to" itself).
var c2dHeaders = map[string]string{
	message.MessageID:       "iothub-messageid",
	message.CorrelationID:   "iothub-correlationid",
	message.UserID:          "iothub-userid",
	message.Ack:             "iothub-ack",
	message.ContentType:     "iothub-contenttype",
	message.ContentEncoding: "iothub-contentencoding",
}

// c2dSystemByHeader is c2dHeaders inverted.
var c2dSystemByHeader = func() map[string]string {
	m := make(map[string]string, len(c2dHeaders))
	for sys, h := range c2dHeaders {
		m[h] = sys
	}
	return m
}()

// C2DHeaders returns the system properties a service may set on a cloud-to-device message,
// each with the (lower-case) HTTP header that carries it. The caller must not modify the map.
func C2DHeaders() map[string]string { return c2dHeaders }

// C2DSystemProperty returns the system property carried by a lower-case C2D request header.
func C2DSystemProperty(header string) (string, bool) {
	sys, ok := c2dSystemByHeader[header]
	return sys, ok
}

// eventNames maps message system properties to the names consumers of IoT Hub's built-in
// events endpoint see (AMQP properties and iothub-* annotations).
var eventNames = map[string]string{
	message.MessageID:          "message-id",
	message.CorrelationID:      "correlation-id",
	message.UserID:             "user-id",
	message.To:                 "to",
	message.ContentType:        "content-type",
	message.ContentEncoding:    "content-encoding",
	message.ExpiryTime:         "absolute-expiry-time",
	message.CreationTime:       "iothub-creation-time-utc",
	message.ConnectionDeviceID: "iothub-connection-device-id",
	message.ConnectionModuleID: "iothub-connection-module-id",
	message.InterfaceID:        "dt-dataschema",
	message.ComponentName:      "dt-subject",
}

// EventPropertyName returns the name under which an event consumer sees a message system
// property; properties without a built-in-endpoint name keep theirs.
func EventPropertyName(system string) string {
	if n, ok := eventNames[system]; ok {
		return n
	}
	return system
}
