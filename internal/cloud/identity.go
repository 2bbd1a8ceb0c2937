package cloud

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/outpost-iot/outpost/internal/iothub"
	"github.com/outpost-iot/outpost/internal/pki"
)

// identity is what authentication needs of a device or a module.
type identity struct {
	DeviceID, ModuleID string
	GenerationID       string
	Enabled            bool
	Auth               iothub.Authentication
	DeviceScope        string
	ParentScopes       []string
	Edge               bool
	// DeviceETag and ModuleETag change with every update: a live connection compares them to
	// notice a change it may have missed.
	DeviceETag, ModuleETag string
}

// deviceIdentity is what authentication needs of a device.
func deviceIdentity(d *iothub.Device) *identity {
	return &identity{DeviceID: d.DeviceID, GenerationID: d.GenerationID, Enabled: d.Status == "enabled",
		Auth: d.Authentication, DeviceScope: d.DeviceScope, ParentScopes: d.ParentScopes, Edge: d.Capabilities.IoTEdge,
		DeviceETag: d.ETag}
}

// moduleIdentity is what authentication needs of a module of device.
func moduleIdentity(m *iothub.Module, device *iothub.Device) *identity {
	return &identity{DeviceID: m.DeviceID, ModuleID: m.ModuleID, GenerationID: m.GenerationID,
		Enabled: device.Status == "enabled", Auth: m.Authentication, DeviceScope: device.DeviceScope,
		ParentScopes: device.ParentScopes, Edge: device.Capabilities.IoTEdge, DeviceETag: device.ETag, ModuleETag: m.ETag}
}

// keys returns the identity's SAS keys, primary first.
func (id *identity) keys() []string {
	if id.Auth.SymmetricKey == nil {
		return nil
	}
	var out []string
	for _, k := range []string{id.Auth.SymmetricKey.PrimaryKey, id.Auth.SymmetricKey.SecondaryKey} {
		if k != "" {
			out = append(out, k)
		}
	}
	return out
}

// edgeScope is the device scope of an edge device (IOTEDGE-REFERENCE §3.5).
func edgeScope(deviceID, generationID string) string {
	return "ms-azure-iot-edge://" + deviceID + "-" + generationID
}

// validIDChars are the characters IoT Hub accepts in device and module ids besides ASCII letters and digits.
const validIDChars = "-.+%_#*?!(),:=@$'"

func validateID(kind, id string) error {
	if id == "" || len(id) > 128 {
		return iothub.NewError(iothub.CodeArgumentInvalid, "%s id must be 1 to 128 characters", kind)
	}
	for i, r := range id {
		ok := r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(validIDChars, r))
		if !ok {
			return iothub.NewError(iothub.CodeArgumentInvalid, "%s id %s contains the invalid %s",
				kind, quoteForErrorBody(id), describeChar(id[i:], r))
		}
	}
	return nil
}

// quoteForErrorBody quotes s with ";" written as \u003b: IoT Hub's error body turns every ";"
// of its text into "," (iothub.WriteHTTPError), which would name another id.
func quoteForErrorBody(s string) string {
	return strings.ReplaceAll(strconv.Quote(s), ";", `\u003b`)
}

// describeChar names r, the first character of s, by its code point and, when the error body
// can carry it as is, itself: "';'" alone would reach the client as "','".
func describeChar(s string, r rune) string {
	switch {
	case r == utf8.RuneError && !strings.HasPrefix(s, string(utf8.RuneError)):
		return fmt.Sprintf("byte 0x%02X (not UTF-8)", s[0])
	case r == ';':
		return "character U+003B (semicolon)"
	case unicode.IsPrint(r):
		return fmt.Sprintf("character %q (%U)", r, r)
	}
	return fmt.Sprintf("character %U", r)
}

// normalizeAuth validates an identity's authentication and generates missing SAS keys.
func normalizeAuth(a *iothub.Authentication) error {
	if a.Type == "" {
		a.Type = iothub.AuthSAS
	}
	switch a.Type {
	case iothub.AuthSAS:
		a.X509Thumbprint = nil
		if a.SymmetricKey == nil {
			a.SymmetricKey = &iothub.SymmetricKey{}
		}
		for _, k := range []*string{&a.SymmetricKey.PrimaryKey, &a.SymmetricKey.SecondaryKey} {
			if *k == "" {
				*k = newKey()
				continue
			}
			raw, err := base64.StdEncoding.DecodeString(*k)
			if err != nil || len(raw) < 16 || len(raw) > 64 {
				return iothub.NewError(iothub.CodeArgumentInvalid, "symmetric keys must be base64 of 16 to 64 bytes")
			}
		}
	case iothub.AuthSelfSigned:
		a.SymmetricKey = nil
		if a.X509Thumbprint == nil || a.X509Thumbprint.PrimaryThumbprint == nil || *a.X509Thumbprint.PrimaryThumbprint == "" {
			return iothub.NewError(iothub.CodeArgumentInvalid, "a self-signed X.509 identity needs a primary thumbprint")
		}
		for _, t := range []*string{a.X509Thumbprint.PrimaryThumbprint, a.X509Thumbprint.SecondaryThumbprint} {
			if _, err := pki.NormalizeThumbprint(deref(t)); err != nil && deref(t) != "" {
				return iothub.NewError(iothub.CodeArgumentInvalid, "thumbprint %q is not 40 or 64 hex digits", *t)
			}
		}
	case iothub.AuthCertificateAuthority, iothub.AuthNone:
		a.SymmetricKey, a.X509Thumbprint = nil, nil
	default:
		return iothub.NewError(iothub.CodeArgumentInvalid, "unknown authentication type %q", a.Type)
	}
	if a.X509Thumbprint == nil {
		a.X509Thumbprint = &iothub.X509Thumbprint{}
	}
	return nil
}

func newKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails since Go 1.24
	return base64.StdEncoding.EncodeToString(b)
}

// newGenerationID returns an id in IoT Hub's style: a large decimal number.
func newGenerationID(now time.Time) string {
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	return strconv.FormatInt(now.UnixNano()/100+int64(b[0])<<8|int64(b[1]), 10)
}

// newETag returns an opaque entity tag.
func newETag() string {
	b := make([]byte, 9)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// etagMatches implements If-Match: empty or "*" matches anything; quotes are ignored.
func etagMatches(ifMatch, etag string) bool {
	// The Node service SDK always quotes If-Match, the wildcard included ("*").
	ifMatch = strings.Trim(strings.TrimSpace(ifMatch), `"`)
	if ifMatch == "" || ifMatch == "*" {
		return true
	}
	return ifMatch == strings.Trim(etag, `"`)
}

func decodeJSON(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("cloud: decode stored document: %w", err)
	}
	return nil
}
