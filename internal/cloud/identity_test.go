package cloud

import (
	"strings"
	"testing"

	"github.com/outpost-iot/outpost/internal/iothub"
)

// TestValidateIDNamesTheCharacter: the error names the character that is invalid, and still
// does once IoT Hub's error body has replaced every ";" of its text (iothub.WriteHTTPError):
// "a;b" was reported as containing ','.
func TestValidateIDNamesTheCharacter(t *testing.T) {
	cases := []struct {
		id   string
		want string // in the error text
	}{
		{"a;b", "U+003B (semicolon)"},
		{";", "U+003B (semicolon)"},
		{"a b", "' ' (U+0020)"},
		{"a/b", "'/' (U+002F)"},
		{"a&b", "'&' (U+0026)"},
		{"a\"b", `'"' (U+0022)`},
		{"caf\u00e9", "'\u00e9' (U+00E9)"},
		{"a\x01b", "U+0001"},
		{"a\xffb", "byte 0xFF (not UTF-8)"},
		{"ok-id:1", ""},
	}
	for _, c := range cases {
		err := validateID("device", c.id)
		if c.want == "" {
			if err != nil {
				t.Errorf("%q: %v", c.id, err)
			}
			continue
		}
		e := iothub.AsError(err)
		if err == nil || e.Code != iothub.CodeArgumentInvalid || !strings.Contains(e.Message, c.want) {
			t.Errorf("%q: %v, want ArgumentInvalid naming %s", c.id, err, c.want)
			continue
		}
		if strings.Contains(e.Message, ";") {
			t.Errorf("%q: %q holds a \";\", which the error body turns into \",\"", c.id, e.Message)
		}
	}
}
