package testutil

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// DefaultGracePeriod is how long Stop waits after SIGTERM before SIGKILL.
const DefaultGracePeriod = 5 * time.Second

// Process is a child process started by StartProcess or StartCmd. Its
// output is captured; it is stopped at test cleanup, and its output is
// logged then if the test failed.
type Process struct {
	// GracePeriod is the time between SIGTERM and SIGKILL in Stop
	// (DefaultGracePeriod). Set it before Stop or cleanup runs.
	GracePeriod time.Duration

	cmd    *exec.Cmd
	stdout Buffer
	stderr Buffer
	done   chan struct{} // closed when the process has exited
	err    error         // Wait's result, set before done is closed
}

// StartProcess starts bin with args, failing the test if it cannot start.
func StartProcess(t testing.TB, bin string, args ...string) *Process {
	t.Helper()
	return StartCmd(t, exec.Command(bin, args...))
}

// StartCmd starts a prepared command (for Env, Dir, Stdin), capturing its
// stdout and stderr (any writers already set are replaced). The process
// runs in its own process group so that SIGKILL also reaches its children,
// and on Linux it is killed if the test binary dies without cleaning up.
func StartCmd(t testing.TB, cmd *exec.Cmd) *Process {
	t.Helper()
	p := &Process{GracePeriod: DefaultGracePeriod, cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &p.stdout, &p.stderr
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	setDeathSignal(cmd.SysProcAttr)
	if err := cmd.Start(); err != nil {
		t.Fatalf("testutil: start %s: %v", cmd.Path, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.Stop()
		if t.Failed() {
			t.Logf("%s stdout:\n%s\n%s stderr:\n%s", cmd.Path, p.Stdout(), cmd.Path, p.Stderr())
		}
	})
	return p
}

// Stdout returns everything the process wrote to stdout so far.
func (p *Process) Stdout() string { return p.stdout.String() }

// Stderr returns everything the process wrote to stderr so far.
func (p *Process) Stderr() string { return p.stderr.String() }

// Pid returns the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// ExitErr returns the result of waiting for the process (nil for exit
// status 0, *exec.ExitError otherwise), or an error if it is still running.
func (p *Process) ExitErr() error {
	if !p.exited() {
		return errors.New("testutil: process still running")
	}
	return p.err
}

// exited reports whether the process has exited (and p.err is set).
func (p *Process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Signal sends sig to the process (not its group).
func (p *Process) Signal(sig syscall.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("testutil: signal %v: %w", sig, err)
	}
	return nil
}

// Stop sends SIGTERM, waits up to GracePeriod, then SIGKILLs the process
// group, and returns the process's exit result. It is idempotent.
func (p *Process) Stop() error {
	if p.exited() {
		return p.err
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	timer := time.NewTimer(p.GracePeriod)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
	return p.err
}

// WaitOutput waits until stdout or stderr contains substr, failing the test
// after timeout or if the process exits first without having printed it.
func (p *Process) WaitOutput(t testing.TB, substr string, timeout time.Duration) {
	t.Helper()
	has := func() bool { return strings.Contains(p.Stdout(), substr) || strings.Contains(p.Stderr(), substr) }
	poll(timeout, func() bool { return p.exited() || has() })
	exited := p.exited() // checked before has(): after exit the output is complete
	switch {
	case has():
	case exited:
		t.Fatalf("testutil: process exited (%v) without printing %q\nstdout:\n%s\nstderr:\n%s", p.err, substr, p.Stdout(), p.Stderr())
	default:
		t.Fatalf("testutil: %q not printed within %v\nstdout:\n%s\nstderr:\n%s", substr, timeout, p.Stdout(), p.Stderr())
	}
}

// Buffer is a bytes.Buffer that is safe for concurrent writers and
// readers: a log sink for a component under test (slog handlers, a
// command's stdout and stderr) that the test reads while it runs. The zero
// value is ready to use.
type Buffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

// Write appends p to the buffer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
