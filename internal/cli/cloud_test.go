package cli

import (
	"bufio"
	"io"
	"net"
	"net/http"
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

// TestCloudServe_MaxConnections: with --max-connections 2 and two connections open (a
// connection counts from accept, before its CONNECT), a third is answered CONNACK 0x03,
// and the refusal is counted in the metrics (RELIABILITY D4).
func TestCloudServe_MaxConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cloud")
	}
	_, logs, addrs := serveCloud(t, "--mqtt-listen", anyPort, "--https-listen", anyPort,
		"--dev-plain-mqtt", anyPort, "--metrics-listen", anyPort, "--max-connections", "2")
	plain, metrics := addrs.PlainMQTT, addrs.Metrics
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

	over, err := net.Dial("tcp", plain)
	if err != nil {
		t.Fatal(err)
	}
	defer over.Close()
	connect, err := packet.Encode(&packet.Connect{ProtocolName: "MQTT", ProtocolLevel: 4, ClientID: "d1", HasUsername: true,
		Username: "localhost/d1/?api-version=2021-04-12", Password: []byte("SharedAccessSignature x"), HasPassword: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := over.Write(connect); err != nil {
		t.Fatal(err)
	}
	_ = over.SetReadDeadline(time.Now().Add(10 * time.Second))
	p, err := packet.NewReader(bufio.NewReader(over), 0).ReadPacket()
	if ack, ok := p.(*packet.Connack); err != nil || !ok || ack.ReturnCode != 3 {
		t.Fatalf("over the cap: got %v, %v; want CONNACK 0x03 (log: %s)", p, err, logs.String())
	}
	if got := scrape(t, metrics, `outpost_mqtt_rejected_connections_total{reason="max_connections"}`); got != "1" {
		t.Errorf("rejected max_connections = %q, want 1", got)
	}
	if got := scrape(t, metrics, `outpost_mqtt_connect_refused_total{code="3"}`); got != "1" {
		t.Errorf("connect refused code 3 = %q, want 1", got)
	}
}
