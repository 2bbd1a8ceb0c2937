package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/outpost-iot/outpost/bench/mqttload"
)

// outpostHost is the hub hostname the cloud is started with; it is the SAS audience host, the
// MQTT username prefix and the TLS server name.
const outpostHost = "localhost"

// outpostSystem is one `outpost cloud serve` process with its TLS and plain MQTT listeners
// and N devices registered through the CLI.
type outpostSystem struct {
	bin, data        string
	proc             *process
	mqtt, plain      string
	https, metrics   string
	tlsTarget        mqttload.Target
	devices          []mqttload.Device
	setupConcurrency int
}

// buildOutpost compiles ./cmd/outpost (relative to the working directory, the module root)
// into dir and returns the binary path.
func buildOutpost(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "outpost")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/outpost")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("bench: go build ./cmd/outpost (run from the repository root, or pass -outpost): %w\n%s", err, out)
	}
	return bin, nil
}

// startOutpost starts the cloud on four free loopback ports, waits until it is ready, then
// creates the devices and their SAS tokens with the CLI (bounded concurrency).
func startOutpost(ctx context.Context, bin, dir string, devices, conc int) (*outpostSystem, error) {
	s := &outpostSystem{bin: bin, data: filepath.Join(dir, "data"), setupConcurrency: conc}
	for _, a := range []*string{&s.mqtt, &s.https, &s.plain, &s.metrics} {
		addr, err := freePort()
		if err != nil {
			return nil, err
		}
		*a = addr
	}
	var err error
	s.proc, err = startProcess("outpost", filepath.Join(dir, "outpost.log"), bin, "cloud", "serve",
		"--data", s.data, "--hostname", outpostHost,
		"--mqtt-listen", s.mqtt, "--https-listen", s.https,
		"--dev-plain-mqtt", s.plain, "--metrics-listen", s.metrics,
		// The broker's per-connection flood limit (1000 packets/s) would measure the limit, not
		// the ingest path; mosquitto has none either.
		"--max-client-rate", "0")
	if err != nil {
		return nil, err
	}
	if err := s.setup(ctx, devices); err != nil {
		s.proc.stop()
		return nil, err
	}
	return s, nil
}

func (s *outpostSystem) setup(ctx context.Context, devices int) error {
	caFile := filepath.Join(s.data, "ca.pem")
	ready := func() error {
		if _, err := os.Stat(caFile); err != nil {
			return err
		}
		return errors.Join(dialable(s.mqtt), dialable(s.plain), dialable(s.https))
	}
	if err := s.proc.waitReady(ctx, 60*time.Second, ready); err != nil {
		return err
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return fmt.Errorf("bench: read outpost ca: %w", err)
	}
	tlsCfg, err := clientTLS(caPEM, outpostHost)
	if err != nil {
		return err
	}
	s.tlsTarget = mqttload.Target{Addr: s.mqtt, TLS: tlsCfg}
	cs, err := s.cli(ctx, "HostName=", "cloud", "connection-string", "--data", s.data)
	if err != nil {
		return err
	}
	s.devices, err = s.createDevices(ctx, cs, caFile, devices)
	return err
}

// createDevices registers bench-0..bench-(n-1) and fetches a 2 h SAS token for each.
func (s *outpostSystem) createDevices(ctx context.Context, serviceCS, caFile string, n int) ([]mqttload.Device, error) {
	out := make([]mqttload.Device, n)
	errs := make([]error, n)
	sem := make(chan struct{}, max(s.setupConcurrency, 1))
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i], errs[i] = s.createDevice(ctx, deviceID(i), serviceCS, caFile)
		}()
	}
	wg.Wait()
	failed := 0
	var first error
	for _, err := range errs {
		if err != nil {
			failed++
			first = cmp.Or(first, err)
		}
	}
	if first != nil {
		return nil, fmt.Errorf("bench: %d of %d devices not created, first error: %w", failed, n, first)
	}
	return out, nil
}

func (s *outpostSystem) createDevice(ctx context.Context, id, serviceCS, caFile string) (mqttload.Device, error) {
	// The server certificate names only the hub hostnames (no IP SAN), so the REST endpoint is
	// addressed as localhost, which resolves to the loopback listener.
	_, port, _ := net.SplitHostPort(s.https) // an address from freePort
	dcs, err := s.cli(ctx, "HostName=", "device", "create", id, "--connection-string", serviceCS,
		"--ca-file", caFile, "--endpoint", "https://"+outpostHost+":"+port)
	if err != nil {
		return mqttload.Device{}, err
	}
	sas, err := s.cli(ctx, "SharedAccessSignature ", "sas-token", "--connection-string", dcs, "--ttl", "2h")
	if err != nil {
		return mqttload.Device{}, err
	}
	return mqttload.Device{
		ClientID: id,
		Username: outpostHost + "/" + id + "/?api-version=2021-04-12",
		Password: sas,
		Topic:    telemetryTopic(id),
	}, nil
}

// cli runs the outpost CLI and returns the first stdout line starting with prefix (whole
// trimmed stdout if none does). Arguments may hold secrets: errors name only the subcommand.
func (s *outpostSystem) cli(ctx context.Context, prefix string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, s.bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	what := "outpost " + strings.Join(args[:min(2, len(args))], " ")
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("bench: %s: %w: %s", what, err, strings.TrimSpace(stderr.String()))
	}
	for line := range strings.Lines(stdout.String()) {
		if line = strings.TrimSpace(line); strings.HasPrefix(line, prefix) {
			return line, nil
		}
	}
	if v := strings.TrimSpace(stdout.String()); v != "" && !strings.Contains(v, "\n") {
		return v, nil
	}
	return "", fmt.Errorf("bench: %s: no %q line in its output", what, prefix)
}

func (s *outpostSystem) target(transport string) (mqttload.Target, []mqttload.Device) {
	if transport == "tls" {
		return s.tlsTarget, s.devices
	}
	return mqttload.Target{Addr: s.plain}, s.devices
}

func (s *outpostSystem) stop() { s.proc.stop() }

func (s *outpostSystem) pid() int { return s.proc.cmd.Process.Pid }
