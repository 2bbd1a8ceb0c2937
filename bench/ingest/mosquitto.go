package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/outpost-iot/outpost/bench/mqttload"
)

// mosquittoSystem is one mosquitto process with a plain and a TLS listener on loopback.
type mosquittoSystem struct {
	proc           *process
	plain, tlsAddr string
	tlsTarget      mqttload.Target
	devices        []mqttload.Device
}

// startMosquitto writes a throwaway PKI and config under dir and starts `mosquitto -c`.
func startMosquitto(ctx context.Context, bin, dir string, devices int) (*mosquittoSystem, error) {
	if _, err := exec.LookPath(bin); err != nil {
		return nil, fmt.Errorf("bench: mosquitto binary %q: %w (apt-get install -y mosquitto)", bin, err)
	}
	certs, err := writeThrowawayPKI(dir, time.Now())
	if err != nil {
		return nil, err
	}
	s := &mosquittoSystem{}
	if s.plain, err = freePort(); err != nil {
		return nil, err
	}
	if s.tlsAddr, err = freePort(); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "mosquitto.conf")
	runAs := ""
	if u, err := user.Current(); err == nil {
		runAs = u.Username
	}
	if err := os.WriteFile(conf, []byte(mosquittoConfig(s.plain, s.tlsAddr, certs, runAs)), 0o600); err != nil {
		return nil, fmt.Errorf("bench: write mosquitto config: %w", err)
	}
	if s.proc, err = startProcess("mosquitto", filepath.Join(dir, "mosquitto.log"), bin, "-c", conf); err != nil {
		return nil, err
	}
	ready := func() error { return errors.Join(dialable(s.plain), dialable(s.tlsAddr)) }
	if err := s.proc.waitReady(ctx, 15*time.Second, ready); err != nil {
		s.proc.stop()
		return nil, err
	}
	caPEM, err := os.ReadFile(certs.CA)
	if err != nil {
		s.proc.stop()
		return nil, fmt.Errorf("bench: read ca: %w", err)
	}
	tlsCfg, err := clientTLS(caPEM, "localhost")
	if err != nil {
		s.proc.stop()
		return nil, err
	}
	s.tlsTarget = mqttload.Target{Addr: s.tlsAddr, TLS: tlsCfg}
	for i := range devices {
		id := deviceID(i)
		s.devices = append(s.devices, mqttload.Device{ClientID: id, Topic: telemetryTopic(id)})
	}
	return s, nil
}

// mosquittoConfig allows anonymous clients, keeps nothing on disk, and sets TCP_NODELAY so
// PUBACKs are not held back by Nagle's algorithm (Go sockets, hence outpost's, set it by default).
// runAs is the current user: as root mosquitto would otherwise switch to user "mosquitto", which
// cannot read our temp dir; as any other user the option is ignored.
func mosquittoConfig(plain, tlsAddr string, c certFiles, runAs string) string {
	host, pport, _ := net.SplitHostPort(plain) // addresses from freePort
	_, tport, _ := net.SplitHostPort(tlsAddr)
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
	if runAs != "" {
		lines = append(lines, "user "+runAs)
	}
	lines = append(lines,
		"listener "+pport+" "+host,
		"listener "+tport+" "+host,
		"cafile "+c.CA,
		"certfile "+c.Cert,
		"keyfile "+c.Key,
	)
	return strings.Join(lines, "\n") + "\n"
}

func (s *mosquittoSystem) target(transport string) (mqttload.Target, []mqttload.Device) {
	if transport == "tls" {
		return s.tlsTarget, s.devices
	}
	return mqttload.Target{Addr: s.plain}, s.devices
}

func (s *mosquittoSystem) stop() { s.proc.stop() }

func (s *mosquittoSystem) pid() int { return s.proc.cmd.Process.Pid }
