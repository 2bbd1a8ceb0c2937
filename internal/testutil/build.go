package testutil

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// BinEnv names an environment variable that, when set, is used by
// BuildOutpost as the path of an already built outpost binary.
const BinEnv = "OUTPOST_TEST_BIN"

var build struct {
	once sync.Once
	dir  string // temporary directory holding the binary
	path string
	err  error
}

// BuildOutpost builds ./cmd/outpost once per test binary (with -race when
// the tests run with -race) into a temporary directory and returns the
// binary's path. With $OUTPOST_TEST_BIN set it returns that path instead.
// Call CleanupBuilds from TestMain to remove the directory afterwards.
func BuildOutpost(t testing.TB) string {
	t.Helper()
	build.once.Do(func() {
		if p := os.Getenv(BinEnv); p != "" {
			build.path, build.err = filepath.Abs(p)
			return
		}
		build.dir, build.path, build.err = buildOutpost()
	})
	if build.err != nil {
		t.Fatalf("testutil: build outpost: %v", build.err)
	}
	return build.path
}

// CleanupBuilds removes what BuildOutpost built. It is meant for TestMain,
// after m.Run; without it the temporary directory is left behind. Main does
// both.
func CleanupBuilds() {
	if build.dir != "" {
		_ = os.RemoveAll(build.dir)
	}
}

// Main is a TestMain for packages that use BuildOutpost: it runs the tests,
// removes the build (CleanupBuilds) and exits with the tests' status.
//
//	func TestMain(m *testing.M) { testutil.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	CleanupBuilds()
	os.Exit(code)
}

// buildOutpost runs `go build` from the module root.
func buildOutpost() (dir, path string, err error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", "", err
	}
	dir, err = os.MkdirTemp("", "outpost-test-bin-*")
	if err != nil {
		return "", "", fmt.Errorf("temp dir: %w", err)
	}
	path = filepath.Join(dir, "outpost")
	args := []string{"build", "-o", path}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command(goTool(), append(args, "./cmd/outpost")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return "", "", fmt.Errorf("go build ./cmd/outpost: %w\n%s", err, out)
	}
	return dir, path, nil
}

// ModuleRoot walks up from the working directory to the directory holding go.mod.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("testutil: getwd: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testutil: go.mod not found above the working directory")
		}
		dir = parent
	}
}

// goTool finds the go command: $PATH first, then /usr/local/go/bin/go.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}
