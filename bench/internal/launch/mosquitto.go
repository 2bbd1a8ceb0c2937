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

// Mosquitto is one mosquitto process with a plain and a TLS listener on loopback.
type Mosquitto struct {
	Plain, TLSAddr string      // listen addresses
	TLS            *tls.Config // trusts the throwaway CA, server name localhost
	proc           *Process
}

// StartMosquitto writes a throwaway PKI and a config under dir, starts `bin -c` and waits
// until both listeners accept. maxConnections caps each listener (0: no cap).
func StartMosquitto(ctx context.Context, bin, dir string, maxConnections int) (*Mosquitto, error) {
	if _, err := exec.LookPath(bin); err != nil {
		return nil, fmt.Errorf("launch: mosquitto binary %q: %w (apt-get install -y mosquitto)", bin, err)
	}
	certs, err := writeThrowawayPKI(dir, time.Now())
	if err != nil {
		return nil, err
	}
	cfg := MosquittoConfig{Certs: certs, MaxConnections: maxConnections}
	if cfg.Plain, err = FreePort(); err != nil {
		return nil, err
	}
	if cfg.TLS, err = FreePort(); err != nil {
		return nil, err
	}
	if u, err := user.Current(); err == nil {
		cfg.RunAs = u.Username
	}
	conf := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(conf, []byte(cfg.String()), 0o600); err != nil {
		return nil, fmt.Errorf("launch: write mosquitto config: %w", err)
	}
	m := &Mosquitto{Plain: cfg.Plain, TLSAddr: cfg.TLS}
	if m.proc, err = Start("mosquitto", filepath.Join(dir, "mosquitto.log"), bin, "-c", conf); err != nil {
		return nil, err
	}
	if err := m.ready(ctx, certs.CA); err != nil {
		m.proc.Stop()
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
	host, pport, _ := net.SplitHostPort(c.Plain) // addresses from FreePort
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
