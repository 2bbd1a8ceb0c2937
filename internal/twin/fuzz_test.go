package twin

import (
	"reflect"
	"testing"
)

// FuzzMergePatch checks RFC 7396 invariants on arbitrary object pairs:
// applying a patch twice equals applying it once, null members are absent
// from the result, and non-object patch members are copied verbatim.
func FuzzMergePatch(f *testing.F) {
	seeds := [][2]string{
		{`{"a":"b"}`, `{"a":null}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`},
		{`{"a":[1]}`, `{"a":{"x":[null]}}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`},
		{`{"e":null}`, `{"a":1}`},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, target, patch string) {
		dst, err1 := DecodeObject([]byte(target))
		p, err2 := DecodeObject([]byte(patch))
		if err1 != nil || err2 != nil {
			return
		}
		once := MergePatch(copyMap(dst), p)
		twice := MergePatch(copyMap(once), p)
		if !reflect.DeepEqual(once, twice) {
			t.Fatalf("not idempotent: %v vs %v", once, twice)
		}
		for k, v := range p {
			got, present := once[k]
			switch v.(type) {
			case nil:
				if present {
					t.Fatalf("null member %q kept", k)
				}
			case map[string]any:
				if _, ok := got.(map[string]any); !ok {
					t.Fatalf("object member %q became %T", k, got)
				}
			default:
				if !reflect.DeepEqual(got, v) {
					t.Fatalf("member %q = %v, want %v", k, got, v)
				}
			}
		}
		tw := New()
		_ = tw.PatchReported(p, t0)
		_ = tw.PatchDesired(p, t0)
		_ = tw.PatchTags(p)
	})
}
