package launch

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/outpost-iot/outpost/bench/mqttload"
	"github.com/outpost-iot/outpost/internal/hubclient"
	"github.com/outpost-iot/outpost/internal/iothub"
)

// OutpostHost is the hub host name outpost is started with; its server certificate names it
// (no IP SAN), so TLS clients dial 127.0.0.1 and verify this name.
const OutpostHost = "localhost"

// Outpost is an `outpost cloud serve` process with TLS and plain MQTT listeners.
type Outpost struct {
	Bin, Data string
	MQTT      string      // MQTT over TLS listen address
	Plain     string      // plain MQTT (--dev-plain-mqtt)
	HTTPS     string      // service REST API
	Metrics   string      // Prometheus
	TLS       *tls.Config // trusts the cloud's CA, server name OutpostHost
	proc      *Process
}

// BuildOutpost compiles ./cmd/outpost (relative to the working directory, the module root)
// into dir and returns the binary path.
func BuildOutpost(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "outpost")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/outpost")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("launch: go build ./cmd/outpost (run from the repository root, or pass -outpost): %w\n%s", err, out)
	}
	return bin, nil
}

// StartOutpost starts `bin cloud serve` with its state in data (created on first start, reused
// after), extra flags appended, and output appended to logPath; it returns once the CA is written
// and every listener accepts. Every listener is given 127.0.0.1:0 and its address is learnt from
// the cloud's "listening" log line, so no other process can take a port between its choice and
// its bind (FreePort's race).
func StartOutpost(ctx context.Context, bin, data, logPath string, extra ...string) (*Outpost, error) {
	o := &Outpost{Bin: bin, Data: data}
	// The log is appended to across restarts: only the lines of this start count.
	from, err := fileSize(logPath)
	if err != nil {
		return nil, err
	}
	args := append([]string{bin, "cloud", "serve", "--data", data, "--hostname", OutpostHost,
		"--mqtt-listen", anyPort, "--https-listen", anyPort, "--dev-plain-mqtt", anyPort,
		"--metrics-listen", anyPort, "--log-format", "text"}, extra...)
	if o.proc, err = Start("outpost", logPath, args...); err != nil {
		return nil, err
	}
	if err := o.ready(ctx, logPath, from); err != nil {
		o.proc.Stop()
		return nil, err
	}
	return o, nil
}

// anyPort lets the kernel pick a loopback port.
const anyPort = "127.0.0.1:0"

func (o *Outpost) caFile() string { return filepath.Join(o.Data, "ca.pem") }

func (o *Outpost) ready(ctx context.Context, logPath string, from int64) error {
	want := map[string]*string{"mqtts": &o.MQTT, "mqtt": &o.Plain, "https": &o.HTTPS, "metrics": &o.Metrics}
	ready := func() error {
		addrs, err := listeningAddrs(logPath, from)
		if err != nil {
			return err
		}
		for transport, p := range want {
			if *p = addrs[transport]; *p == "" {
				return fmt.Errorf("launch: no %s listening line in %s yet", transport, logPath)
			}
		}
		// Written after every listener is bound (and kept from an earlier start).
		if _, err := os.Stat(o.caFile()); err != nil {
			return err
		}
		return errors.Join(Dialable(o.MQTT), Dialable(o.Plain), Dialable(o.HTTPS))
	}
	if err := o.proc.WaitReady(ctx, 60*time.Second, ready); err != nil {
		return err
	}
	caPEM, err := os.ReadFile(o.caFile())
	if err != nil {
		return fmt.Errorf("launch: read outpost ca: %w", err)
	}
	o.TLS, err = ClientTLS(caPEM, OutpostHost)
	return err
}

// listeningAddrs reads the log from offset from and returns the address of each transport from
// the cloud's text-format lines `msg=listening transport=mqtts addr=127.0.0.1:40123` (the plain
// listener's message is "listening without TLS (development only)"). Only whole lines count:
// the child may be halfway through writing one.
func listeningAddrs(logPath string, from int64) (map[string]string, error) {
	logged, err := readFrom(logPath, from)
	if err != nil {
		return nil, err
	}
	addrs := map[string]string{}
	for line := range strings.Lines(logged) {
		if !strings.HasSuffix(line, "\n") {
			break
		}
		if !strings.Contains(line, "msg=listening") && !strings.Contains(line, `msg="listening`) {
			continue
		}
		transport, addr := logField(line, "transport"), logField(line, "addr")
		if transport != "" && addr != "" {
			addrs[transport] = addr
		}
	}
	return addrs, nil
}

// logField returns the value of key=value in a text-format slog line (values without spaces).
func logField(line, key string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

// CreateDevices registers the devices ids through the service REST API, conc requests at a
// time over kept-alive connections, and returns them as MQTT identities the way IoT Hub
// devices connect (IOTEDGE-REFERENCE §1.4): client id = device id, username
// `localhost/{id}/?api-version=2021-04-12`, password a SAS token valid for ttl.
func (o *Outpost) CreateDevices(ctx context.Context, ids []string, conc int, ttl time.Duration) ([]mqttload.Device, error) {
	client, tr, err := o.serviceClient(ctx, conc)
	if err != nil {
		return nil, err
	}
	// Idle kept-alive connections would hold the cloud's shutdown for its 5 s grace.
	defer tr.CloseIdleConnections()
	out := make([]mqttload.Device, len(ids))
	errs := make([]error, len(ids))
	sem := make(chan struct{}, max(conc, 1))
	var wg sync.WaitGroup
	for i, id := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			out[i], errs[i] = createDevice(ctx, client, id, ttl)
		})
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
		return nil, fmt.Errorf("launch: %d of %d devices not created, first error: %w", failed, len(ids), first)
	}
	return out, nil
}

// serviceClient reads the service connection string with `outpost cloud connection-string`
// and returns a REST client keeping up to conc HTTP/1.1 connections alive, and its transport.
func (o *Outpost) serviceClient(ctx context.Context, conc int) (*hubclient.Client, *http.Transport, error) {
	cs, err := o.cli(ctx, "HostName=", "cloud", "connection-string", "--data", o.Data)
	if err != nil {
		return nil, nil, err
	}
	_, port, _ := net.SplitHostPort(o.HTTPS) // the address the cloud logged
	tr := &http.Transport{TLSClientConfig: o.TLS, MaxIdleConnsPerHost: max(conc, 1)}
	c, err := hubclient.New(hubclient.Config{ConnectionString: cs, Endpoint: "https://" + OutpostHost + ":" + port,
		HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		return nil, nil, fmt.Errorf("launch: service client: %w", err)
	}
	return c, tr, nil
}

func createDevice(ctx context.Context, c *hubclient.Client, id string, ttl time.Duration) (mqttload.Device, error) {
	key := newKey()
	d := &hubclient.Device{DeviceID: id, Status: "enabled", Authentication: &hubclient.Authentication{
		Type: "sas", SymmetricKey: &iothub.SymmetricKey{PrimaryKey: key, SecondaryKey: newKey()}}}
	if _, err := c.CreateDevice(ctx, d); err != nil {
		return mqttload.Device{}, fmt.Errorf("launch: %w", err)
	}
	sas, err := iothub.NewSASToken(iothub.DeviceResource(OutpostHost, id), key, "", time.Now().Add(ttl))
	if err != nil {
		return mqttload.Device{}, fmt.Errorf("launch: sas token for %s: %w", id, err)
	}
	return mqttload.Device{ClientID: id, Username: DeviceUsername(id), Password: sas, Topic: TelemetryTopic(id)}, nil
}

// newKey returns a random 32-byte SAS key, base64 like the keys IoT Hub generates.
func newKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// DeviceUsername is the MQTT username of a device of OutpostHost (IOTEDGE-REFERENCE §1.4).
func DeviceUsername(id string) string { return OutpostHost + "/" + id + "/?api-version=2021-04-12" }

// TelemetryTopic is the device telemetry topic without a property bag (IOTEDGE-REFERENCE §1.5).
func TelemetryTopic(id string) string { return "devices/" + id + "/messages/events/" }

// cli runs the outpost CLI and returns the first stdout line starting with prefix (whole
// trimmed stdout if none does). Arguments may hold secrets: errors name only the subcommand.
func (o *Outpost) cli(ctx context.Context, prefix string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, o.Bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	what := "outpost " + strings.Join(args[:min(2, len(args))], " ")
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("launch: %s: %w: %s", what, err, strings.TrimSpace(stderr.String()))
	}
	for line := range strings.Lines(stdout.String()) {
		if line = strings.TrimSpace(line); strings.HasPrefix(line, prefix) {
			return line, nil
		}
	}
	if v := strings.TrimSpace(stdout.String()); v != "" && !strings.Contains(v, "\n") {
		return v, nil
	}
	return "", fmt.Errorf("launch: %s: no %q line in its output", what, prefix)
}

// Target returns the TLS ("tls") or plain ("tcp") MQTT listener.
func (o *Outpost) Target(transport string) mqttload.Target {
	if transport == "tls" {
		return mqttload.Target{Addr: o.MQTT, TLS: o.TLS}
	}
	return mqttload.Target{Addr: o.Plain}
}

// Stop stops the process (SIGTERM, a clean shutdown).
func (o *Outpost) Stop() { o.proc.Stop() }

// Pid is the process id.
func (o *Outpost) Pid() int { return o.proc.Pid() }
