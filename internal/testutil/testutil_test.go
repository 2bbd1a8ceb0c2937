package testutil

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes the test binary act as a child process (see TestMain).
const helperEnv = "TESTUTIL_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		Main(m)
	case "echo":
		fmt.Println("ready")
		fmt.Fprintln(os.Stderr, "to stderr")
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM)
		<-ch
		fmt.Println("got SIGTERM")
		os.Exit(3)
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ready")
		select {}
	case "exit":
		fmt.Println("bye")
		os.Exit(0)
	}
}

func helper(t *testing.T, mode string) *Process {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	return StartCmd(t, cmd)
}

// fakeTB records Fatalf instead of stopping the test.
type fakeTB struct {
	testing.TB
	failed string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = fmt.Sprintf(format, args...)
}

func TestFreePort(t *testing.T) {
	addr := FreePort(t)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("addr %q", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("port not free: %v", err)
	}
	l.Close()
}

func TestEventually(t *testing.T) {
	var n atomic.Int32
	Eventually(t, time.Second, func() bool { return n.Add(1) >= 3 }, "three calls")
	f := &fakeTB{TB: t}
	start := time.Now()
	Eventually(f, 50*time.Millisecond, func() bool { return false }, "never")
	if !strings.Contains(f.failed, "never") {
		t.Fatalf("failure message %q", f.failed)
	}
	if el := time.Since(start); el < 50*time.Millisecond || el > 2*time.Second {
		t.Fatalf("gave up after %v", el)
	}
}

func TestWaitFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	f := &fakeTB{TB: t}
	WaitFile(f, path, 20*time.Millisecond)
	if !strings.Contains(f.failed, "did not appear") {
		t.Fatalf("failure message %q", f.failed)
	}
	go func() { _ = os.WriteFile(path, nil, 0o600) }()
	WaitFile(t, path, 5*time.Second)
}

func TestTempCA(t *testing.T) {
	a := TempCA(t)
	if a.Cert == nil || a.Key == nil || !a.Cert.IsCA {
		t.Fatal("not a CA")
	}
}

func TestProcess_OutputAndSIGTERM(t *testing.T) {
	p := helper(t, "echo")
	p.WaitOutput(t, "ready", 10*time.Second)
	Eventually(t, 5*time.Second, func() bool { return strings.Contains(p.Stderr(), "to stderr") }, "stderr captured")
	if p.ExitErr() == nil {
		t.Fatal("ExitErr nil while running")
	}
	err := p.Stop()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Fatalf("exit %v, want status 3", err)
	}
	if !strings.Contains(p.Stdout(), "got SIGTERM") {
		t.Fatalf("stdout %q", p.Stdout())
	}
	if err2 := p.Stop(); err2 != err {
		t.Fatalf("second Stop = %v", err2)
	}
}

func TestProcess_KilledAfterGrace(t *testing.T) {
	p := helper(t, "ignore-term")
	p.WaitOutput(t, "ready", 10*time.Second)
	p.GracePeriod = 100 * time.Millisecond
	start := time.Now()
	err := p.Stop()
	if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("exit %v, want SIGKILL", err)
	}
	if el := time.Since(start); el < 100*time.Millisecond {
		t.Fatalf("killed after %v, before the grace period", el)
	}
}

func TestProcess_WaitOutputExited(t *testing.T) {
	p := helper(t, "exit")
	<-p.Done()
	if p.ExitErr() != nil {
		t.Fatalf("exit %v", p.ExitErr())
	}
	f := &fakeTB{TB: t}
	p.WaitOutput(f, "never printed", 5*time.Second)
	if !strings.Contains(f.failed, "exited") {
		t.Fatalf("failure message %q", f.failed)
	}
	p.WaitOutput(t, "bye", time.Second)
}

func TestModuleRoot(t *testing.T) {
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "internal", "testutil", "doc.go")); err != nil {
		t.Fatalf("root %s: %v", root, err)
	}
}

func TestBuildOutpost(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	p := BuildOutpost(t)
	st, err := os.Stat(p)
	if err != nil || st.Mode()&0o111 == 0 {
		t.Fatalf("binary %s: %v", p, err)
	}
	if BuildOutpost(t) != p {
		t.Fatal("built twice")
	}
}

// TestBuffer_ConcurrentWriters: writes from several goroutines all land, whole,
// while String is read (go test -race checks the locking).
func TestBuffer_ConcurrentWriters(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				fmt.Fprintln(&b, "line")
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if got := strings.Count(b.String(), "line\n"); got != 400 {
		t.Fatalf("%d lines, want 400", got)
	}
}
