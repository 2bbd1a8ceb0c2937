package iothub

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// ConnectionString is a parsed IoT Hub connection string (§1.2).
type ConnectionString struct {
	HostName, DeviceID, ModuleID, SharedAccessKey, SharedAccessKeyName, SharedAccessSignature, GatewayHostName string
	X509                                                                                                       bool
}

// connKeys lists the known keys in canonical order.
var connKeys = []string{"HostName", "DeviceId", "ModuleId", "SharedAccessKeyName", "SharedAccessKey",
	"SharedAccessSignature", "GatewayHostName", "x509"}

// ParseConnectionString parses "Key=Value;Key=Value". Keys are matched
// case-insensitively; values may contain "=" (base64 padding, tokens). Empty
// segments (a trailing ";") are skipped. Unknown keys, empty keys or values,
// duplicates, a ModuleId without DeviceId, a SharedAccessKey that is not
// base64 and more than one credential kind are refused. HostName is required.
func ParseConnectionString(s string) (ConnectionString, error) {
	seen := map[string]string{}
	for seg := range strings.SplitSeq(s, ";") {
		if strings.TrimSpace(seg) == "" {
			continue
		}
		k, v, ok := strings.Cut(seg, "=")
		if !ok || k == "" || v == "" {
			return ConnectionString{}, connErr("segment %q is not Key=Value", redactSegment(seg))
		}
		canon := canonicalConnKey(k)
		if canon == "" {
			return ConnectionString{}, connErr("unknown key %q (known: %s)", truncate(k), strings.Join(connKeys, ", "))
		}
		if _, dup := seen[canon]; dup {
			return ConnectionString{}, connErr("duplicate key %q", canon)
		}
		seen[canon] = v
	}
	c := ConnectionString{
		HostName: seen["HostName"], DeviceID: seen["DeviceId"], ModuleID: seen["ModuleId"],
		SharedAccessKey: seen["SharedAccessKey"], SharedAccessKeyName: seen["SharedAccessKeyName"],
		SharedAccessSignature: seen["SharedAccessSignature"], GatewayHostName: seen["GatewayHostName"],
	}
	if x, ok := seen["x509"]; ok {
		switch strings.ToLower(x) {
		case "true":
			c.X509 = true
		case "false":
		default:
			return ConnectionString{}, connErr("x509 must be true or false")
		}
	}
	return c, c.validate()
}

func (c ConnectionString) validate() error {
	if c.HostName == "" {
		return connErr("HostName is required")
	}
	if c.ModuleID != "" && c.DeviceID == "" {
		return connErr("ModuleId requires DeviceId")
	}
	if c.SharedAccessKey != "" {
		if k, err := base64.StdEncoding.DecodeString(c.SharedAccessKey); err != nil || len(k) == 0 {
			return connErr("SharedAccessKey is not base64")
		}
	}
	n := 0
	for _, set := range []bool{c.SharedAccessKey != "", c.SharedAccessSignature != "", c.X509} {
		if set {
			n++
		}
	}
	if n > 1 {
		return connErr("give only one of SharedAccessKey, SharedAccessSignature and x509=true")
	}
	return nil
}

func canonicalConnKey(k string) string {
	for _, known := range connKeys {
		if strings.EqualFold(k, known) {
			return known
		}
	}
	return ""
}

func connErr(format string, args ...any) error {
	return fmt.Errorf("iothub: parse connection string: %s", fmt.Sprintf(format, args...))
}

// redactSegment keeps a segment's key but never echoes a secret value.
func redactSegment(seg string) string {
	k, _, ok := strings.Cut(seg, "=")
	if ok {
		return truncate(k) + "=..."
	}
	return truncate(seg)
}

// String returns the connection string in canonical order HostName;DeviceId;
// ModuleId;SharedAccessKeyName;SharedAccessKey;SharedAccessSignature;
// GatewayHostName;x509=true, omitting empty fields.
func (c ConnectionString) String() string {
	vals := []string{c.HostName, c.DeviceID, c.ModuleID, c.SharedAccessKeyName, c.SharedAccessKey,
		c.SharedAccessSignature, c.GatewayHostName, ""}
	if c.X509 {
		vals[7] = "true"
	}
	var parts []string
	for i, v := range vals {
		if v != "" {
			parts = append(parts, connKeys[i]+"="+v)
		}
	}
	return strings.Join(parts, ";")
}

// IsService reports a service (policy) connection string: SharedAccessKeyName
// set and no DeviceId.
func (c ConnectionString) IsService() bool {
	return c.SharedAccessKeyName != "" && c.DeviceID == ""
}
