package cloud

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestEventRecordLayout: ids round-trip through the binary prefix, including empty and
// non-ASCII ones, and a damaged prefix is an error, never a panic or a wrong id.
func TestEventRecordLayout(t *testing.T) {
	for _, ids := range [][2]string{{"d", ""}, {"d", "m"}, {"", ""}, {"dévice-é", "模块"}, {strings.Repeat("x", 300), "m"}} {
		b, err := encodeEvent(&eventRecord{DeviceID: ids[0], ModuleID: ids[1], storedEvent: storedEvent{Body: []byte("hi")}})
		if err != nil {
			t.Fatal(err)
		}
		dev, mod, doc, err := eventIDs(b)
		if err != nil || dev != ids[0] || mod != ids[1] || !json.Valid(doc) {
			t.Fatalf("%q: got %q %q %s %v", ids, dev, mod, doc, err)
		}
		for cut := range 1 + len(ids[0]) + 1 + len(ids[1]) {
			if _, _, _, err := eventIDs(b[:cut]); err == nil && cut < len(b)-len(doc) {
				t.Fatalf("%q: prefix cut at %d accepted", ids, cut)
			}
		}
	}
}

// FuzzEventIDs: arbitrary stored bytes never panic the id decoder.
func FuzzEventIDs(f *testing.F) {
	f.Add([]byte("\x01d\x00{}"))
	f.Add([]byte("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		dev, mod, doc, err := eventIDs(b)
		if err == nil && len(dev)+len(mod)+len(doc) > len(b) {
			t.Fatalf("decoded more than given")
		}
	})
}
