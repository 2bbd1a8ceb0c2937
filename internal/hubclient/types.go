package hubclient

import (
	"github.com/outpost-iot/outpost/internal/iothub"
)

// The wire types shared with the cloud and the edge hub are in internal/iothub (keys,
// capabilities, authentication types, the device-scope page, methods, events, the C2D queue).
// Device, Module, Authentication, X509Thumbprint, Twin and Certificate stay here on purpose: they
// are a client's view of the same JSON, not the hub's. iothub.Device writes every member (null
// when unset, zero times) as a hub must; these keep timestamps as the strings the hub sent, tell
// a member the hub left out from a zero one, and leave out what is empty, both when
// `outpost device show --json` or `outpost ca list --json` prints what the hub sent (internal/cli's
// golden files pin it) and when a PUT sends only what the caller set.

// Device is a device identity in Azure's JSON shape, as a client holds it (see above).
type Device struct {
	DeviceID                   string               `json:"deviceId"`
	GenerationID               string               `json:"generationId,omitempty"`
	ETag                       string               `json:"etag,omitempty"`
	ConnectionState            string               `json:"connectionState,omitempty"`
	Status                     string               `json:"status,omitempty"`
	StatusReason               string               `json:"statusReason,omitempty"`
	ConnectionStateUpdatedTime string               `json:"connectionStateUpdatedTime,omitempty"`
	StatusUpdatedTime          string               `json:"statusUpdatedTime,omitempty"`
	LastActivityTime           string               `json:"lastActivityTime,omitempty"`
	CloudToDeviceMessageCount  int                  `json:"cloudToDeviceMessageCount"`
	Authentication             *Authentication      `json:"authentication,omitempty"`
	Capabilities               *iothub.Capabilities `json:"capabilities,omitempty"`
	DeviceScope                string               `json:"deviceScope,omitempty"`
	ParentScopes               []string             `json:"parentScopes,omitempty"`
}

// IsEdge reports whether the device is an IoT Edge device.
func (d *Device) IsEdge() bool { return d.Capabilities != nil && d.Capabilities.IoTEdge }

// Module is a module identity in Azure's JSON shape, as a client holds it (see above).
type Module struct {
	ModuleID                   string          `json:"moduleId"`
	DeviceID                   string          `json:"deviceId"`
	GenerationID               string          `json:"generationId,omitempty"`
	ETag                       string          `json:"etag,omitempty"`
	ManagedBy                  string          `json:"managedBy,omitempty"`
	ConnectionState            string          `json:"connectionState,omitempty"`
	ConnectionStateUpdatedTime string          `json:"connectionStateUpdatedTime,omitempty"`
	LastActivityTime           string          `json:"lastActivityTime,omitempty"`
	CloudToDeviceMessageCount  int             `json:"cloudToDeviceMessageCount"`
	Authentication             *Authentication `json:"authentication,omitempty"`
}

// Authentication holds an identity's credentials.
type Authentication struct {
	SymmetricKey   *iothub.SymmetricKey `json:"symmetricKey,omitempty"`
	X509Thumbprint *X509Thumbprint      `json:"x509Thumbprint,omitempty"`
	Type           string               `json:"type,omitempty"`
}

// X509Thumbprint is a pair of certificate thumbprints (self-signed X.509 authentication).
type X509Thumbprint struct {
	PrimaryThumbprint   string `json:"primaryThumbprint"`
	SecondaryThumbprint string `json:"secondaryThumbprint"`
}

// Twin is a device or module twin as the service API returns it. For PATCH, only Tags and
// Properties.Desired are sent (empty fields are omitted).
type Twin struct {
	DeviceID                  string               `json:"deviceId,omitempty"`
	ModuleID                  string               `json:"moduleId,omitempty"`
	ETag                      string               `json:"etag,omitempty"`
	DeviceETag                string               `json:"deviceEtag,omitempty"`
	Status                    string               `json:"status,omitempty"`
	StatusUpdateTime          string               `json:"statusUpdateTime,omitempty"`
	ConnectionState           string               `json:"connectionState,omitempty"`
	LastActivityTime          string               `json:"lastActivityTime,omitempty"`
	CloudToDeviceMessageCount int                  `json:"cloudToDeviceMessageCount,omitempty"`
	AuthenticationType        string               `json:"authenticationType,omitempty"`
	X509Thumbprint            *X509Thumbprint      `json:"x509Thumbprint,omitempty"`
	ModelID                   string               `json:"modelId,omitempty"`
	Version                   int64                `json:"version,omitempty"`
	Tags                      map[string]any       `json:"tags,omitempty"`
	Properties                TwinProperties       `json:"properties"`
	Capabilities              *iothub.Capabilities `json:"capabilities,omitempty"`
	DeviceScope               string               `json:"deviceScope,omitempty"`
	ParentScopes              []string             `json:"parentScopes,omitempty"`
}

// TwinProperties holds desired and reported properties, each with "$version" and "$metadata" as
// the hub returns them.
type TwinProperties struct {
	Desired  map[string]any `json:"desired,omitempty"`
	Reported map[string]any `json:"reported,omitempty"`
}

// C2DResult is the hub's answer to a cloud-to-device send.
type C2DResult struct {
	MessageID  string `json:"messageId"`
	ExpiryTime string `json:"expiryTime,omitempty"`
}

// Certificate is a CA certificate registered with the hub.
type Certificate struct {
	Name       string                `json:"name"`
	ETag       string                `json:"etag,omitempty"`
	ID         string                `json:"id,omitempty"`
	Type       string                `json:"type,omitempty"`
	Properties CertificateProperties `json:"properties"`
}

// CertificateProperties are Azure's certificate description fields.
type CertificateProperties struct {
	Subject     string `json:"subject,omitempty"`
	Expiry      string `json:"expiry,omitempty"`
	Thumbprint  string `json:"thumbprint,omitempty"`
	IsVerified  bool   `json:"isVerified,omitempty"`
	Created     string `json:"created,omitempty"`
	Updated     string `json:"updated,omitempty"`
	Certificate string `json:"certificate,omitempty"`
}
