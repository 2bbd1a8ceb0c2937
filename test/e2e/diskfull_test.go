//go:build linux

package e2e

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/outpost-iot/outpost/internal/iothub"
	"github.com/outpost-iot/outpost/internal/testutil"
)

// diskFullDirEnv switches TestDiskFull_RestartAfterCrashServesReads into its body, run by the
// test binary inside a private mount namespace with a small tmpfs on that directory (the
// technique of internal/store's TestDiskFull_A7); the outpost processes it starts share the
// namespace.
const diskFullDirEnv = "OUTPOST_E2E_TMPFS_DIR"

// TestDiskFull_RestartAfterCrashServesReads fills a real tmpfs under a running cloud until
// its writes fail, kills it (kill -9 keeps the full WAL and the event log's preallocated
// space, where a clean stop would have freed some), and starts it again on the full disk. It
// used to exit at once ("store: put hostname: database or disk is full"); it must start and
// serve what needs no space: the connection string, REST reads of the registry, twins and
// events, the MQTT connect of an existing device and its twin GET, while writes answer 503
// ServiceUnavailable until space returns (issue 5, items 3 and 4). Root only (unshare -m,
// mount); elsewhere it skips.
func TestDiskFull_RestartAfterCrashServesReads(t *testing.T) {
	if os.Getenv(diskFullDirEnv) != "" {
		diskFullBody(t, os.Getenv(diskFullDirEnv))
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for unshare -m and mount -t tmpfs")
	}
	bin := testutil.BuildOutpost(t) // built here, outside the small tmpfs
	testutil.InTmpfs(t, diskFullDirEnv, "8m", "diskfull_test.go", testutil.BinEnv+"="+bin)
}

func diskFullBody(t *testing.T, dir string) {
	data := filepath.Join(dir, "data")
	c := startCloud(t, data)
	devCS := strings.TrimSpace(c.run("device", "create", "d1"))
	dev := c.device(devCS)
	if tok := dev.Publish("devices/d1/messages/events/", 1, false, `{"n":1}`); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	if status, body := c.rest(t, "PATCH", "/twins/d1", `{"properties":{"desired":{"a":1}}}`); status != http.StatusOK {
		t.Fatalf("PATCH /twins/d1: %d %s", status, body)
	}
	res := make(chan mqtt.Message, 4)
	onRes := func(_ mqtt.Client, m mqtt.Message) { res <- m }
	if tok := dev.Subscribe("$iothub/twin/res/#", 0, onRes); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	dev.Disconnect(0)

	fill(t, filepath.Join(dir, "filler"))
	// SQLite still writes into the space its WAL file already has: use that up too.
	for i := 0; ; i++ {
		status, body := c.rest(t, "PUT", fmt.Sprintf("/devices/fill-%d", i), `{"tags":{}}`)
		if status == http.StatusOK && i < 20000 {
			continue
		}
		if status != http.StatusServiceUnavailable || !strings.Contains(body, "ErrorCode:ServiceUnavailable;") {
			t.Fatalf("device %d on a full disk: %d %s, want 503 ServiceUnavailable", i, status, body)
		}
		t.Logf("8 MiB tmpfs: the disk was full for SQLite after %d more devices", i)
		break
	}
	if err := c.proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c.proc.Done()

	c.startKeepingCA()
	if status, body := c.rest(t, "GET", "/devices", ""); status != http.StatusOK || !strings.Contains(body, `"d1"`) {
		t.Fatalf("GET /devices after a restart on a full disk: %d %s", status, body)
	}
	if status, body := c.rest(t, "GET", "/twins/d1", ""); status != http.StatusOK || !strings.Contains(body, `"a":1`) {
		t.Errorf("GET /twins/d1 after a restart on a full disk: %d %s", status, body)
	}
	if status, body := c.rest(t, "GET", "/events?deviceId=d1&from=0", ""); status != http.StatusOK || !strings.Contains(body, `"d1"`) {
		t.Errorf("GET /events after a restart on a full disk: %d %s", status, body)
	}
	// The session exists: neither the connect nor the SDK's repeated subscription writes.
	dev = c.device(devCS)
	if tok := dev.Subscribe("$iothub/twin/res/#", 0, onRes); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	twinCall := func(topic, payload string) mqtt.Message {
		t.Helper()
		if tok := dev.Publish(topic, 0, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", topic, tok.Error())
		}
		select {
		case m := <-res:
			return m
		case <-time.After(10 * time.Second):
			t.Fatalf("no answer to %s within 10 s", topic)
			return nil
		}
	}
	if m := twinCall("$iothub/twin/GET/?$rid=1", " "); m.Topic() != "$iothub/twin/res/200/?$rid=1" {
		t.Errorf("twin GET on a full disk answered on %s", m.Topic())
	}
	if m := twinCall("$iothub/twin/PATCH/properties/reported/?$rid=2", `{"pad":"`+strings.Repeat("y", 4000)+`"}`); m.Topic() != "$iothub/twin/res/503/?$rid=2" {
		t.Errorf("reported patch on a full disk answered on %s %s, want 503", m.Topic(), m.Payload())
	}
	if status, body := c.rest(t, "PUT", "/devices/d2", `{"tags":{}}`); status != http.StatusServiceUnavailable {
		t.Errorf("PUT /devices/d2 on a full disk: %d %s, want 503", status, body)
	}

	if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
		t.Fatal(err)
	}
	if status, body := c.rest(t, "PUT", "/devices/d2", `{"tags":{}}`); status != http.StatusOK {
		t.Fatalf("PUT /devices/d2 once space is back: %d %s", status, body)
	}
}

// startKeepingCA restarts the cloud without removing ca.pem first (on a full disk that would
// free the space the start then uses) and waits until its REST API answers.
func (c *cloudProc) startKeepingCA() {
	c.t.Helper()
	c.proc = testutil.StartProcess(c.t, c.bin, c.serveArgs()...)
	cl := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: c.tlsConfig("localhost")}}
	defer cl.CloseIdleConnections()
	testutil.Eventually(c.t, 30*time.Second, func() bool {
		select {
		case <-c.proc.Done():
			c.t.Fatalf("the cloud exited while starting: %v\n%s", c.proc.ExitErr(), c.proc.Stderr())
		default:
		}
		res, err := cl.Get("https://" + c.httpsAddr + "/healthz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	}, "the cloud's REST API did not answer within 30 s")
	if cs := strings.TrimSpace(c.run("cloud", "connection-string", "--data", c.dir)); cs != c.cs {
		c.t.Fatalf("connection-string printed %q, want %q", cs, c.cs)
	}
}

// rest sends a REST call with the service connection string and returns status and body.
func (c *cloudProc) rest(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	cs, err := iothub.ParseConnectionString(c.cs)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iothub.NewSASToken(cs.HostName, cs.SharedAccessKey, cs.SharedAccessKeyName, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, "https://"+c.httpsAddr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", tok)
	req.Header.Set("Content-Type", "application/json")
	cl := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: c.tlsConfig("localhost")}}
	defer cl.CloseIdleConnections()
	res, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// fill writes path until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for _, n := range []int{len(buf), 512, 1} { // big writes, then the last partial page
		for {
			if _, err := f.Write(buf[:n]); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("fill %s: %v", path, err)
				}
				break
			}
		}
	}
}
