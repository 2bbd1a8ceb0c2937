// Package twin holds device and module twins in IoT Hub's model
// (IOTEDGE-REFERENCE §1.7): tags, desired and reported properties merged with
// JSON merge patches (RFC 7396), independent desired and reported $version
// counters, a whole-twin version and its ETag, and top-level $metadata.
//
// A new twin starts, as on IoT Hub, with empty desired and reported sections
// whose $version is 1 and a whole-twin version of 1; every accepted change
// increments the section's $version and the whole-twin version. Limits are
// enforced with iothub.ValidateTwinObject (§1.7). A Twin is not safe for
// concurrent use; its owner serialises access.
package twin

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"time"

	"github.com/outpost-iot/outpost/internal/iothub"
)

// Twin holds one device or module twin.
type Twin struct {
	Tags                                  map[string]any
	Desired                               map[string]any // without $version/$metadata
	Reported                              map[string]any
	DesiredVersion                        int64
	ReportedVersion                       int64
	Version                               int64 // whole-twin version, bumped on every change
	LastDesiredUpdate, LastReportedUpdate time.Time
}

// TimeFormat is IoT Hub's timestamp format in $metadata (UTC, 7 fractional digits).
const TimeFormat = "2006-01-02T15:04:05.0000000Z"

// New returns an empty twin: desired and reported $version 1, version 1.
func New() *Twin {
	return &Twin{
		Tags: map[string]any{}, Desired: map[string]any{}, Reported: map[string]any{},
		DesiredVersion: 1, ReportedVersion: 1, Version: 1,
	}
}

// NewAt is New with both sections' $lastUpdated set to now (creation time).
func NewAt(now time.Time) *Twin {
	t := New()
	t.LastDesiredUpdate, t.LastReportedUpdate = now.UTC(), now.UTC()
	return t
}

// Clone returns a deep copy of t.
func (t *Twin) Clone() *Twin {
	c := *t
	c.Tags, c.Desired, c.Reported = copyMap(t.Tags), copyMap(t.Desired), copyMap(t.Reported)
	return &c
}

// PatchDesired validates patch against the desired limits, merges it
// (RFC 7396), and increments DesiredVersion and Version. Top-level "$version"
// and "$metadata" members are ignored; an empty patch changes nothing.
func (t *Twin) PatchDesired(patch map[string]any, now time.Time) error {
	merged, changed, err := patchSection(t.Desired, patch, false)
	if err != nil || !changed {
		return wrap("patch desired", err)
	}
	t.Desired, t.LastDesiredUpdate = merged, now.UTC()
	t.DesiredVersion++
	t.Version++
	return nil
}

// PatchReported is PatchDesired for reported properties (arrays may not
// contain null).
func (t *Twin) PatchReported(patch map[string]any, now time.Time) error {
	merged, changed, err := patchSection(t.Reported, patch, true)
	if err != nil || !changed {
		return wrap("patch reported", err)
	}
	t.Reported, t.LastReportedUpdate = merged, now.UTC()
	t.ReportedVersion++
	t.Version++
	return nil
}

// ReplaceDesired replaces the desired section (nulls dropped), and increments
// DesiredVersion and Version.
func (t *Twin) ReplaceDesired(desired map[string]any, now time.Time) error {
	merged, _, err := patchSection(map[string]any{}, desired, false)
	if err != nil {
		return wrap("replace desired", err)
	}
	t.Desired, t.LastDesiredUpdate = merged, now.UTC()
	t.DesiredVersion++
	t.Version++
	return nil
}

// PatchTags merges patch into the tags (8 KB limit) and increments Version;
// an empty patch changes nothing.
func (t *Twin) PatchTags(patch map[string]any) error {
	if len(patch) == 0 {
		return nil
	}
	merged, err := tagsSection(t.Tags, patch)
	if err != nil {
		return wrap("patch tags", err)
	}
	t.Tags = merged
	t.Version++
	return nil
}

// ReplaceTags replaces the tags (nulls dropped) and increments Version.
func (t *Twin) ReplaceTags(tags map[string]any) error {
	merged, err := tagsSection(map[string]any{}, tags)
	if err != nil {
		return wrap("replace tags", err)
	}
	t.Tags = merged
	t.Version++
	return nil
}

// patchSection validates patch and returns the merged copy of section.
func patchSection(section, patch map[string]any, reported bool) (map[string]any, bool, error) {
	patch = stripMeta(patch)
	if err := iothub.ValidateTwinObject(patch, reported); err != nil {
		return nil, false, err
	}
	merged := MergePatch(copyMap(section), patch)
	if err := checkSize(merged, iothub.MaxTwinPatchSize); err != nil {
		return nil, false, err
	}
	return merged, len(patch) > 0, nil
}

func tagsSection(tags, patch map[string]any) (map[string]any, error) {
	if err := iothub.ValidateTwinTagsObject(patch); err != nil {
		return nil, err
	}
	merged := MergePatch(copyMap(tags), patch)
	return merged, checkSize(merged, iothub.MaxTwinTagsSize)
}

func checkSize(section map[string]any, limit int) error {
	n, err := iothub.EncodedSize(section)
	if err != nil {
		return fmt.Errorf("marshal section: %w", err)
	}
	if n > limit {
		return iothub.Errorf(http.StatusBadRequest, iothub.CodeArgumentInvalid,
			"section would be %d bytes, limit %d", n, limit)
	}
	return nil
}

// stripMeta drops top-level $version and $metadata (a GET-modify-PUT cycle
// sends them back).
func stripMeta(m map[string]any) map[string]any {
	_, v := m["$version"]
	_, md := m["$metadata"]
	if !v && !md {
		return m
	}
	out := make(map[string]any, len(m))
	for k, val := range m {
		if k != "$version" && k != "$metadata" {
			out[k] = val
		}
	}
	return out
}

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("twin: %s: %w", op, err)
}

// ETag returns the twin's ETag like Azure: base64 of the 8-byte big-endian
// Version ("AAAAAAAAAAE=" for version 1), unquoted.
func (t *Twin) ETag() string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(t.Version))
	return base64.StdEncoding.EncodeToString(b[:])
}
