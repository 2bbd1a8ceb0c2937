package launch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/outpost-iot/outpost/bench/mqttload"
)

// FreePort returns a loopback address with a port that was free a moment ago.
func FreePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("launch: free port: %w", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return "", fmt.Errorf("launch: free port: %w", err)
	}
	return addr, nil
}

// Broker is a running broker process serving a plain ("tcp") and a TLS ("tls") MQTT listener.
type Broker interface {
	Target(transport string) mqttload.Target
	Pid() int
	Stop()
}

var (
	_ Broker = (*Outpost)(nil)
	_ Broker = (*Mosquitto)(nil)
)

// Process is a child broker started and stopped by a benchmark.
type Process struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited
	err    error         // Wait's result, valid after exited is closed
	log    string
}

// Start runs argv with stdout and stderr appended to logPath. On Linux the child is killed
// if the benchmark dies (Pdeathsig), so an interrupted run leaves no broker behind.
func Start(name, logPath string, argv ...string) (*Process, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("launch: %s log: %w", name, err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, fmt.Errorf("launch: start %s: %w", name, err)
	}
	p := &Process{name: name, cmd: cmd, exited: make(chan struct{}), log: logPath}
	go func() {
		p.err = cmd.Wait()
		_ = logf.Close()
		close(p.exited)
	}()
	return p, nil
}

// Pid is the child's process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Stop sends SIGTERM, waits up to 10 s, then kills. It only ever signals its own child by pid.
func (p *Process) Stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// WaitReady polls ready until it returns nil, the process exits, or the timeout passes.
func (p *Process) WaitReady(ctx context.Context, timeout time.Duration, ready func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("launch: %s exited before ready (%v); see %s", p.name, p.err, p.log)
		case <-ctx.Done():
			return fmt.Errorf("launch: %s not ready after %s: %w; see %s", p.name, timeout, err, p.log)
		case <-tick.C:
		}
	}
}

// Dialable reports whether something accepts TCP connections at addr.
func Dialable(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

// ClientTLS trusts only the CA in caPEM and expects the given server name.
func ClientTLS(caPEM []byte, serverName string) (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("launch: no certificate in CA file")
	}
	return &tls.Config{RootCAs: pool, ServerName: serverName, MinVersion: tls.VersionTLS12}, nil
}

// fileSize is the size of the file at path, 0 if there is none yet.
func fileSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("launch: %w", err)
	}
	return fi.Size(), nil
}

// readFrom returns the file's content from offset from on.
func readFrom(path string, from int64) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("launch: read log: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.NewSectionReader(f, from, math.MaxInt64-from))
	if err != nil {
		return "", fmt.Errorf("launch: read log %s: %w", path, err)
	}
	return string(b), nil
}
