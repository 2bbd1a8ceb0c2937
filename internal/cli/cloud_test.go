package cli

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/mqtt/packet"
	"github.com/outpost-iot/outpost/internal/testutil"
)

// scrape returns the value of the metric line starting with series ("" when absent).
func scrape(t *testing.T, addr, series string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok {
			return v
		}
	}
	return ""
}

// TestCloudServe_MaxConnections: with --max-connections 2, two devices connected and two
// connections that have sent nothing (they do not count before CONNACK), a third device is
// answered CONNACK 0x03, and the refusal is counted in the metrics (RELIABILITY D1, D4).
func TestCloudServe_MaxConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cloud")
	}
	dir, logs, addrs := serveCloud(t, "--mqtt-listen", anyPort, "--https-listen", anyPort,
		"--dev-plain-mqtt", anyPort, "--metrics-listen", anyPort, "--max-connections", "2")
	plain, metrics, https := addrs.PlainMQTT, addrs.Metrics, addrs.HTTPS
	for range 2 {
		nc, err := net.Dial("tcp", plain)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = nc.Close() })
	}
	testutil.Eventually(t, 10*time.Second, func() bool {
		return scrape(t, metrics, `outpost_mqtt_open_connections{transport="tcp"}`) == "2"
	}, "two open connections")
	hub := hubEnv(t, dir, https)
	for _, id := range []string{"d1", "d2"} {
		if ack := connectDevice(t, plain, hub, id); ack.ReturnCode != 0 {
			t.Fatalf("%s under the cap: CONNACK %d (log: %s)", id, ack.ReturnCode, logs.String())
		}
	}
	if ack := connectDevice(t, plain, hub, "d3"); ack.ReturnCode != 3 {
		t.Fatalf("over the cap: CONNACK %d, want 0x03 (log: %s)", ack.ReturnCode, logs.String())
	}
	if got := scrape(t, metrics, `outpost_mqtt_rejected_connections_total{reason="max_connections"}`); got != "1" {
		t.Errorf("rejected max_connections = %q, want 1", got)
	}
	if got := scrape(t, metrics, `outpost_mqtt_connect_refused_total{code="3"}`); got != "1" {
		t.Errorf("connect refused code 3 = %q, want 1", got)
	}
}

// hubEnv returns the environment of CLI commands against the cloud of dir.
func hubEnv(t *testing.T, dir, https string) map[string]string {
	t.Helper()
	r := runWith(t, &env{getenv: mapEnv(nil), now: time.Now}, "", "cloud", "connection-string", "--data", dir)
	if r.code != 0 {
		t.Fatalf("connection-string: %s", r.stderr)
	}
	return map[string]string{EnvConnectionString: strings.TrimSpace(r.stdout), EnvCAFile: filepath.Join(dir, "ca.pem"),
		EnvEndpoint: "https://" + https}
}

// connectDevice creates device id and sends its CONNECT (SAS) over plain MQTT at addr; it
// returns the CONNACK. The connection stays open until the test ends.
func connectDevice(t *testing.T, addr string, hub map[string]string, id string) *packet.Connack {
	t.Helper()
	e := &env{getenv: mapEnv(hub), now: time.Now}
	r := runWith(t, e, "", "device", "create", id)
	if r.code != 0 {
		t.Fatalf("device create %s: %s", id, r.stderr)
	}
	r = runWith(t, e, "", "sas-token", "--connection-string", strings.TrimSpace(r.stdout))
	if r.code != 0 {
		t.Fatalf("sas-token %s: %s", id, r.stderr)
	}
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	connect, err := packet.Encode(&packet.Connect{ProtocolName: "MQTT", ProtocolLevel: 4, ClientID: id, HasUsername: true,
		Username: "localhost/" + id + "/?api-version=2021-04-12", Password: []byte(strings.TrimSpace(r.stdout)), HasPassword: true,
		CleanSession: true, KeepAlive: 60})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write(connect); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	p, err := packet.NewReader(bufio.NewReader(nc), 0).ReadPacket()
	ack, ok := p.(*packet.Connack)
	if err != nil || !ok {
		t.Fatalf("%s: got %v, %v; want CONNACK", id, p, err)
	}
	return ack
}
