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
	var out []string
	for i, c := range readGolden(t, name) {
		got := fn(c.input)
		out = append(out, c.input+goldenIOSep+got)
		if !*update && got != c.want {
			t.Errorf("%s case %d input %q:\n got:\n%s\nwant:\n%s", name, i, c.input, got, c.want)
		}
	}
	if *update {
		if err := os.WriteFile(goldenPath(name), []byte(strings.Join(out, goldenCaseSep)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

type goldenCase struct{ input, want string }

func goldenPath(name string) string { return filepath.Join("testdata", name) }

// readGolden returns the cases of a golden file; a case without its "---"
// line (a new input to fill in with -update) expects "".
func readGolden(tb testing.TB, name string) []goldenCase {
	tb.Helper()
	raw, err := os.ReadFile(goldenPath(name))
	if err != nil {
		tb.Fatalf("read golden: %v", err)
	}
	var cases []goldenCase
	for c := range strings.SplitSeq(strings.TrimSuffix(string(raw), "\n"), goldenCaseSep) {
		input, want, ok := strings.Cut(c, goldenIOSep)
		if !ok {
			input, want = strings.TrimSuffix(c, "\n---"), ""
		}
		cases = append(cases, goldenCase{input, want})
	}
	return cases
}

// addGoldenSeeds adds the inputs of a golden file to f's seed corpus.
func addGoldenSeeds(f *testing.F, name string) {
	for _, c := range readGolden(f, name) {
		f.Add(c.input)
	}
}

func kv(prefix string, m map[string]string) []string {
	var lines []string
	for _, k := range sortedKeys(m) {
		lines = append(lines, fmt.Sprintf("%s %q=%q", prefix, k, m[k]))
	}
	return lines
}
