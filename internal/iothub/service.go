package iothub

import (
	"encoding/json"
	"time"
)

// The JSON of IoT Hub's service API (registry, device scope, methods, events) as a hub writes it:
// every member present, null for what is unset, zero times as "0001-01-01T00:00:00Z", as Azure
// answers and as the SDKs read it (IOTEDGE-REFERENCE §3.5, §9). The cloud serves these and the
// edge hub reads them; a client that must keep what a hub sent byte for byte (hubclient's
// Device and Module, which `outpost device show --json` prints) decodes into its own view.

// Authentication types of devices and modules ("authentication.type").
const (
	AuthSAS                  = "sas"
	AuthSelfSigned           = "selfSigned"
	AuthCertificateAuthority = "certificateAuthority"
	AuthNone                 = "none"
)

// SymmetricKey holds an identity's two SAS keys (base64).
type SymmetricKey struct {
	PrimaryKey   string `json:"primaryKey"`
	SecondaryKey string `json:"secondaryKey"`
}

// X509Thumbprint holds the thumbprints of a self-signed X.509 identity; nil is written as null.
type X509Thumbprint struct {
	PrimaryThumbprint   *string `json:"primaryThumbprint"`
	SecondaryThumbprint *string `json:"secondaryThumbprint"`
}

// Authentication is the authentication mechanism of a device or module.
type Authentication struct {
	SymmetricKey   *SymmetricKey   `json:"symmetricKey"`
	X509Thumbprint *X509Thumbprint `json:"x509Thumbprint"`
	Type           string          `json:"type"`
}

// Capabilities of a device.
type Capabilities struct {
	IoTEdge bool `json:"iotEdge"`
}

// Device is a device identity (IOTEDGE-REFERENCE §3.5).
type Device struct {
	DeviceID                   string         `json:"deviceId"`
	GenerationID               string         `json:"generationId"`
	ETag                       string         `json:"etag"`
	ConnectionState            string         `json:"connectionState"`
	Status                     string         `json:"status"`
	StatusReason               *string        `json:"statusReason"`
	ConnectionStateUpdatedTime time.Time      `json:"connectionStateUpdatedTime"`
	StatusUpdatedTime          time.Time      `json:"statusUpdatedTime"`
	LastActivityTime           time.Time      `json:"lastActivityTime"`
	CloudToDeviceMessageCount  int            `json:"cloudToDeviceMessageCount"`
	Authentication             Authentication `json:"authentication"`
	Capabilities               Capabilities   `json:"capabilities"`
	DeviceScope                string         `json:"deviceScope,omitempty"`
	ParentScopes               []string       `json:"parentScopes"`
}

// Module is a module identity (IOTEDGE-REFERENCE §3.5).
type Module struct {
	ModuleID                   string         `json:"moduleId"`
	DeviceID                   string         `json:"deviceId"`
	GenerationID               string         `json:"generationId"`
	ETag                       string         `json:"etag"`
	ManagedBy                  string         `json:"managedBy,omitempty"`
	ConnectionState            string         `json:"connectionState"`
	ConnectionStateUpdatedTime time.Time      `json:"connectionStateUpdatedTime"`
	LastActivityTime           time.Time      `json:"lastActivityTime"`
	CloudToDeviceMessageCount  int            `json:"cloudToDeviceMessageCount"`
	Authentication             Authentication `json:"authentication"`
}

// ScopeResult is a page of the device-scope API: devicesAndModulesInTargetDeviceScope and
// getDeviceAndModuleOnBehalfOf (IOTEDGE-REFERENCE §3.5). ContinuationLink is null on the last page.
type ScopeResult struct {
	Devices          []*Device `json:"devices"`
	Modules          []*Module `json:"modules"`
	ContinuationLink *string   `json:"continuationLink"`
}

// MethodRequest is the body of POST /twins/{id}[/modules/{mid}]/methods (IOTEDGE-REFERENCE §1.8).
// A nil timeout is absent (the hub's default applies); omitempty leaves it out when sent.
type MethodRequest struct {
	MethodName               string          `json:"methodName"`
	Payload                  json.RawMessage `json:"payload"`
	ResponseTimeoutInSeconds *int            `json:"responseTimeoutInSeconds,omitempty"`
	ConnectTimeoutInSeconds  *int            `json:"connectTimeoutInSeconds,omitempty"`
}

// MethodResult is what the device answered to a direct method.
type MethodResult struct {
	Status  int             `json:"status"`
	Payload json.RawMessage `json:"payload"`
}

// Event is one device-to-cloud message as the events API and its SSE stream serve it.
type Event struct {
	SequenceNumber   int64             `json:"sequenceNumber"`
	EnqueuedTime     time.Time         `json:"enqueuedTime"`
	DeviceID         string            `json:"deviceId"`
	ModuleID         string            `json:"moduleId,omitempty"`
	SystemProperties map[string]string `json:"systemProperties"`
	Properties       map[string]string `json:"properties"`
	// Body is the body as a JSON value if it parsed as JSON, else a JSON string; null when
	// BodyBase64 holds it.
	Body       json.RawMessage `json:"body"`
	BodyBase64 string          `json:"bodyBase64,omitempty"`
}

// C2DEntry is one message in a device's cloud-to-device queue (GET /devices/{id}/messages/deviceBound).
type C2DEntry struct {
	MessageID     string    `json:"messageId"`
	EnqueuedTime  time.Time `json:"enqueuedTime"`
	ExpiryTime    time.Time `json:"expiryTime"`
	DeliveryCount int       `json:"deliveryCount"`
	State         string    `json:"state"`
}
