package cloud_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/outpost-iot/outpost/internal/cloud"
	"github.com/outpost-iot/outpost/internal/hubclient"
	"github.com/outpost-iot/outpost/internal/iothub"
)

const hubHost = "localhost"

// testCloud is an in-process cloud on loopback ports.
type testCloud struct {
	t      *testing.T
	dir    string
	cfg    cloud.Config
	caFile string
	pool   *x509.CertPool
	cs     string
	svc    *hubclient.Client
	cancel context.CancelFunc
	done   chan error
	cloud  *cloud.Cloud // the running cloud, for fault injection
}

// anyPort is the listen address of test listeners: the kernel picks a free port, which the cloud
// reports (Config.OnListening), so no test races another process for a port it chose.
const anyPort = "127.0.0.1:0"

// startCloud runs a cloud with TLS, plain (development) and metrics listeners.
func startCloud(t *testing.T, mutate ...func(*cloud.Config)) *testCloud {
	t.Helper()
	dir := t.TempDir()
	cfg := cloud.Config{DataDir: dir, Hostnames: []string{hubHost, "127.0.0.1"},
		MQTTListen: anyPort, HTTPSListen: anyPort, PlainMQTTListen: anyPort, MetricsListen: anyPort}
	for _, m := range mutate {
		m(&cfg)
	}
	tc := &testCloud{t: t, dir: dir, cfg: cfg}
	tc.start()
	t.Cleanup(tc.stop)
	return tc
}

func (tc *testCloud) start() {
	t := tc.t
	t.Helper()
	_ = os.Remove(filepath.Join(tc.dir, "ca.pem"))
	ctx, cancel := context.WithCancel(context.Background())
	tc.cancel, tc.done = cancel, make(chan error, 1)
	opened := make(chan *cloud.Cloud, 1)
	bound := make(chan cloud.Addrs, 1)
	cfg := tc.cfg
	cfg.OnListening = func(a cloud.Addrs) { bound <- a }
	go func() { tc.done <- cloud.RunHooked(ctx, cfg, func(c *cloud.Cloud) { opened <- c }) }()
	tc.caFile = filepath.Join(tc.dir, "ca.pem")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(tc.caFile); err == nil {
			break
		}
		select {
		case err := <-tc.done:
			t.Fatalf("cloud exited before it was ready: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("cloud not ready after 20 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	tc.cloud = <-opened // sent before the cloud serves, so before ca.pem exists
	// The ports it bound (it listened on port 0); a restart binds the same ones again.
	a := <-bound
	tc.cfg.MQTTListen, tc.cfg.HTTPSListen, tc.cfg.PlainMQTTListen, tc.cfg.PlainHTTPListen, tc.cfg.MetricsListen =
		a.MQTT, a.HTTPS, a.PlainMQTT, a.PlainHTTP, a.Metrics
	pem, err := os.ReadFile(tc.caFile)
	if err != nil {
		t.Fatal(err)
	}
	tc.pool = x509.NewCertPool()
	tc.pool.AppendCertsFromPEM(pem)
	if tc.cs, err = cloud.ServiceConnectionString(tc.dir, "iothubowner"); err != nil {
		t.Fatal(err)
	}
	if tc.svc, err = hubclient.New(hubclient.Config{ConnectionString: tc.cs, CAFile: tc.caFile, Endpoint: "https://" + tc.cfg.HTTPSListen, Now: tc.cfg.Now}); err != nil {
		t.Fatal(err)
	}
}

func (tc *testCloud) stop() {
	if tc.cancel == nil {
		return
	}
	tc.cancel()
	select {
	case err := <-tc.done:
		if err != nil {
			tc.t.Errorf("cloud stopped with error: %v", err)
		}
	case <-time.After(15 * time.Second):
		tc.t.Error("cloud did not stop within 15 s")
	}
	tc.cancel = nil
}

func (tc *testCloud) restart() {
	tc.stop()
	tc.start()
}

func (tc *testCloud) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	tc.t.Cleanup(cancel)
	return ctx
}

// createDevice creates a SAS device and returns its primary key.
func (tc *testCloud) createDevice(id string) string {
	tc.t.Helper()
	d, err := tc.svc.CreateDevice(tc.ctx(), &hubclient.Device{DeviceID: id})
	if err != nil {
		tc.t.Fatalf("create device %s: %v", id, err)
	}
	return d.Authentication.SymmetricKey.PrimaryKey
}

func (tc *testCloud) createModule(dev, mod string) string {
	tc.t.Helper()
	m, err := tc.svc.CreateModule(tc.ctx(), &hubclient.Module{DeviceID: dev, ModuleID: mod})
	if err != nil {
		tc.t.Fatalf("create module %s/%s: %v", dev, mod, err)
	}
	return m.Authentication.SymmetricKey.PrimaryKey
}

func sasFor(t *testing.T, dev, mod, key string, ttl time.Duration) string {
	t.Helper()
	res := iothub.DeviceResource(hubHost, dev)
	if mod != "" {
		res = iothub.ModuleResource(hubHost, dev, mod)
	}
	tok, err := iothub.NewSASToken(res, key, "", time.Now().Add(ttl))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// received collects messages delivered to a test client.
type received struct {
	mu   sync.Mutex
	msgs []mqtt.Message
	ch   chan mqtt.Message
}

func newReceived() *received { return &received{ch: make(chan mqtt.Message, 100)} }

func (r *received) handler(_ mqtt.Client, m mqtt.Message) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
	r.ch <- m
}

func (r *received) next(t *testing.T, timeout time.Duration) mqtt.Message {
	t.Helper()
	select {
	case m := <-r.ch:
		return m
	case <-time.After(timeout):
		t.Fatalf("no message within %s", timeout)
		return nil
	}
}

type clientOpts struct {
	password   *string
	cleanStart bool
	transport  string // "tls" (default), "tcp", "wss"
	will       *[2]string
	cert       *tls.Certificate
	onMessage  mqtt.MessageHandler
}

// connect opens an MQTT connection as a device (mod == "") or module with the IoT Hub dialect.
func (tc *testCloud) connect(dev, mod, key string, o clientOpts) (mqtt.Client, error) {
	client := dev
	user := hubHost + "/" + dev + "/?api-version=2021-04-12"
	if mod != "" {
		client = dev + "/" + mod
		user = hubHost + "/" + dev + "/" + mod + "/?api-version=2021-04-12"
	}
	opts := mqtt.NewClientOptions().SetClientID(client).SetUsername(user).
		SetCleanSession(o.cleanStart).SetAutoReconnect(false).SetConnectRetry(false).
		SetConnectTimeout(10 * time.Second).SetProtocolVersion(4).SetOrderMatters(false)
	if o.password != nil {
		if *o.password != "" {
			opts.SetPassword(*o.password)
		}
	} else {
		opts.SetPassword(sasFor(tc.t, dev, mod, key, time.Hour))
	}
	tlsCfg := &tls.Config{RootCAs: tc.pool, ServerName: hubHost}
	if o.cert != nil {
		tlsCfg.Certificates = []tls.Certificate{*o.cert}
	}
	switch o.transport {
	case "tcp":
		opts.AddBroker("tcp://" + tc.cfg.PlainMQTTListen)
	case "wss":
		opts.AddBroker("wss://" + tc.cfg.HTTPSListen + "/$iothub/websocket")
		opts.SetTLSConfig(tlsCfg)
	default:
		opts.AddBroker("tls://" + tc.cfg.MQTTListen)
		opts.SetTLSConfig(tlsCfg)
	}
	if o.will != nil {
		opts.SetWill(o.will[0], o.will[1], 1, false)
	}
	if o.onMessage != nil {
		opts.SetDefaultPublishHandler(o.onMessage)
	}
	c := mqtt.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(15 * time.Second) {
		return nil, errors.New("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	tc.t.Cleanup(func() { c.Disconnect(0) })
	return c, nil
}

func (tc *testCloud) mustConnect(dev, mod, key string, o clientOpts) mqtt.Client {
	tc.t.Helper()
	c, err := tc.connect(dev, mod, key, o)
	if err != nil {
		tc.t.Fatalf("connect %s/%s: %v", dev, mod, err)
	}
	return c
}

func wait(t *testing.T, tok mqtt.Token) {
	t.Helper()
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatal("mqtt operation timed out")
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("mqtt operation: %v", err)
	}
}

func subscribe(t *testing.T, c mqtt.Client, filter string, h mqtt.MessageHandler) byte {
	t.Helper()
	tok := c.Subscribe(filter, 1, h)
	wait(t, tok)
	st := tok.(*mqtt.SubscribeToken)
	return st.Result()[filter]
}

type cloudConfig = cloud.Config

// fakeClock is an injectable wall clock (RELIABILITY H5).
type fakeClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func newFakeClock() *fakeClock { return &fakeClock{} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

func (tc *testCloud) httpClient() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: tc.pool, ServerName: hubHost}}}
}

func doStatus(t *testing.T, tc *testCloud, req *http.Request) int {
	t.Helper()
	res, err := tc.httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode
}

func doJSON(t *testing.T, tc *testCloud, req *http.Request) []byte {
	t.Helper()
	res, err := tc.httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d %s", req.Method, req.URL.Path, res.StatusCode, body)
	}
	return body
}

// writeKeyPair writes a tls.Certificate (with its issuer appended) and its key as PEM files.
func writeKeyPair(t *testing.T, cert tls.Certificate, issuerPEM []byte, certFile, keyFile string) {
	t.Helper()
	var chain []byte
	for _, der := range cert.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	chain = append(chain, issuerPEM...)
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, chain, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// serviceToken signs a SAS token with the iothubowner policy.
func serviceToken(t *testing.T, tc *testCloud) string {
	t.Helper()
	cs, err := iothub.ParseConnectionString(tc.cs)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iothub.NewSASToken(cs.HostName, cs.SharedAccessKey, cs.SharedAccessKeyName, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
