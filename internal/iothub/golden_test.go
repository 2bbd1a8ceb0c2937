package iothub

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Golden files hold cases separated by a line "===". Each case is the input
// (one line), a separator line "---" and the expected output. Run
// `go test ./internal/iothub -run Golden -update` to rewrite the expected
// parts from the current code; review the diff before committing.
const (
	goldenCaseSep = "\n===\n"
	goldenIOSep   = "\n---\n"
)

func runGolden(t *testing.T, name string, fn func(input string) string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden: %v", err)
	}
	cases := strings.Split(strings.TrimSuffix(string(raw), "\n"), goldenCaseSep)
	var out []string
	for i, c := range cases {
		input, want, ok := strings.Cut(c, goldenIOSep)
		if !ok {
			input, want = strings.TrimSuffix(c, "\n---"), ""
		}
		got := fn(input)
		out = append(out, input+goldenIOSep+got)
		if !*update && got != want {
			t.Errorf("%s case %d input %q:\n got:\n%s\nwant:\n%s", name, i, input, got, want)
		}
	}
	if *update {
		if err := os.WriteFile(path, []byte(strings.Join(out, goldenCaseSep)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// goldenInputs returns the inputs of a golden file (for fuzz seeds).
func goldenInputs(tb testing.TB, name string) []string {
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatalf("read golden: %v", err)
	}
	var ins []string
	for c := range strings.SplitSeq(strings.TrimSuffix(string(raw), "\n"), goldenCaseSep) {
		in, _, _ := strings.Cut(c, goldenIOSep)
		ins = append(ins, in)
	}
	return ins
}

func kv(prefix string, m map[string]string) []string {
	var lines []string
	for _, k := range sortedKeys(m) {
		lines = append(lines, fmt.Sprintf("%s %q=%q", prefix, k, m[k]))
	}
	return lines
}
