package cloud_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/outpost-iot/outpost/internal/hubclient"
	"github.com/outpost-iot/outpost/internal/iothub"
	"github.com/outpost-iot/outpost/internal/mqtt/packet"
	"github.com/outpost-iot/outpost/internal/pki"
	"github.com/outpost-iot/outpost/internal/testutil"
)

// slowRequest opens a TLS connection to the HTTPS listener and sends the headers of a
// request that declares a body of 3 bytes and never sends it (slowloris).
func slowRequest(t *testing.T, tc *testCloud) net.Conn {
	t.Helper()
	c, err := tls.Dial("tcp", tc.cfg.HTTPSListen, &tls.Config{RootCAs: tc.pool, ServerName: hubHost})
	if err != nil {
		t.Fatalf("dial https: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	req := "POST /devices/d/messages/deviceBound HTTP/1.1\r\nHost: localhost\r\nAuthorization: " + serviceToken(t, tc) +
		"\r\nContent-Length: 3\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatalf("write headers: %v", err)
	}
	return c
}

// silentConn opens a TCP connection to addr that sends nothing (no ClientHello) or, with
// partial, half a request line over plain TCP.
func silentConn(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// closedWithin reports whether the server closes c within d: a read then ends with an
// error that is not a timeout (any bytes, such as a 408 response, are read past).
func closedWithin(c net.Conn, d time.Duration) error {
	_ = c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 512)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return fmt.Errorf("still open after %v", d)
		}
		return nil
	}
}

// restAndMQTTWork checks that REST calls (one on a new connection) and an MQTT TLS CONNECT
// succeed.
func restAndMQTTWork(t *testing.T, tc *testCloud, dev, key string) {
	t.Helper()
	if _, err := tc.svc.GetDevice(tc.ctx(), dev); err != nil {
		t.Fatalf("REST call while the flood is held: %v", err)
	}
	req, err := http.NewRequestWithContext(tc.ctx(), http.MethodGet, "https://"+tc.cfg.HTTPSListen+"/healthz", nil)
	if err != nil {
		t.Fatal(err)
	}
	if st := doStatus(t, tc, req); st != http.StatusOK { // tc.httpClient has no idle connection
		t.Fatalf("healthz on a new connection: %d", st)
	}
	tc.mustConnect(dev, "", key, clientOpts{cleanStart: true}).Disconnect(0)
}

// TestHTTPS_D1_SlowlorisClosedByTimeouts: requests whose declared body never comes,
// connections that never send a ClientHello and TLS connections that never finish their
// headers are closed within the configured timeouts, and REST and MQTT keep working while
// they are held.
func TestHTTPS_D1_SlowlorisClosedByTimeouts(t *testing.T) {
	tc := startCloud(t, func(c *cloudConfig) {
		c.HTTPReadHeaderTimeout, c.HTTPReadTimeout, c.HTTPIdleTimeout = time.Second, time.Second, 2*time.Second
	})
	key := tc.createDevice("d")
	var held []net.Conn
	for range 30 {
		held = append(held, slowRequest(t, tc))
	}
	for range 10 {
		held = append(held, silentConn(t, tc.cfg.HTTPSListen))
	}
	for range 10 {
		c, err := tls.Dial("tcp", tc.cfg.HTTPSListen, &tls.Config{RootCAs: tc.pool, ServerName: hubHost})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: loc")
		held = append(held, c)
	}
	restAndMQTTWork(t, tc, "d", key)
	start := time.Now()
	for i, c := range held {
		if err := closedWithin(c, 10*time.Second); err != nil {
			t.Fatalf("slow connection %d: %v", i, err)
		}
	}
	t.Logf("all %d slow connections closed %v after the check began", len(held), time.Since(start))
	// An idle keep-alive connection is closed after HTTPIdleTimeout.
	c, err := tls.Dial("tcp", tc.cfg.HTTPSListen, &tls.Config{RootCAs: tc.pool, ServerName: hubHost})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
	if err := closedWithin(c, 10*time.Second); err != nil {
		t.Fatalf("idle keep-alive connection: %v", err)
	}
}

// TestHTTPS_D1_EventStreamOutlivesReadTimeout: the read timeout does not end a
// server-sent event stream.
func TestHTTPS_D1_EventStreamOutlivesReadTimeout(t *testing.T) {
	tc := startCloud(t, func(c *cloudConfig) {
		c.HTTPReadHeaderTimeout, c.HTTPReadTimeout = 500*time.Millisecond, 500*time.Millisecond
	})
	key := tc.createDevice("d")
	req, err := http.NewRequestWithContext(tc.ctx(), http.MethodGet, "https://"+tc.cfg.HTTPSListen+"/events/stream?from=end", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", serviceToken(t, tc))
	res, err := tc.httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	lines := make(chan string, 16)
	go func() { // owned by the test: ends when the stream does, at the latest with tc.ctx()
		defer close(lines)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	// What is under test is the passing of three read timeouts, so this waits for time.
	time.Sleep(1500 * time.Millisecond)
	c := tc.mustConnect("d", "", key, clientOpts{})
	wait(t, c.Publish("devices/d/messages/events/", 1, false, "after the timeouts"))
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("stream ended before the event")
			}
			if strings.Contains(l, "after the timeouts") {
				return
			}
		case <-timeout:
			t.Fatal("no event on the stream within 10 s")
		}
	}
}

// TestHTTPS_D1_FloodStaysInsideDescriptorBudget: HTTPS connections count against the
// cloud's connection budget together with MQTT ones; a flood of slow requests larger than
// the budget never holds more than it, and a REST call and an MQTT TLS CONNECT still
// succeed while it is held (the newcomers evict the oldest unauthenticated connections).
func TestHTTPS_D1_FloodStaysInsideDescriptorBudget(t *testing.T) {
	const budget = 60
	tc := startCloud(t, func(c *cloudConfig) {
		c.ConnectionBudget = budget
		c.HTTPReadHeaderTimeout, c.HTTPReadTimeout = time.Minute, time.Minute
	})
	key := tc.createDevice("d")
	for range 150 {
		slowRequest(t, tc)
		if v, _ := strconv.Atoi(scrape(t, tc, "outpost_cloud_network_connections")); v > budget {
			t.Fatalf("%d connections held, over the budget of %d", v, budget)
		}
	}
	if v := scrape(t, tc, "outpost_cloud_network_connections"); v == "" {
		t.Fatal("connection gauge missing")
	}
	restAndMQTTWork(t, tc, "d", key)
	if v, _ := strconv.Atoi(scrape(t, tc, `outpost_cloud_http_rejected_connections_total{reason="pending_evicted"}`)); v < 150-budget {
		t.Fatalf("%d evictions counted, want at least %d", v, 150-budget)
	}
	// And the other way round: a flood of silent MQTT connections leaves HTTPS room.
	for range 150 {
		silentConn(t, tc.cfg.MQTTListen)
	}
	testutil.Eventually(t, 10*time.Second, func() bool {
		return scrape(t, tc, `outpost_mqtt_rejected_connections_total{reason="pending_evicted"}`) != ""
	}, "MQTT evictions")
	if v, _ := strconv.Atoi(scrape(t, tc, "outpost_cloud_network_connections")); v > budget {
		t.Fatalf("%d connections held, over the budget of %d", v, budget)
	}
	restAndMQTTWork(t, tc, "d", key)
}

// TestD1_MQTTIdleConnectionsDoNotLockOutDevices: with --max-connections 300, 500 TCP
// connections to the MQTT TLS port that never send anything do not keep a device with
// valid credentials out, nor does an attacker that replaces them as they are closed.
func TestD1_MQTTIdleConnectionsDoNotLockOutDevices(t *testing.T) {
	tc := startCloud(t, func(c *cloudConfig) { c.MaxConnections = 300 })
	key := tc.createDevice("d")
	for range 500 {
		if c, err := net.Dial("tcp", tc.cfg.MQTTListen); err == nil {
			t.Cleanup(func() { _ = c.Close() })
		}
	}
	start := time.Now()
	tc.mustConnect("d", "", key, clientOpts{cleanStart: true}).Disconnect(0)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("device connected after %v", d)
	}
}

// createSelfSignedDevice creates device id authenticated by the thumbprint of a new
// self-signed certificate, and returns that certificate.
func createSelfSignedDevice(t *testing.T, tc *testCloud, id string) tls.Certificate {
	t.Helper()
	certPEM, keyPEM, err := pki.SelfSignedDevice(id, 24*time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := pki.CertificateFromPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	sha1Hex, _ := pki.Thumbprints(leaf)
	if _, err := tc.svc.CreateDevice(tc.ctx(), &hubclient.Device{DeviceID: id, Authentication: &hubclient.Authentication{Type: "selfSigned",
		X509Thumbprint: &hubclient.X509Thumbprint{PrimaryThumbprint: sha1Hex}}}); err != nil {
		t.Fatal(err)
	}
	return cert
}

// TestX509OverWebSocket_F5: a self-signed X.509 device (thumbprint registered) connects over
// wss://…/$iothub/websocket with its client certificate, gets CONNACK 0 and publishes; the
// certificate of the HTTPS handshake reaches the authenticator.
func TestX509OverWebSocket_F5(t *testing.T) {
	tc := startCloud(t)
	cert := createSelfSignedDevice(t, tc, "x1")
	empty := ""
	c, err := tc.connect("x1", "", "", clientOpts{password: &empty, cert: &cert, transport: "wss"})
	if err != nil {
		t.Fatalf("x509 over websocket: %v (auth failures no_credentials: %q)", err,
			scrape(t, tc, `outpost_cloud_auth_failures_total{reason="no_credentials"}`))
	}
	wait(t, c.Publish("devices/x1/messages/events/", 1, false, "x509 over wss"))
	// Without a certificate the same connection is refused.
	if _, err := tc.connect("x1", "", "", clientOpts{password: &empty, transport: "wss"}); err == nil {
		t.Fatal("no credentials accepted over websocket")
	}
}

// rawDevice is a packet-level MQTT connection of device dev to the plain listener.
func rawDevice(t *testing.T, tc *testCloud, dev, key string) (net.Conn, *packet.Reader) {
	t.Helper()
	nc, err := net.Dial("tcp", tc.cfg.PlainMQTTListen)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	b, err := packet.Encode(&packet.Connect{ProtocolName: "MQTT", ProtocolLevel: 4, ClientID: dev, CleanSession: true,
		HasUsername: true, Username: hubHost + "/" + dev + "/?api-version=2021-04-12",
		HasPassword: true, Password: []byte(sasFor(t, dev, "", key, time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write(b); err != nil {
		t.Fatal(err)
	}
	r := packet.NewReader(nc, 0)
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if p, err := r.ReadPacket(); err != nil {
		t.Fatalf("CONNACK: %v", err)
	} else if ack, ok := p.(*packet.Connack); !ok || ack.ReturnCode != 0 {
		t.Fatalf("got %v, want CONNACK 0", p)
	}
	return nc, r
}

// TestA10_StopMidBurstAcksEveryStoredMessage: a cloud stopped in the middle of QoS 1
// bursts from several devices has sent a PUBACK for every message it stored (the event
// log after a restart holds exactly the acknowledged messages), RELIABILITY A10.
func TestA10_StopMidBurstAcksEveryStoredMessage(t *testing.T) {
	tc := startCloud(t, func(c *cloudConfig) { c.MaxClientRate = -1 })
	const devices = 4
	var acks atomic.Int64
	var wg sync.WaitGroup
	for i := range devices {
		dev := fmt.Sprintf("burst%d", i)
		nc, r := rawDevice(t, tc, dev, tc.createDevice(dev))
		wg.Go(func() { // the burst; ends at the first write error (the cloud closed)
			testutil.BurstQoS1(nc, "devices/"+dev+"/messages/events/", 50000, func(seq int) []byte { return []byte(strconv.Itoa(seq)) })
		})
		wg.Go(func() { testutil.CountPubacks(nc, r, &acks) }) // until the cloud closes the connection
	}
	testutil.Eventually(t, 20*time.Second, func() bool { return acks.Load() >= 1000 }, "the bursts under way")
	tc.stop()
	wg.Wait()
	tc.start()
	var stored int64
	for from := int64(0); ; {
		evs, err := tc.svc.Events(tc.ctx(), hubclient.EventFilter{}, from, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		stored += int64(len(evs))
		from = evs[len(evs)-1].SequenceNumber + 1
	}
	if stored != acks.Load() {
		t.Fatalf("%d messages stored, %d PUBACKs received: %d stored without their PUBACK", stored, acks.Load(), stored-acks.Load())
	}
	t.Logf("%d messages stored, each acknowledged", stored)
}

// TestHTTPS_D1_ReadTimeoutSparesLongRequests: the body deadline ends once the body is read,
// so a direct method whose device answers after several read timeouts still gets its answer
// (a read deadline left on the connection would cancel the request's context).
func TestHTTPS_D1_ReadTimeoutSparesLongRequests(t *testing.T) {
	tc := startCloud(t, func(c *cloudConfig) { c.HTTPReadTimeout = 300 * time.Millisecond })
	key := tc.createDevice("d")
	c := tc.mustConnect("d", "", key, clientOpts{})
	var answers sync.WaitGroup
	t.Cleanup(answers.Wait) // before the client's Disconnect, registered earlier
	subscribe(t, c, "$iothub/methods/POST/#", func(cl mqtt.Client, m mqtt.Message) {
		rid := m.Topic()[strings.Index(m.Topic(), "$rid=")+5:]
		answers.Go(func() { // a slow device: answers after three read timeouts
			time.Sleep(time.Second)
			cl.Publish("$iothub/methods/res/200/?$rid="+rid, 0, false, `{"late":true}`)
		})
	})
	res, err := tc.svc.InvokeMethod(tc.ctx(), "d", "", iothub.MethodRequest{MethodName: "slow", ResponseTimeoutInSeconds: new(10)})
	if err != nil || res.Status != 200 {
		t.Fatalf("slow method: %v %+v", err, res)
	}
}

// TestD8_CloudHoldsClientsToIoTHubRate: the broker has no rate limit of its own; the cloud
// sets IoT Hub's 1,000 packets/s per connection by default (RELIABILITY D8), so a burst of
// 1,500 PINGREQs is slowed past the burst of 200.
func TestD8_CloudHoldsClientsToIoTHubRate(t *testing.T) {
	tc := startCloud(t)
	nc, r := rawDevice(t, tc, "pinger", tc.createDevice("pinger"))
	const n = 1500
	if _, err := nc.Write(bytes.Repeat([]byte{0xc0, 0}, n)); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		if p, err := r.ReadPacket(); err != nil {
			t.Fatalf("PINGRESP %d: %v", i, err)
		} else if _, ok := p.(*packet.Pingresp); !ok {
			t.Fatalf("got %v, want PINGRESP", p)
		}
	}
	if v := scrape(t, tc, "outpost_mqtt_inbound_throttled_total"); v == "" || v == "0" {
		t.Fatalf("throttled packets %q: the cloud did not hold the client to 1,000/s", v)
	}
}

// TestC2DRedeliveryHasDup: a C2D message delivered again, after its first delivery went
// unacknowledged, carries DUP [MQTT-3.3.1-1, MQTT-4.4.0-1]; the first delivery does not.
func TestC2DRedeliveryHasDup(t *testing.T) {
	tc := startCloud(t)
	key := tc.createDevice("dupdev")
	c2d := func(nc net.Conn, r *packet.Reader) *packet.Publish {
		t.Helper()
		b, _ := packet.Encode(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "devices/dupdev/messages/devicebound/#", QoS: 1}}})
		if _, err := nc.Write(b); err != nil {
			t.Fatal(err)
		}
		for {
			_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			p, err := r.ReadPacket()
			if err != nil {
				t.Fatalf("waiting for the C2D PUBLISH: %v", err)
			}
			if pub, ok := p.(*packet.Publish); ok {
				return pub
			}
		}
	}
	nc, r := rawDevice(t, tc, "dupdev", key)
	if _, err := tc.svc.SendC2D(tc.ctx(), "dupdev", hubclient.C2DMessage{Body: []byte("once more")}); err != nil {
		t.Fatal(err)
	}
	if p := c2d(nc, r); p.Dup || string(p.Payload) != "once more" {
		t.Fatalf("first delivery: dup %v payload %q", p.Dup, p.Payload)
	}
	_ = nc.Close() // no PUBACK
	nc, r = rawDevice(t, tc, "dupdev", key)
	if p := c2d(nc, r); !p.Dup || p.QoS != 1 || string(p.Payload) != "once more" {
		t.Fatalf("redelivery: dup %v qos %d payload %q, want DUP", p.Dup, p.QoS, p.Payload)
	}
}
