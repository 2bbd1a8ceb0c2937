package iothub

import (
	"maps"
	"strings"
	"testing"

	"github.com/outpost-iot/outpost/internal/message"
)

// TestPropertyBagGolden covers the wire key table (§1.6) in both directions:
// each input bag is parsed, then re-encoded.
func TestPropertyBagGolden(t *testing.T) {
	runGolden(t, "propertybag.golden", func(in string) string {
		sys, app, err := ParsePropertyBag(in)
		if err != nil {
			return "error: " + err.Error()
		}
		lines := append(kv("system", sys), kv("app", app)...)
		m := &message.Message{System: sys, Properties: app}
		lines = append(lines, "encoded: "+EncodePropertyBag(m))
		return strings.Join(lines, "\n")
	})
}

func TestEncodePropertyBag_AllSystemKeys(t *testing.T) {
	m := message.New(nil)
	for w, name := range wireKeys {
		m.System[name] = "v " + w
	}
	m.System["unknown-system"] = "dropped"
	m.Properties["z"] = "1"
	m.Properties["a b"] = "x&y=z"
	enc := EncodePropertyBag(m)
	sys, app, err := ParsePropertyBag(enc)
	if err != nil {
		t.Fatal(err)
	}
	delete(m.System, "unknown-system")
	if !maps.Equal(sys, m.System) || !maps.Equal(app, m.Properties) {
		t.Fatalf("round trip of %q:\n sys %v\n app %v", enc, sys, app)
	}
	if !strings.HasPrefix(enc, "%24.cdid=") || !strings.HasSuffix(enc, "&a%20b=x%26y%3Dz&z=1") {
		t.Fatalf("unexpected order/encoding: %s", enc)
	}
	if EncodePropertyBag(nil) != "" || EncodePropertyBag(message.New(nil)) != "" {
		t.Fatal("empty message must encode to an empty bag")
	}
}

func TestWireKeyTable(t *testing.T) {
	wireOf := map[string]string{}
	for w, n := range wireKeys {
		if other, dup := wireOf[n]; dup {
			t.Errorf("system name %q has two wire keys, %q and %q", n, other, w)
		}
		wireOf[n] = w
		if got, ok := systemName(w); !ok || got != n {
			t.Errorf("systemName(%q) = %q, %v", w, got, ok)
		}
	}
	if n, ok := systemName("ack"); !ok || n != message.Ack {
		t.Error("ack alias")
	}
	if _, ok := systemName("custom"); ok {
		t.Error("custom is an application property")
	}
}
