package cloud_test

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/hubclient"
	"github.com/outpost-iot/outpost/internal/testutil"
)

// TestOversizeMessageClosesConnection: IoT Hub refuses messages over 256 KB (IOTEDGE-REFERENCE §1.9).
func TestOversizeMessageClosesConnection(t *testing.T) {
	tc := startCloud(t)
	key := tc.createDevice("big")
	c := tc.mustConnect("big", "", key, clientOpts{})
	c.Publish("devices/big/messages/events/", 1, false, strings.Repeat("x", 262145)).WaitTimeout(5 * time.Second)
	testutil.Eventually(t, 10*time.Second, func() bool { return !c.IsConnectionOpen() }, "oversize message did not close the connection")
	evs, err := tc.svc.Events(tc.ctx(), hubclient.EventFilter{DeviceID: "big"}, 0, 10)
	if err != nil || len(evs) != 0 {
		t.Fatalf("oversize message stored: %v %d", err, len(evs))
	}
	// Just under the limit goes through.
	c = tc.mustConnect("big", "", key, clientOpts{})
	wait(t, c.Publish("devices/big/messages/events/", 1, false, strings.Repeat("x", 200*1024)))
}

// TestTLSOnly_F6: old TLS versions and plain MQTT on the TLS port are refused.
func TestTLSOnly_F6(t *testing.T) {
	tc := startCloud(t)
	for _, addr := range []string{tc.cfg.MQTTListen, tc.cfg.HTTPSListen} {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: tc.pool, ServerName: hubHost, MaxVersion: tls.VersionTLS11}) //nolint:gosec // the point of the test
		if err == nil {
			conn.Close()
			t.Fatalf("%s accepted TLS 1.1", addr)
		}
	}
	raw, err := net.DialTimeout("tcp", tc.cfg.MQTTListen, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	// A plain MQTT CONNECT on the TLS port never gets a CONNACK.
	_, _ = raw.Write([]byte{0x10, 0x0c, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3c, 0x00, 0x00})
	_ = raw.SetReadDeadline(time.Now().Add(15 * time.Second))
	buf, _ := io.ReadAll(raw)
	if len(buf) >= 2 && buf[0] == 0x20 {
		t.Fatalf("plain CONNECT answered with a CONNACK on the TLS port")
	}
}

// TestBruteForceRefused_F1 sends many wrong passwords: every one is refused, the device itself
// still connects, and the failures are counted.
func TestBruteForceRefused_F1(t *testing.T) {
	tc := startCloud(t, func(c *cloudConfig) { c.AuthBackoffStep, c.AuthBackoffMax = time.Millisecond, 5*time.Millisecond })
	key := tc.createDevice("victim")
	se := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	for i := 0; i < 100; i++ {
		pw := "SharedAccessSignature sr=localhost%2Fdevices%2Fvictim&sig=guess" + strings.Repeat("A", i%7) + "&se=" + se
		if _, err := tc.connect("victim", "", key, clientOpts{password: &pw, cleanStart: true}); refusedCode(err) != "0x05" {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	tc.mustConnect("victim", "", key, clientOpts{}).Disconnect(0)
	if v := scrape(t, tc, `outpost_cloud_auth_failures_total{reason="bad_signature"}`); v != "100" {
		t.Fatalf("auth failures counted %q", v)
	}
	if v := scrape(t, tc, `outpost_mqtt_connect_refused_total{code="5"}`); v != "100" {
		t.Fatalf("refused CONNACKs counted %q", v)
	}
	// The first ten failures of the minute are answered at once, the other ninety held back.
	if v := scrape(t, tc, "outpost_cloud_auth_refusals_delayed_total"); v != "90" {
		t.Fatalf("delayed refusals %q", v)
	}
}

func TestMetricsCountTraffic(t *testing.T) {
	tc := startCloud(t)
	key := tc.createDevice("m")
	c := tc.mustConnect("m", "", key, clientOpts{})
	wait(t, c.Publish("devices/m/messages/events/", 1, false, "1"))
	if v := scrape(t, tc, "outpost_cloud_d2c_messages_total"); v != "1" {
		t.Fatalf("d2c counter %q", v)
	}
	if v := scrape(t, tc, "outpost_cloud_connected_devices"); v != "1" {
		t.Fatalf("connected gauge %q", v)
	}
	// Group commits of the event log: records per commit and sync latency (issue 5).
	if v := scrape(t, tc, "outpost_cloud_event_commit_records_sum"); v != "1" {
		t.Fatalf("records per commit: sum %q, want 1", v)
	}
	if v := scrape(t, tc, "outpost_cloud_event_commit_sync_seconds_count"); v != "1" {
		t.Fatalf("commit sync latency: count %q, want 1", v)
	}
	subscribe(t, c, "devices/other/messages/devicebound/#", nil)
	if v := scrape(t, tc, "outpost_cloud_refused_subscriptions_total"); v != "1" {
		t.Fatalf("refused subscriptions %q", v)
	}
}

// scrape returns the value of one series from the metrics listener.
func scrape(t *testing.T, tc *testCloud, series string) string {
	t.Helper()
	res, err := http.Get("http://" + tc.cfg.MetricsListen + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			return v
		}
	}
	return ""
}
