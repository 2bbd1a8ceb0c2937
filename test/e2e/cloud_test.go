// Package e2e runs real outpost processes on loopback ports.
package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/outpost-iot/outpost/internal/hubclient"
	"github.com/outpost-iot/outpost/internal/iothub"
	"github.com/outpost-iot/outpost/internal/testutil"
)

// cloudProc is an `outpost cloud serve` child process.
type cloudProc struct {
	t                                *testing.T
	bin, dir                         string
	mqttAddr, httpsAddr, metricsAddr string
	proc                             *testutil.Process
	cs                               string
}

func startCloud(t *testing.T, dir string, extra ...string) *cloudProc {
	t.Helper()
	c := &cloudProc{t: t, bin: testutil.BuildOutpost(t), dir: dir,
		mqttAddr: anyPort, httpsAddr: anyPort, metricsAddr: anyPort}
	c.start(extra...)
	return c
}

func (c *cloudProc) start(extra ...string) {
	c.t.Helper()
	_ = os.Remove(filepath.Join(c.dir, "ca.pem"))
	c.proc = testutil.StartProcess(c.t, c.bin, c.serveArgs(extra...)...)
	testutil.WaitFile(c.t, filepath.Join(c.dir, "ca.pem"), 30*time.Second)
	c.learnAddrs()
	out := c.run("cloud", "connection-string", "--data", c.dir)
	c.cs = strings.TrimSpace(out)
}

// serveArgs is the `cloud serve` command line on c's data directory and listen addresses.
func (c *cloudProc) serveArgs(extra ...string) []string {
	return append([]string{"cloud", "serve", "--data", c.dir, "--hostname", "localhost",
		"--mqtt-listen", c.mqttAddr, "--https-listen", c.httpsAddr, "--metrics-listen", c.metricsAddr}, extra...)
}

// anyPort lets the kernel pick a listener's port; the cloud logs the address it bound.
const anyPort = "127.0.0.1:0"

// learnAddrs reads the bound addresses from the cloud's "listening" log lines (logged before
// ca.pem is written; the capture may lag the file, hence the poll), so that tests never race
// another process for a port they picked. A restart binds the same ports again.
func (c *cloudProc) learnAddrs() {
	c.t.Helper()
	want := map[string]*string{"mqtts": &c.mqttAddr, "https": &c.httpsAddr, "metrics": &c.metricsAddr}
	testutil.Eventually(c.t, 10*time.Second, func() bool {
		found := 0
		for _, line := range strings.Split(c.proc.Stderr(), "\n") {
			if !strings.Contains(line, "msg=listening") {
				continue
			}
			transport, addr := logField(line, "transport"), logField(line, "addr")
			if p, ok := want[transport]; ok && addr != "" {
				*p = addr
				found++
			}
		}
		return found >= len(want)
	}, "the cloud's listening lines (mqtts, https, metrics) in its log")
}

// logField returns the value of key=value in a text-format slog line.
func logField(line, key string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

// terminate sends SIGTERM and fails the test unless the cloud exits cleanly within limit.
func (c *cloudProc) terminate(limit time.Duration) {
	c.t.Helper()
	if err := c.proc.Signal(syscall.SIGTERM); err != nil {
		c.t.Fatal(err)
	}
	select {
	case <-c.proc.Done():
	case <-time.After(limit):
		c.t.Fatalf("no clean exit within %v of SIGTERM", limit)
	}
	if err := c.proc.ExitErr(); err != nil {
		c.t.Fatalf("exit after SIGTERM: %v\n%s", err, c.proc.Stderr())
	}
}

// run executes a CLI command against the cloud and returns its stdout.
func (c *cloudProc) run(args ...string) string {
	c.t.Helper()
	out, err := c.cmd(args...).Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		c.t.Fatalf("outpost %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return string(out)
}

func (c *cloudProc) cmd(args ...string) *exec.Cmd {
	cmd := exec.Command(c.bin, args...)
	cmd.Env = append(os.Environ(), "OUTPOST_CONNECTION_STRING="+c.cs, "OUTPOST_CA_FILE="+filepath.Join(c.dir, "ca.pem"),
		"OUTPOST_ENDPOINT=https://"+c.httpsAddr)
	return cmd
}

func (c *cloudProc) service() *hubclient.Client {
	c.t.Helper()
	svc, err := hubclient.New(hubclient.Config{ConnectionString: c.cs, CAFile: filepath.Join(c.dir, "ca.pem"), Endpoint: "https://" + c.httpsAddr})
	if err != nil {
		c.t.Fatal(err)
	}
	return svc
}

// device connects an MQTT client with the device connection string printed by `device create`.
func (c *cloudProc) device(deviceCS string) mqtt.Client {
	c.t.Helper()
	cs, err := iothub.ParseConnectionString(deviceCS)
	if err != nil {
		c.t.Fatal(err)
	}
	tok, err := iothub.NewSASToken(iothub.DeviceResource(cs.HostName, cs.DeviceID), cs.SharedAccessKey, "", time.Now().Add(time.Hour))
	if err != nil {
		c.t.Fatal(err)
	}
	opts := mqtt.NewClientOptions().AddBroker("tls://" + c.mqttAddr).SetClientID(cs.DeviceID).
		SetUsername(cs.HostName + "/" + cs.DeviceID + "/?api-version=2021-04-12").SetPassword(tok).
		SetTLSConfig(c.tlsConfig(cs.HostName)).SetCleanSession(false).
		SetAutoReconnect(false).SetConnectTimeout(10 * time.Second).SetOrderMatters(true)
	cl := mqtt.NewClient(opts)
	if t := cl.Connect(); !t.WaitTimeout(15*time.Second) || t.Error() != nil {
		c.t.Fatalf("connect %s: %v", cs.DeviceID, t.Error())
	}
	c.t.Cleanup(func() { cl.Disconnect(0) })
	return cl
}

// tlsConfig trusts the cloud's CA (ca.pem) for serverName.
func (c *cloudProc) tlsConfig(serverName string) *tls.Config {
	c.t.Helper()
	pem, err := os.ReadFile(filepath.Join(c.dir, "ca.pem"))
	if err != nil {
		c.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		c.t.Fatalf("no certificate in %s", filepath.Join(c.dir, "ca.pem"))
	}
	return &tls.Config{RootCAs: pool, ServerName: serverName}
}

func TestCloudServeContract(t *testing.T) {
	c := startCloud(t, t.TempDir(), "--log-level", "debug")
	if !strings.HasPrefix(c.cs, "HostName=localhost;SharedAccessKeyName=iothubowner;SharedAccessKey=") {
		t.Fatalf("connection string %q", c.cs)
	}
	devCS := strings.TrimSpace(c.run("device", "create", "thermo"))
	if !strings.HasPrefix(devCS, "HostName=localhost;DeviceId=thermo;SharedAccessKey=") {
		t.Fatalf("device create printed %q", devCS)
	}
	cl := c.device(devCS)
	if tok := cl.Publish("devices/thermo/messages/events/unit=C", 1, false, `{"temperature":21}`); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	out := c.run("monitor", "--device", "thermo", "--from", "start", "--timeout", "3s", "--properties")
	if !strings.Contains(out, `"temperature":21`) || !strings.Contains(out, `"unit":"C"`) {
		t.Fatalf("monitor printed %q", out)
	}
	// A bad token is refused (CONNACK 5, as IoT Hub; MQTT 3.1.1 only, since paho
	// would otherwise retry with 3.1 and report that refusal instead) and, like
	// every secret, never logged (RELIABILITY F7).
	bad := mqtt.NewClientOptions().AddBroker("tls://" + c.mqttAddr).SetClientID("thermo").
		SetUsername("localhost/thermo/?api-version=2021-04-12").SetPassword("SharedAccessSignature sr=localhost%2Fdevices%2Fthermo&sig=AAAA&se=" + strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)).
		SetTLSConfig(c.tlsConfig("localhost")).SetAutoReconnect(false).SetProtocolVersion(4)
	tok := mqtt.NewClient(bad).Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatal("no answer to a CONNECT with a bad token within 10 s")
	}
	if err := tok.Error(); !errors.Is(err, packets.ErrorRefusedNotAuthorised) {
		t.Fatalf("CONNECT with a bad token: %v, want CONNACK 5 not authorized", err)
	}
	c.terminate(15 * time.Second)
	logs := c.proc.Stderr()
	key := devCS[strings.Index(devCS, "SharedAccessKey=")+len("SharedAccessKey="):]
	policyKey := c.cs[strings.Index(c.cs, "SharedAccessKey=")+len("SharedAccessKey="):]
	for _, secret := range []string{key, policyKey, "sig=", "SharedAccessSignature"} {
		if strings.Contains(logs, secret) {
			t.Errorf("a secret (%q) appears in the logs", secret[:4])
		}
	}
}

// TestKillNineKeepsAcknowledged_A1 kills the cloud with SIGKILL during a QoS 1 burst: every
// PUBACKed message must be in the event store after a restart, as must the registry.
func TestKillNineKeepsAcknowledged_A1(t *testing.T) {
	dir := t.TempDir()
	c := startCloud(t, dir)
	const publishers = 4
	clients := make([]mqtt.Client, publishers)
	for i := range clients {
		devCS := strings.TrimSpace(c.run("device", "create", fmt.Sprintf("pub-%d", i)))
		clients[i] = c.device(devCS)
	}
	var mu sync.Mutex
	acked := map[string][]int{}
	killAt := 300 + rand.IntN(500)
	var total sync.WaitGroup
	var count int
	for i, cl := range clients {
		total.Add(1)
		go func() {
			defer total.Done()
			dev := fmt.Sprintf("pub-%d", i)
			for seq := 0; seq < 5000; seq++ {
				tok := cl.Publish("devices/"+dev+"/messages/events/", 1, false, fmt.Sprintf(`{"seq":%d}`, seq))
				if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
					return
				}
				mu.Lock()
				acked[dev] = append(acked[dev], seq)
				count++
				mu.Unlock()
			}
		}()
	}
	testutil.Eventually(t, 60*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return count >= killAt }, "publishers made no progress")
	if err := c.proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c.proc.Done()
	total.Wait()
	c.start()
	svc := c.service()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for dev, seqs := range acked {
		stored := map[int]bool{}
		from := int64(0)
		for {
			evs, err := svc.Events(ctx, hubclient.EventFilter{DeviceID: dev}, from, 1000)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) == 0 {
				break
			}
			for _, ev := range evs {
				var seq int
				if _, err := fmt.Sscanf(string(ev.Body), `{"seq":%d}`, &seq); err == nil {
					stored[seq] = true
				}
				from = ev.SequenceNumber + 1
			}
		}
		for _, s := range seqs {
			if !stored[s] {
				t.Fatalf("%s: acknowledged message %d lost after kill -9 (%d acked, %d stored)", dev, s, len(seqs), len(stored))
			}
		}
		t.Logf("%s: %d acknowledged, %d stored", dev, len(seqs), len(stored))
	}
	if _, err := svc.GetDevice(ctx, "pub-0"); err != nil {
		t.Fatalf("registry after kill -9: %v", err)
	}
}
