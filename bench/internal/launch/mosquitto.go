package launch

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/outpost-iot/outpost/bench/mqttload"
)

// pickPort is FreePort; tests replace it to hand out a taken port.
var pickPort = FreePort

// Mosquitto is one mosquitto process with a plain and a TLS listener on loopback.
type Mosquitto struct {
	Plain, TLSAddr string      // listen addresses
	TLS            *tls.Config // trusts the throwaway CA, server name localhost
	proc           *Process
}

// StartMosquitto writes a throwaway PKI and a config under dir, starts `bin -c` and waits
// until both listeners accept. maxConnections caps each listener (0: no cap).
//
// Mosquitto cannot bind port 0 and report what it got, so its ports come from FreePort, which
// another process may take before mosquitto binds it: a start that fails with "Address already
// in use" is retried with new ports, up to mosquittoStarts times.
func StartMosquitto(ctx context.Context, bin, dir string, maxConnections int) (*Mosquitto, error) {
	if _, err := exec.LookPath(bin); err != nil {
		return nil, fmt.Errorf("launch: mosquitto binary %q: %w (apt-get install -y mosquitto)", bin, err)
	}
	certs, err := writeThrowawayPKI(dir, time.Now())
	if err != nil {
		return nil, err
	}
	cfg := MosquittoConfig{Certs: certs, MaxConnections: maxConnections}
	if u, err := user.Current(); err == nil {
		cfg.RunAs = u.Username
	}
	for attempt := 1; ; attempt++ {
		m, err := startMosquittoOnce(ctx, bin, dir, cfg)
		if err == nil || !errors.Is(err, errPortTaken) || attempt == mosquittoStarts {
			return m, err
		}
	}
}

// mosquittoStarts bounds the starts of StartMosquitto that lose a port race.
const mosquittoStarts = 3

// errPortTaken marks a mosquitto start that failed because a listener's port was taken.
var errPortTaken = errors.New("port taken")

func startMosquittoOnce(ctx context.Context, bin, dir string, cfg MosquittoConfig) (*Mosquitto, error) {
	var err error
	if cfg.Plain, err = pickPort(); err != nil {
		return nil, err
	}
	if cfg.TLS, err = pickPort(); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(conf, []byte(cfg.String()), 0o600); err != nil {
		return nil, fmt.Errorf("launch: write mosquitto config: %w", err)
	}
	logPath := filepath.Join(dir, "mosquitto.log")
	from, err := fileSize(logPath)
	if err != nil {
		return nil, err
	}
	m := &Mosquitto{Plain: cfg.Plain, TLSAddr: cfg.TLS}
	if m.proc, err = Start("mosquitto", logPath, bin, "-c", conf); err != nil {
		return nil, err
	}
	if err := m.ready(ctx, cfg.Certs.CA); err != nil {
		m.proc.Stop()
		if logged, _ := readFrom(logPath, from); strings.Contains(logged, "Address already in use") {
			return nil, fmt.Errorf("launch: mosquitto on %s and %s: %w: %w", cfg.Plain, cfg.TLS, errPortTaken, err)
		}
		return nil, err
	}
	return m, nil
}

func (m *Mosquitto) ready(ctx context.Context, caFile string) error {
	ready := func() error { return errors.Join(Dialable(m.Plain), Dialable(m.TLSAddr)) }
	if err := m.proc.WaitReady(ctx, 15*time.Second, ready); err != nil {
		return err
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return fmt.Errorf("launch: read ca: %w", err)
	}
	m.TLS, err = ClientTLS(caPEM, "localhost")
	return err
}

// MosquittoConfig is the generated mosquitto.conf.
type MosquittoConfig struct {
	Plain, TLS     string // listen addresses
	Certs          CertFiles
	RunAs          string // the current user; see String
	MaxConnections int    // per listener; 0 leaves mosquitto's default (no cap)
}

// String renders the config: anonymous clients allowed, nothing kept on disk, and
// TCP_NODELAY set so PUBACKs are not held back by Nagle's algorithm (Go sockets, hence
// outpost's, set it by default). RunAs: as root mosquitto would otherwise switch to user
// "mosquitto", which cannot read the temp dir; as any other user the option is ignored.
func (c MosquittoConfig) String() string {
	host, pport, _ := net.SplitHostPort(c.Plain) // addresses from pickPort
	_, tport, _ := net.SplitHostPort(c.TLS)
	lines := []string{
		"per_listener_settings false",
		"allow_anonymous true",
		"persistence false",
		"set_tcp_nodelay true",
		"max_queued_messages 100000",
		"log_dest stderr",
		"log_type error",
		"log_type warning",
	}
	if c.RunAs != "" {
		lines = append(lines, "user "+c.RunAs)
	}
	lines = append(lines, "listener "+pport+" "+host)
	lines = append(lines, c.listenerLimits()...)
	lines = append(lines, "listener "+tport+" "+host)
	lines = append(lines, c.listenerLimits()...)
	lines = append(lines,
		"cafile "+c.Certs.CA,
		"certfile "+c.Certs.Cert,
		"keyfile "+c.Certs.Key,
	)
	return strings.Join(lines, "\n") + "\n"
}

func (c MosquittoConfig) listenerLimits() []string {
	if c.MaxConnections == 0 {
		return nil
	}
	return []string{"max_connections " + strconv.Itoa(c.MaxConnections)}
}

// Target returns the plain ("tcp") or TLS ("tls") listener.
func (m *Mosquitto) Target(transport string) mqttload.Target {
	if transport == "tls" {
		return mqttload.Target{Addr: m.TLSAddr, TLS: m.TLS}
	}
	return mqttload.Target{Addr: m.Plain}
}

// Stop stops the process.
func (m *Mosquitto) Stop() { m.proc.Stop() }

// Pid is the process id.
func (m *Mosquitto) Pid() int { return m.proc.Pid() }
