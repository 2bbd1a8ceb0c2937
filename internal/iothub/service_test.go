package iothub

import (
	"encoding/json"
	"testing"
	"time"
)

// TestServiceTypes_HubJSON pins the hub's encoding of the service API types, byte for byte as the
// cloud wrote them before they moved here: every member present, null for unset pointers and
// slices, zero times spelled out.
func TestServiceTypes_HubJSON(t *testing.T) {
	at := time.Date(2026, 11, 29, 10, 0, 0, 500, time.UTC)
	for _, tc := range []struct {
		name string
		v    any
		want string
	}{
		{"zero device", Device{}, `{"deviceId":"","generationId":"","etag":"","connectionState":"","status":"",` +
			`"statusReason":null,"connectionStateUpdatedTime":"0001-01-01T00:00:00Z","statusUpdatedTime":"0001-01-01T00:00:00Z",` +
			`"lastActivityTime":"0001-01-01T00:00:00Z","cloudToDeviceMessageCount":0,` +
			`"authentication":{"symmetricKey":null,"x509Thumbprint":null,"type":""},"capabilities":{"iotEdge":false},"parentScopes":null}`},
		{"edge device", Device{DeviceID: "e", Status: "enabled", LastActivityTime: at,
			Authentication: Authentication{Type: AuthSAS, SymmetricKey: &SymmetricKey{PrimaryKey: "p", SecondaryKey: "s"}},
			Capabilities:   Capabilities{IoTEdge: true}, DeviceScope: "ms-azure-iot-edge://e-1", ParentScopes: []string{}},
			`{"deviceId":"e","generationId":"","etag":"","connectionState":"","status":"enabled",` +
				`"statusReason":null,"connectionStateUpdatedTime":"0001-01-01T00:00:00Z","statusUpdatedTime":"0001-01-01T00:00:00Z",` +
				`"lastActivityTime":"2026-11-29T10:00:00.0000005Z","cloudToDeviceMessageCount":0,` +
				`"authentication":{"symmetricKey":{"primaryKey":"p","secondaryKey":"s"},"x509Thumbprint":null,"type":"sas"},` +
				`"capabilities":{"iotEdge":true},"deviceScope":"ms-azure-iot-edge://e-1","parentScopes":[]}`},
		{"x509 module", Module{ModuleID: "m", DeviceID: "d", ManagedBy: "IotEdge", Authentication: Authentication{Type: AuthSelfSigned,
			X509Thumbprint: &X509Thumbprint{PrimaryThumbprint: new("AB")}}},
			`{"moduleId":"m","deviceId":"d","generationId":"","etag":"","managedBy":"IotEdge","connectionState":"",` +
				`"connectionStateUpdatedTime":"0001-01-01T00:00:00Z","lastActivityTime":"0001-01-01T00:00:00Z","cloudToDeviceMessageCount":0,` +
				`"authentication":{"symmetricKey":null,"x509Thumbprint":{"primaryThumbprint":"AB","secondaryThumbprint":null},"type":"selfSigned"}}`},
		{"last scope page", ScopeResult{Devices: []*Device{}, Modules: []*Module{}}, `{"devices":[],"modules":[],"continuationLink":null}`},
		{"method request", MethodRequest{MethodName: "reboot", Payload: json.RawMessage(`null`), ResponseTimeoutInSeconds: new(30), ConnectTimeoutInSeconds: new(0)},
			`{"methodName":"reboot","payload":null,"responseTimeoutInSeconds":30,"connectTimeoutInSeconds":0}`},
		{"method request, default timeouts", MethodRequest{MethodName: "m", Payload: json.RawMessage(`{}`)}, `{"methodName":"m","payload":{}}`},
		{"method result", MethodResult{Status: 200, Payload: json.RawMessage(`{"ok":true}`)}, `{"status":200,"payload":{"ok":true}}`},
		{"event", Event{SequenceNumber: 7, EnqueuedTime: at, DeviceID: "d", SystemProperties: map[string]string{}, BodyBase64: "/wA="},
			`{"sequenceNumber":7,"enqueuedTime":"2026-11-29T10:00:00.0000005Z","deviceId":"d","systemProperties":{},"properties":null,"body":null,"bodyBase64":"/wA="}`},
		{"c2d entry", C2DEntry{MessageID: "m1", EnqueuedTime: at, ExpiryTime: at.Add(time.Hour), State: "Enqueued"},
			`{"messageId":"m1","enqueuedTime":"2026-11-29T10:00:00.0000005Z","expiryTime":"2026-11-29T11:00:00.0000005Z","deliveryCount":0,"state":"Enqueued"}`},
	} {
		b, err := json.Marshal(tc.v)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if string(b) != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, b, tc.want)
		}
	}
}

// TestMethodRequest_AbsentTimeouts: a timeout left out or null decodes as nil (the hub's default),
// an explicit 0 as 0.
func TestMethodRequest_AbsentTimeouts(t *testing.T) {
	var r MethodRequest
	if err := json.Unmarshal([]byte(`{"methodName":"m","payload":1,"responseTimeoutInSeconds":null,"connectTimeoutInSeconds":0}`), &r); err != nil {
		t.Fatal(err)
	}
	if r.ResponseTimeoutInSeconds != nil || r.ConnectTimeoutInSeconds == nil || *r.ConnectTimeoutInSeconds != 0 {
		t.Errorf("timeouts %v, %v: want nil and 0", r.ResponseTimeoutInSeconds, r.ConnectTimeoutInSeconds)
	}
}
