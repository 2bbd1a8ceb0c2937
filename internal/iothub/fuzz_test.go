package iothub

import (
	"bytes"
	"encoding/json"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/message"
)

// Fuzz targets for every parser that reads network or user bytes
// (RELIABILITY E8): no panics, and the invariants below.

func FuzzParseSASToken(f *testing.F) {
	for _, c := range sasParseCases {
		f.Add(c.in)
	}
	f.Add("SharedAccessSignature sr=h%2Fdevices%2Fedge1%2Fmodules%2F%2524edgeHub&sig=x&se=1")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseSASToken(s)
		if err != nil {
			return
		}
		if tok.Resource == "" || tok.Signature == "" {
			t.Fatalf("accepted token without sr/sig: %q", s)
		}
		_, _, _, _ = tok.Audience()
		if tok.Verify([]string{testKey}, testNow, time.Hour) == nil {
			// Only a token signed with testKey may verify.
			if tok.Signature != signB64(t, testKey, tok.Resource, tok.rawExpiry) {
				t.Fatalf("forged token verified: %q", s)
			}
		}
	})
}

func FuzzParseConnectionString(f *testing.F) {
	for _, c := range connCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseConnectionString(s)
		if err != nil {
			return
		}
		again, err := ParseConnectionString(c.String())
		if err != nil || again != c {
			t.Fatalf("String() does not round trip: %q -> %q: %+v %v", s, c.String(), again, err)
		}
		_ = c.IsService()
	})
}

func FuzzParsePropertyBag(f *testing.F) {
	addGoldenSeeds(f, "propertybag.golden")
	f.Fuzz(func(t *testing.T, bag string) {
		sys, app, err := ParsePropertyBag(bag)
		if err != nil {
			return
		}
		enc := EncodePropertyBag(&message.Message{System: sys, Properties: app})
		sys2, app2, err := ParsePropertyBag(enc)
		if err != nil || !maps.Equal(sys, sys2) || !maps.Equal(app, app2) {
			t.Fatalf("round trip %q -> %q: %v %v / %v %v (%v)", bag, enc, sys, app, sys2, app2, err)
		}
		if enc2 := EncodePropertyBag(&message.Message{System: sys2, Properties: app2}); enc2 != enc {
			t.Fatalf("encoding not stable: %q vs %q", enc, enc2)
		}
	})
}

func FuzzParsePublishTopic(f *testing.F) {
	addGoldenSeeds(f, "publishtopic.golden")
	f.Fuzz(func(t *testing.T, topic string) {
		p, err := ParsePublishTopic(topic)
		if (err == nil) == (p.Kind == TopicInvalid) {
			t.Fatalf("kind %d with err %v", p.Kind, err)
		}
		if p.Kind == TopicTelemetry {
			if p.DeviceID == "" || strings.Contains(p.DeviceID, "/") || strings.Contains(p.ModuleID, "/") {
				t.Fatalf("bad identity from %q: %+v", topic, p)
			}
			if strings.HasSuffix(p.Bag, "/") && !strings.HasSuffix(topic, "//") {
				t.Fatalf("bag keeps the trailing / of %q: %q", topic, p.Bag)
			}
			_, _, _ = ParsePropertyBag(p.Bag)
		}
		if p.Kind == TopicTwinGet || p.Kind == TopicTwinPatchReported || p.Kind == TopicMethodResponse {
			if p.RequestID == "" {
				t.Fatalf("no $rid from %q", topic)
			}
		}
		k, d, m := ParseSubscription(topic)
		if (k == SubC2D || k == SubModuleInputs) && (d == "" || strings.Contains(d, "/") || strings.Contains(m, "/")) {
			t.Fatalf("subscription %q gave %d %q %q", topic, k, d, m)
		}
	})
}

func FuzzParseUsername(f *testing.F) {
	for _, c := range usernameCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseUsername(s)
		if err != nil {
			return
		}
		if u.APIVersion == "" || u.DeviceID == "" || u.HostName == "" {
			t.Fatalf("accepted %q as %+v", s, u)
		}
	})
}

// FuzzValidateTwinPatch: no panics, and the byte and decoded-object
// validators agree on accepted patches.
func FuzzValidateTwinPatch(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":[1,null]}`, `{"a.b":1}`, `{"a":{"b":{"c":4503599627370497}}}`, `[1]`, ` `,
		`{"big":1e400}`, `{"a":[-1.7976931348623159e308]}`, `{"a":1.7976931348623157e308}`} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, patch []byte, reported bool) {
		if ValidateTwinPatch(patch, reported) != nil {
			return
		}
		dec := json.NewDecoder(bytes.NewReader(patch))
		dec.UseNumber()
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			t.Fatalf("accepted patch does not decode: %v", err)
		}
		if err := ValidateTwinObject(obj, reported); err != nil {
			t.Fatalf("byte validator accepted %q, object validator refused: %v", patch, err)
		}
		// What a twin stores, its readers (outpost twin show, the SDKs) decode as float64.
		var plain map[string]any
		if err := json.Unmarshal(patch, &plain); err != nil {
			t.Fatalf("accepted patch %q does not decode with float64 numbers: %v", patch, err)
		}
	})
}
