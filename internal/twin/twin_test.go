package twin

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/iothub"
)

var t0 = time.Date(2026, 11, 29, 18, 0, 0, 123456789, time.UTC)

func obj(t testing.TB, s string) map[string]any {
	t.Helper()
	m, err := DecodeObject([]byte(s))
	if err != nil {
		t.Fatalf("DecodeObject(%s): %v", s, err)
	}
	return m
}

func jsonOf(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestMergePatch_RFC7396(t *testing.T) {
	// Test vectors from RFC 7396 Appendix A (object targets and patches).
	cases := []struct{ target, patch, want string }{
		{`{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
		{`{"a":"b"}`, `{"a":null}`, `{}`},
		{`{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
		{`{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"c"}`, `{"a":["b"]}`, `{"a":["b"]}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
		{`{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
		{`{"e":null}`, `{"a":1}`, `{"a":1,"e":null}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},
		{`{"a":"x"}`, `{"a":{"b":null,"c":1}}`, `{"a":{"c":1}}`},
		{`{"a":{"b":{"c":1,"d":2}}}`, `{"a":{"b":{"c":null}}}`, `{"a":{"b":{"d":2}}}`},
	}
	for _, c := range cases {
		got := MergePatch(obj(t, c.target), obj(t, c.patch))
		if jsonOf(t, got) != jsonOf(t, obj(t, c.want)) {
			t.Errorf("MergePatch(%s, %s) = %s, want %s", c.target, c.patch, jsonOf(t, got), c.want)
		}
	}
	if got := MergePatch(nil, obj(t, `{"a":1}`)); jsonOf(t, got) != `{"a":1}` {
		t.Errorf("nil dst: %s", jsonOf(t, got))
	}
}

func TestMergePatch_NoAliasing(t *testing.T) {
	patch := obj(t, `{"a":{"b":[1,{"c":2}]}}`)
	dst := MergePatch(nil, patch)
	patch["a"].(map[string]any)["b"].([]any)[1].(map[string]any)["c"] = "changed"
	if jsonOf(t, dst) != `{"a":{"b":[1,{"c":2}]}}` {
		t.Fatalf("dst aliases patch: %s", jsonOf(t, dst))
	}
}

func TestNewTwin(t *testing.T) {
	tw := New()
	if tw.DesiredVersion != 1 || tw.ReportedVersion != 1 || tw.Version != 1 || tw.ETag() != "AAAAAAAAAAE=" {
		t.Fatalf("new twin: %+v etag %s", tw, tw.ETag())
	}
	if got := string(tw.PropertiesJSON()); got != `{"desired":{"$version":1},"reported":{"$version":1}}` {
		t.Fatalf("PropertiesJSON = %s", got)
	}
	if NewAt(t0).LastReportedUpdate != t0 {
		t.Fatal("NewAt")
	}
}

func TestVersions(t *testing.T) {
	tw := New()
	must(t, tw.PatchDesired(obj(t, `{"fw":"1.0","cfg":{"rate":5}}`), t0))
	must(t, tw.PatchReported(obj(t, `{"fw":"0.9"}`), t0.Add(time.Second)))
	must(t, tw.PatchReported(obj(t, `{"fw":"1.0","state":"ok"}`), t0.Add(2*time.Second)))
	must(t, tw.PatchTags(obj(t, `{"site":"b43"}`)))
	if tw.DesiredVersion != 2 || tw.ReportedVersion != 3 || tw.Version != 5 {
		t.Fatalf("versions: desired %d reported %d twin %d", tw.DesiredVersion, tw.ReportedVersion, tw.Version)
	}
	want := `{"desired":{"$version":2,"cfg":{"rate":5},"fw":"1.0"},"reported":{"$version":3,"fw":"1.0","state":"ok"}}`
	if got := string(tw.PropertiesJSON()); got != want {
		t.Fatalf("PropertiesJSON\n got %s\nwant %s", got, want)
	}
	if tw.ETag() != "AAAAAAAAAAU=" {
		t.Fatalf("ETag %s", tw.ETag())
	}
	// Empty patches and patches of only $version/$metadata change nothing.
	must(t, tw.PatchDesired(map[string]any{}, t0))
	must(t, tw.PatchReported(obj(t, `{"$version":9,"$metadata":{}}`), t0))
	must(t, tw.PatchTags(nil))
	if tw.Version != 5 {
		t.Fatalf("empty patches bumped version to %d", tw.Version)
	}
	must(t, tw.ReplaceDesired(obj(t, `{"only":1,"gone":null,"$version":2}`), t0))
	must(t, tw.ReplaceTags(obj(t, `{"x":{"y":"z"}}`)))
	if jsonOf(t, tw.Desired) != `{"only":1}` || jsonOf(t, tw.Tags) != `{"x":{"y":"z"}}` || tw.DesiredVersion != 3 || tw.Version != 7 {
		t.Fatalf("after replace: %+v", tw)
	}
}

func TestProperties_Metadata(t *testing.T) {
	tw := NewAt(t0)
	must(t, tw.PatchDesired(obj(t, `{"a":1}`), t0.Add(time.Minute)))
	got := jsonOf(t, tw.Properties())
	want := `{"desired":{"$metadata":{"$lastUpdated":"2026-11-29T18:01:00.1234567Z","$lastUpdatedVersion":2},"$version":2,"a":1},` +
		`"reported":{"$metadata":{"$lastUpdated":"2026-11-29T18:00:00.1234567Z"},"$version":1}}`
	if got != want {
		t.Fatalf("Properties\n got %s\nwant %s", got, want)
	}
}

func TestPatchLimits(t *testing.T) {
	big := strings.Repeat("x", 4000)
	cases := []struct {
		name  string
		setup func(*Twin) // accepted changes before the refused one
		do    func(*Twin) error
	}{
		{"bad name", nil, func(tw *Twin) error { return tw.PatchReported(obj(t, `{"a.b":1}`), t0) }},
		{"null in array reported", nil, func(tw *Twin) error { return tw.PatchReported(obj(t, `{"a":[null]}`), t0) }},
		{"too deep desired", nil, func(tw *Twin) error {
			return tw.PatchDesired(obj(t, strings.Repeat(`{"a":`, 12)+"1"+strings.Repeat("}", 12)), t0)
		}},
		{"merged section over 32 KB", func(tw *Twin) {
			for i := range 8 {
				must(t, tw.PatchReported(map[string]any{"k" + string(rune('a'+i)): big}, t0))
			}
		}, func(tw *Twin) error { return tw.PatchReported(map[string]any{"ki": big}, t0) }},
		{"tags over 8 KB", func(tw *Twin) { must(t, tw.PatchTags(map[string]any{"a": big})) },
			func(tw *Twin) error { return tw.PatchTags(map[string]any{"b": big, "c": big}) }},
		{"unencodable", nil, func(tw *Twin) error { return tw.PatchDesired(map[string]any{"f": func() {}}, t0) }},
		{"desired beyond float64", nil, func(tw *Twin) error { return tw.PatchDesired(obj(t, `{"big":1e400}`), t0) }},
		{"reported beyond float64", nil, func(tw *Twin) error { return tw.PatchReported(obj(t, `{"a":{"b":-1e400}}`), t0) }},
		{"replaced desired beyond float64", nil, func(tw *Twin) error { return tw.ReplaceDesired(obj(t, `{"a":[1e309]}`), t0) }},
		{"tags beyond float64", nil, func(tw *Twin) error { return tw.PatchTags(obj(t, `{"big":1e400}`)) }},
		{"replaced tags beyond float64", nil, func(tw *Twin) error { return tw.ReplaceTags(obj(t, `{"big":1e400}`)) }},
	}
	for _, c := range cases {
		tw := New()
		if c.setup != nil {
			c.setup(tw)
		}
		before := tw.Clone()
		err := c.do(tw)
		var e *iothub.Error
		if err == nil || !errors.As(err, &e) || e.Status != 400 || !strings.HasPrefix(err.Error(), "twin: ") {
			t.Errorf("%s: err = %v, want twin-wrapped 400 *iothub.Error", c.name, err)
		}
		if !reflect.DeepEqual(tw, before) {
			t.Errorf("%s: twin changed by a refused patch", c.name)
		}
	}
}

func TestCloneIndependent(t *testing.T) {
	tw := New()
	must(t, tw.PatchDesired(obj(t, `{"a":{"b":1}}`), t0))
	c := tw.Clone()
	must(t, c.PatchDesired(obj(t, `{"a":{"b":2}}`), t0))
	c.Desired["a"].(map[string]any)["x"] = 1
	if jsonOf(t, tw.Desired) != `{"a":{"b":1}}` || tw.DesiredVersion != 2 {
		t.Fatalf("clone shares state: %s", jsonOf(t, tw.Desired))
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	tw := NewAt(t0)
	must(t, tw.PatchDesired(obj(t, `{"big":4503599627370496,"f":1.5,"s":"x","arr":[1,"a",{"b":true}]}`), t0))
	must(t, tw.PatchReported(obj(t, `{"r":{"n":1}}`), t0.Add(time.Hour)))
	must(t, tw.PatchTags(obj(t, `{"t":"v"}`)))
	b, err := json.Marshal(tw)
	if err != nil {
		t.Fatal(err)
	}
	var back Twin
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, tw) {
		t.Fatalf("round trip:\n got %+v\nwant %+v\n via %s", back, *tw, b)
	}
	var empty Twin
	if err := json.Unmarshal([]byte(`{}`), &empty); err != nil || empty.Desired == nil || empty.Tags == nil {
		t.Fatalf("empty unmarshal: %+v %v", empty, err)
	}
	if err := json.Unmarshal([]byte(`{"desired":5}`), &empty); err == nil {
		t.Fatal("bad persistent form accepted")
	}
}

func TestPatchJSON(t *testing.T) {
	b, err := PatchJSON(obj(t, `{"a":1}`), 7)
	if err != nil || string(b) != `{"$version":7,"a":1}` {
		t.Fatalf("PatchJSON = %s %v", b, err)
	}
}

func TestDecodeObject(t *testing.T) {
	for _, bad := range []string{``, `null`, `[1]`, `{`} {
		if _, err := DecodeObject([]byte(bad)); err == nil {
			t.Errorf("DecodeObject(%q) succeeded", bad)
		}
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestPatchFloat64Values: callers that decode with json.Unmarshal (float64)
// must not have integral floats refused after the raw body was validated.
func TestPatchFloat64Values(t *testing.T) {
	tw := New()
	var patch map[string]any
	must(t, json.Unmarshal([]byte(`{"big":1e20,"i":42}`), &patch))
	must(t, tw.PatchReported(patch, t0))
	if got := string(tw.PropertiesJSON()); got != `{"desired":{"$version":1},"reported":{"$version":2,"big":100000000000000000000,"i":42}}` {
		t.Fatalf("PropertiesJSON = %s", got)
	}
}
