package testutil

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// InTmpfs runs the calling test again in a child of the test binary, inside a private mount
// namespace with a tmpfs of size (mount's syntax: "1m", "8m") on a fresh directory, the way a
// disk-full test gets a real small file system (RELIABILITY A7). It returns true in the child,
// where the test must run its body on Getenv(env), the tmpfs directory; in the parent it runs
// the child, fails the test unless the child passed it, logs the child's lines that mention
// logFile, and returns false. extraEnv is added to the child's environment. Root only (unshare
// -m, mount), Linux only; elsewhere the test is skipped.
func InTmpfs(t *testing.T, env, size, logFile string, extraEnv ...string) bool {
	t.Helper()
	if os.Getenv(env) != "" {
		return true
	}
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("needs root on Linux for unshare -m and mount -t tmpfs")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare not installed")
	}
	dir := t.TempDir()
	script := `mount -t tmpfs -o size=` + size + ` outpost-test "$0" || exit 99; exec "$1" -test.run="^$2\$" -test.v`
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", script, dir, os.Args[0], t.Name())
	// atexit_sleep_ms: a -race binary otherwise sleeps 1 s at exit.
	cmd.Env = append(append(os.Environ(), env+"="+dir, "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0"), extraEnv...)
	out, err := cmd.CombinedOutput()
	if exit, ok := errors.AsType[*exec.ExitError](err); ok && exit.ExitCode() == 99 || strings.Contains(string(out), "unshare failed") {
		t.Skipf("cannot mount a tmpfs here: %s", out)
	}
	if err != nil {
		t.Fatalf("tmpfs child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("the tmpfs child exited 0 without passing %s (did -test.run match?):\n%s", t.Name(), out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, logFile) {
			t.Log(strings.TrimSpace(line))
		}
	}
	return false
}
