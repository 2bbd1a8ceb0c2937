package iothub

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SASToken is a parsed shared access signature (§1.3).
type SASToken struct {
	Resource  string    // sr exactly as in the token (still URL-encoded); signed over verbatim
	Signature string    // sig, URL-decoded (base64 text)
	Expiry    time.Time // se
	KeyName   string    // skn, URL-decoded, "" when absent

	rawExpiry string // se percent-decoded but otherwise as in the token (leading zeros kept): the signed text
}

// SASClockSkew is the tolerance applied to a token's expiry (edgeHub's value).
const SASClockSkew = 5 * time.Minute

// sasPrefix is the token's first whitespace-separated part.
const sasPrefix = "SharedAccessSignature"

// Errors returned (wrapped) by ParseSASToken and SASToken.Verify.
var (
	ErrSASExpired   = errors.New("sas token expired")
	ErrSASSignature = errors.New("sas signature mismatch")
	ErrSASLifetime  = errors.New("sas token lifetime exceeds the maximum")
	ErrSASMalformed = errors.New("malformed sas token")
)

// ParseSASToken parses "SharedAccessSignature sr=..&sig=..&se=..[&skn=..]" with
// the fields in any order. Exactly two whitespace-separated parts are
// required; sr, sig and se are required, a duplicated field is refused; sr is
// kept raw and the other values are percent-decoded. Unknown fields are
// ignored, as edgeHub does.
func ParseSASToken(s string) (SASToken, error) {
	parts := strings.Fields(s)
	if len(parts) != 2 || parts[0] != sasPrefix {
		return SASToken{}, sasErr("want %q followed by one field list", sasPrefix)
	}
	fields, err := sasFields(parts[1])
	if err != nil {
		return SASToken{}, err
	}
	return sasFromFields(fields)
}

func sasErr(format string, args ...any) error {
	return fmt.Errorf("iothub: parse sas token: %s: %w", fmt.Sprintf(format, args...), ErrSASMalformed)
}

// sasFields splits "k=v&k=v" refusing empty keys, fields without "=" and duplicates.
func sasFields(list string) (map[string]string, error) {
	fields := map[string]string{}
	for f := range strings.SplitSeq(list, "&") {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return nil, sasErr("field %q is not key=value", truncate(f))
		}
		if _, dup := fields[k]; dup {
			return nil, sasErr("duplicate field %q", truncate(k))
		}
		fields[k] = v
	}
	return fields, nil
}

func sasFromFields(fields map[string]string) (SASToken, error) {
	var t SASToken
	for _, req := range []string{"sr", "sig", "se"} {
		if fields[req] == "" {
			return SASToken{}, sasErr("missing or empty %s", req)
		}
	}
	t.Resource = fields["sr"]
	var err error
	if t.Signature, err = unescapeStrict(fields["sig"]); err != nil {
		return SASToken{}, sasErr("sig: %v", err)
	}
	if t.rawExpiry, err = unescapeStrict(fields["se"]); err != nil {
		return SASToken{}, sasErr("se: %v", err)
	}
	se, err := strconv.ParseInt(t.rawExpiry, 10, 64)
	if err != nil || se < 0 {
		return SASToken{}, sasErr("se %q is not a non-negative integer", truncate(t.rawExpiry))
	}
	t.Expiry = time.Unix(se, 0).UTC()
	if t.KeyName, err = unescapeStrict(fields["skn"]); err != nil {
		return SASToken{}, sasErr("skn: %v", err)
	}
	return t, nil
}

// Audience decodes sr once, splits on "/", decodes each segment again
// (double-encoded module ids such as %2524edgeHub). host/devices/d ->
// (host,d,""); host/devices/d/modules/m -> (host,d,m); host alone ->
// (host,"","") (service tokens). Comparisons are the caller's job and should
// be case-insensitive (SameHost, strings.EqualFold).
func (t SASToken) Audience() (host, deviceID, moduleID string, err error) {
	sr, err := unescapeStrict(t.Resource)
	if err != nil {
		return "", "", "", fmt.Errorf("iothub: sas audience: %w", err)
	}
	segs := strings.Split(sr, "/")
	for i, s := range segs {
		segs[i] = unescapeLenient(s)
		if segs[i] == "" {
			return "", "", "", fmt.Errorf("iothub: sas audience %q: empty segment", truncate(sr))
		}
	}
	switch {
	case len(segs) == 1:
		return segs[0], "", "", nil
	case len(segs) == 3 && strings.EqualFold(segs[1], "devices"):
		return segs[0], segs[2], "", nil
	case len(segs) == 5 && strings.EqualFold(segs[1], "devices") && strings.EqualFold(segs[3], "modules"):
		return segs[0], segs[2], segs[4], nil
	}
	return "", "", "", fmt.Errorf("iothub: sas audience %q: want host, host/devices/d or host/devices/d/modules/m", truncate(sr))
}

// SameHost reports whether two host names are equal, ignoring case and one
// trailing dot.
func SameHost(a, b string) bool {
	return strings.EqualFold(strings.TrimSuffix(a, "."), strings.TrimSuffix(b, "."))
}

// Verify checks the expiry (with SASClockSkew), the maximum lifetime when
// maxLifetime > 0 (se more than maxLifetime+skew after now is refused,
// RELIABILITY C2), then the signature against each base64 key in order in
// constant time. Keys that are not valid base64 never match.
func (t SASToken) Verify(keys []string, now time.Time, maxLifetime time.Duration) error {
	if t.Expiry.Add(SASClockSkew).Before(now) {
		return fmt.Errorf("iothub: verify sas token: expired at %s: %w", t.Expiry.Format(time.RFC3339), ErrSASExpired)
	}
	if maxLifetime > 0 && t.Expiry.After(now.Add(maxLifetime+SASClockSkew)) {
		return fmt.Errorf("iothub: verify sas token: expiry %s is more than %s ahead: %w",
			t.Expiry.Format(time.RFC3339), maxLifetime, ErrSASLifetime)
	}
	got, err := base64.StdEncoding.DecodeString(t.Signature)
	if err != nil {
		return fmt.Errorf("iothub: verify sas token: signature is not base64: %w", ErrSASSignature)
	}
	se := t.rawExpiry
	if se == "" {
		se = strconv.FormatInt(t.Expiry.Unix(), 10)
	}
	match := false
	for _, k := range keys {
		key, err := base64.StdEncoding.DecodeString(k)
		if err != nil || len(key) == 0 {
			continue
		}
		if hmac.Equal(got, sign(key, t.Resource, se)) {
			match = true // keep going: constant work whichever key matches
		}
	}
	if !match {
		return fmt.Errorf("iothub: verify sas token: %w", ErrSASSignature)
	}
	return nil
}

func sign(key []byte, sr, se string) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(sr + "\n" + se))
	return mac.Sum(nil)
}

// NewSASToken builds a token: sr = EncodeResource(resource), string-to-sign
// sr+"\n"+se, HMAC-SHA256 with the base64-decoded key; fields in Node's order
// sr, sig, skn, se (skn omitted when keyName is "").
func NewSASToken(resource, base64Key, keyName string, expiry time.Time) (string, error) {
	key, err := base64.StdEncoding.DecodeString(base64Key)
	if err != nil || len(key) == 0 {
		return "", errors.New("iothub: new sas token: key is not non-empty base64")
	}
	sr := EncodeResource(resource)
	se := strconv.FormatInt(expiry.Unix(), 10)
	sig := base64.StdEncoding.EncodeToString(sign(key, sr, se))
	var b strings.Builder
	b.WriteString(sasPrefix + " sr=" + sr + "&sig=" + EncodeResource(sig))
	if keyName != "" {
		b.WriteString("&skn=" + EncodeResource(keyName))
	}
	b.WriteString("&se=" + se)
	return b.String(), nil
}

// DeviceResource returns the SAS resource of a device: host/devices/{id}.
func DeviceResource(host, deviceID string) string {
	return host + "/devices/" + deviceID
}

// ModuleResource returns the SAS resource of a module: host/devices/{id}/modules/{mid}.
func ModuleResource(host, deviceID, moduleID string) string {
	return host + "/devices/" + deviceID + "/modules/" + moduleID
}

// truncate shortens attacker-controlled text quoted in error messages.
func truncate(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
