package iothub

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func nested(depth int) string {
	return strings.Repeat(`{"a":`, depth) + "1" + strings.Repeat("}", depth)
}

func TestValidateTwinPatch(t *testing.T) {
	cases := []struct {
		name     string
		patch    string
		reported bool
		wantErr  string
	}{
		{name: "simple", patch: `{"temp":21.5,"on":true,"name":"x","obj":{"n":null},"arr":[1,"a",{"b":2}]}`},
		{name: "empty object", patch: `{}`},
		{name: "null deletes", patch: `{"a":null}`, reported: true},
		{name: "depth 10 ok", patch: nested(11)},
		{name: "depth 11", patch: nested(12), wantErr: "nesting deeper"},
		{name: "array depth counts", patch: `{"a":` + strings.Repeat("[", 11) + strings.Repeat("]", 11) + `}`, wantErr: "nesting deeper"},
		{name: "too big", patch: `{"a":"` + strings.Repeat("x", 32*1024) + `"}`, wantErr: "limit 32768"},
		{name: "string 4096 ok", patch: `{"a":"` + strings.Repeat("x", 4096) + `"}`},
		{name: "string 4097", patch: `{"a":"` + strings.Repeat("x", 4097) + `"}`, wantErr: "limit 4096"},
		{name: "name 1024 ok", patch: `{"` + strings.Repeat("n", 1024) + `":1}`},
		{name: "name 1025", patch: `{"` + strings.Repeat("n", 1025) + `":1}`, wantErr: "limit 1024"},
		{name: "name with dot", patch: `{"a.b":1}`, wantErr: "contains"},
		{name: "name with dollar", patch: `{"$version":1}`, wantErr: "contains"},
		{name: "name with hash", patch: `{"a#":1}`, wantErr: "contains"},
		{name: "name with space", patch: `{"a b":1}`, wantErr: "contains"},
		{name: "name with control", patch: `{"a\u0001":1}`, wantErr: "contains"},
		{name: "nested bad name", patch: `{"a":{"b.c":1}}`, wantErr: "contains"},
		{name: "bad name in array object", patch: `{"a":[{"b c":1}]}`, wantErr: "contains"},
		{name: "empty name", patch: `{"":1}`, wantErr: "empty property name"},
		{name: "int 2^52 ok", patch: `{"a":4503599627370496,"b":-4503599627370496}`},
		{name: "int beyond 2^52", patch: `{"a":4503599627370497}`, wantErr: "2^52"},
		{name: "negative int beyond", patch: `{"a":-9007199254740993}`, wantErr: "2^52"},
		{name: "float not limited", patch: `{"a":1e300,"b":4503599627370497.5}`},
		{name: "largest float64 ok", patch: `{"a":1.7976931348623157e308,"b":-1.7976931348623157e308}`},
		{name: "float underflow ok", patch: `{"a":1e-400}`},
		{name: "float beyond float64", patch: `{"big":1e400}`, wantErr: "64-bit float"},
		{name: "negative float beyond float64", patch: `{"a":-1.7976931348623159e308}`, wantErr: "64-bit float"},
		{name: "float beyond float64 nested", patch: `{"a":{"b":[1,{"c":1E309}]}}`, wantErr: "64-bit float"},
		{name: "null in array desired ok", patch: `{"a":[1,null]}`},
		{name: "null in array reported", patch: `{"a":[1,null]}`, reported: true, wantErr: "contains null"},
		{name: "not object", patch: `[1]`, wantErr: "must be a JSON object"},
		{name: "scalar", patch: `"x"`, wantErr: "must be a JSON object"},
		{name: "null", patch: `null`, wantErr: "must be a JSON object"},
		{name: "space (Node GET body)", patch: ` `, wantErr: "invalid JSON"},
		{name: "invalid", patch: `{"a":`, wantErr: "invalid JSON"},
		{name: "trailing", patch: `{} {}`, wantErr: "trailing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := ValidateTwinPatch([]byte(c.patch), c.reported)
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var e *Error
			if err == nil || !strings.Contains(err.Error(), c.wantErr) || !errors.As(err, &e) || e.Status != 400 {
				t.Fatalf("err = %v, want 400 containing %q", err, c.wantErr)
			}
		})
	}
}

func TestValidateTwinTags(t *testing.T) {
	if err := ValidateTwinTags([]byte(`{"loc":{"b":"43"}}`)); err != nil {
		t.Fatal(err)
	}
	if err := ValidateTwinTags([]byte(`{"a":"` + strings.Repeat("x", 8*1024) + `"}`)); err == nil {
		t.Fatal("tags over 8 KB accepted")
	}
	if err := ValidateTwinTags([]byte(`{"loc":{"big":1e400}}`)); err == nil {
		t.Fatal("tag beyond float64 accepted")
	}
}

func TestValidateTwinObject(t *testing.T) {
	cases := []struct {
		name     string
		obj      map[string]any
		reported bool
		wantErr  bool
	}{
		{"float64 integral not range-checked", map[string]any{"a": 1e20}, true, false},
		{"json.Number beyond", map[string]any{"a": json.Number("4503599627370497")}, true, true},
		{"json.Number beyond float64", map[string]any{"a": map[string]any{"b": json.Number("1e400")}}, false, true},
		{"json.Number largest float64", map[string]any{"a": json.Number("1.7976931348623157e308")}, false, false},
		{"int64 beyond", map[string]any{"a": int64(1) << 53}, false, true},
		{"int ok", map[string]any{"a": 1 << 52}, false, false},
		{"uint64 beyond", map[string]any{"a": uint64(1) << 60}, false, true},
		{"small ints", map[string]any{"a": int8(1), "b": uint32(7)}, false, false},
		{"bad name nested", map[string]any{"a": map[string]any{"b c": 1}}, false, true},
		{"null in array reported", map[string]any{"a": []any{nil}}, true, true},
		{"null in array desired", map[string]any{"a": []any{nil}}, false, false},
		{"too big", map[string]any{"a": strings.Repeat("x", 4000), "b": strings.Repeat("x", 4000), "c": strings.Repeat("x", 4000),
			"d": strings.Repeat("x", 4000), "e": strings.Repeat("x", 4000), "f": strings.Repeat("x", 4000),
			"g": strings.Repeat("x", 4000), "h": strings.Repeat("x", 4000), "i": strings.Repeat("x", 4000)}, false, true},
		{"unencodable", map[string]any{"a": func() {}}, false, true},
	}
	for _, c := range cases {
		if err := ValidateTwinObject(c.obj, c.reported); (err != nil) != c.wantErr {
			t.Errorf("%s: err = %v", c.name, err)
		}
	}
	if err := ValidateTwinTagsObject(map[string]any{"a": strings.Repeat("x", 4000), "b": strings.Repeat("x", 4000), "c": strings.Repeat("x", 400)}); err == nil {
		t.Error("tags over 8 KB accepted")
	}
}

func TestEncodedSize(t *testing.T) {
	n, err := EncodedSize(map[string]any{"a": "<&>"})
	if err != nil || n != len(`{"a":"<&>"}`) {
		t.Fatalf("EncodedSize = %d, %v", n, err)
	}
}
