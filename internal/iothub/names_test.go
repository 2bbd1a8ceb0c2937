package iothub

import (
	"testing"

	"github.com/outpost-iot/outpost/internal/message"
)

func TestC2DHeadersRoundTrip(t *testing.T) {
	for sys, h := range C2DHeaders() {
		if got, ok := C2DSystemProperty(h); !ok || got != sys {
			t.Errorf("header %q -> %q %v, want %q", h, got, ok, sys)
		}
	}
	if _, ok := C2DSystemProperty("iothub-to"); ok {
		t.Error("iothub-to accepted: the hub sets the C2D address itself")
	}
}

func TestEventPropertyName(t *testing.T) {
	for sys, want := range map[string]string{message.InterfaceID: "dt-dataschema", message.ConnectionDeviceID: "iothub-connection-device-id", "iothub-enqueuedtime": "iothub-enqueuedtime"} {
		if got := EventPropertyName(sys); got != want {
			t.Errorf("EventPropertyName(%q) = %q, want %q", sys, got, want)
		}
	}
}
