package e2e

import (
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/testutil"
)

// TestSecondCloudOnTheSameDataDirIsRefused runs two real processes on one --data: the second
// must exit at once with an error naming the directory and the first one's pid, the first must
// keep serving (and read-only commands keep working beside it), and after a kill -9 of the
// first the kernel has dropped its lock so that a new cloud starts (issue 5, item 7).
func TestSecondCloudOnTheSameDataDirIsRefused(t *testing.T) {
	dir := t.TempDir()
	c := startCloud(t, dir)
	second := testutil.StartProcess(t, c.bin, "cloud", "serve", "--data", dir, "--hostname", "localhost",
		"--mqtt-listen", anyPort, "--https-listen", anyPort, "--metrics-listen", "")
	select {
	case <-second.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("a second cloud on the same data directory is still running after 30 s")
	}
	var ee *exec.ExitError
	if err := second.ExitErr(); !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("second cloud exited with %v, want exit status 1", err)
	}
	stderr := second.Stderr()
	if !strings.Contains(stderr, dir) || !strings.Contains(stderr, "process "+strconv.Itoa(c.proc.Pid())) {
		t.Fatalf("second cloud's error should name %s and pid %d:\n%s", dir, c.proc.Pid(), stderr)
	}
	if cs := strings.TrimSpace(c.run("cloud", "connection-string", "--data", dir)); cs != c.cs {
		t.Fatalf("connection-string beside the running cloud printed %q, want %q", cs, c.cs)
	}
	c.run("device", "create", "beside-the-second")
	if err := c.proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c.proc.Done()
	c.start()
	if out := c.run("device", "show", "beside-the-second"); !strings.Contains(out, "beside-the-second") {
		t.Fatalf("device show after restart printed %q", out)
	}
}
