package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzModulesContent_E8 checks the deployment manifest validator on arbitrary input: it never
// panics, and whatever it accepts is a JSON object holding a "modulesContent" object.
func FuzzModulesContent_E8(f *testing.F) {
	for _, s := range []string{`{"modulesContent":{"$edgeAgent":{}}}`, `{"content":{"modulesContent":{}}}`,
		`{"modulesContent":null}`, `{"modulesContent":[]}`, `[]`, `null`, ``, `{"content":null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		body, err := modulesContent("m.json", data)
		if err != nil {
			return
		}
		var doc struct {
			ModulesContent map[string]json.RawMessage `json:"modulesContent"`
		}
		if json.Unmarshal(body, &doc) != nil || doc.ModulesContent == nil {
			t.Fatalf("accepted %q as %s", data, body)
		}
	})
}

// FuzzTwinPatch_E8 checks twin update's flag handling: accepted patches are valid JSON.
func FuzzTwinPatch_E8(f *testing.F) {
	f.Add(`{"a":1}`, ``)
	f.Add(``, `{"t":null}`)
	f.Add(`[1]`, `{}`)
	f.Add(`null`, `"x"`)
	f.Fuzz(func(t *testing.T, desired, tags string) {
		patch, err := twinPatch(strings.NewReader(""), desired, tags, "")
		if err == nil && !json.Valid(patch) {
			t.Fatalf("invalid patch %q", patch)
		}
	})
}

// FuzzProperties_E8 checks --property parsing: keys are never empty and values keep every "=".
func FuzzProperties_E8(f *testing.F) {
	f.Add("k=v", "a=b=c")
	f.Add("=", "x")
	f.Fuzz(func(t *testing.T, a, b string) {
		m, err := parseProperties([]string{a, b})
		if err != nil {
			return
		}
		for k := range m {
			if k == "" {
				t.Fatal("empty key accepted")
			}
		}
		if k, v, _ := strings.Cut(a, "="); m[k] != v && k != "" {
			t.Fatalf("%q parsed to %q", a, m[k])
		}
	})
}
