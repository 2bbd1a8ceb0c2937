package twin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"time"
)

// section returns a shallow copy of props plus "$version" (and "$metadata"
// when meta is set), for encoding: nested values are shared with props.
func section(props map[string]any, version int64, meta map[string]any) map[string]any {
	out := make(map[string]any, len(props)+2)
	maps.Copy(out, props)
	out["$version"] = version
	if meta != nil {
		out["$metadata"] = meta
	}
	return out
}

// PropertiesJSON is the MQTT GET body:
// {"desired":{...,"$version":N},"reported":{...,"$version":M}}.
func (t *Twin) PropertiesJSON() []byte {
	b, err := json.Marshal(map[string]any{
		"desired":  section(t.Desired, t.DesiredVersion, nil),
		"reported": section(t.Reported, t.ReportedVersion, nil),
	})
	if err != nil { // only reachable with values json cannot encode (NaN)
		return []byte(`{"desired":{},"reported":{}}`)
	}
	return b
}

// Properties returns the "properties" object of the service twin JSON: each
// section with "$version" and "$metadata" {"$lastUpdated":...} (desired also
// "$lastUpdatedVersion"). Nested values are shared with t, not copied.
func (t *Twin) Properties() map[string]any {
	return map[string]any{
		"desired": section(t.Desired, t.DesiredVersion, map[string]any{
			"$lastUpdated": formatTime(t.LastDesiredUpdate), "$lastUpdatedVersion": t.DesiredVersion,
		}),
		"reported": section(t.Reported, t.ReportedVersion, map[string]any{
			"$lastUpdated": formatTime(t.LastReportedUpdate),
		}),
	}
}

func formatTime(ts time.Time) string { return ts.UTC().Format(TimeFormat) }

// PatchJSON returns a desired-property notification payload: the patch plus
// "$version" (§1.7).
func PatchJSON(patch map[string]any, version int64) ([]byte, error) {
	b, err := json.Marshal(section(patch, version, nil))
	if err != nil {
		return nil, fmt.Errorf("twin: marshal patch: %w", err)
	}
	return b, nil
}

// persisted is the on-disk form of a Twin.
type persisted struct {
	Tags               map[string]any `json:"tags"`
	Desired            map[string]any `json:"desired"`
	Reported           map[string]any `json:"reported"`
	DesiredVersion     int64          `json:"desiredVersion"`
	ReportedVersion    int64          `json:"reportedVersion"`
	Version            int64          `json:"version"`
	LastDesiredUpdate  time.Time      `json:"lastDesiredUpdate"`
	LastReportedUpdate time.Time      `json:"lastReportedUpdate"`
}

// MarshalJSON writes the persistent form (all fields).
func (t *Twin) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(persisted(*t))
	if err != nil {
		return nil, fmt.Errorf("twin: marshal: %w", err)
	}
	return b, nil
}

// UnmarshalJSON reads the persistent form; numbers are kept as json.Number
// so large integers survive, and missing sections become empty maps.
func (t *Twin) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var p persisted
	if err := dec.Decode(&p); err != nil {
		return fmt.Errorf("twin: unmarshal: %w", err)
	}
	for _, m := range []*map[string]any{&p.Tags, &p.Desired, &p.Reported} {
		if *m == nil {
			*m = map[string]any{}
		}
	}
	*t = Twin(p)
	return nil
}

// DecodeObject decodes a JSON object with json.Number numbers, the form the
// Patch methods expect from the wire.
func DecodeObject(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("twin: decode object: %w", err)
	}
	if m == nil {
		return nil, fmt.Errorf("twin: decode object: not a JSON object")
	}
	return m, nil
}
