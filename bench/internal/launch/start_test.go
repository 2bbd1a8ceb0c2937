package launch

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// TestStartOutpost_KernelPicksPorts checks that outpost is given port 0 for every listener (no
// close-then-bind race with other processes) and that the addresses learnt from its log are the
// ones it serves, also after a restart that appends to the same log.
func TestStartOutpost_KernelPicksPorts(t *testing.T) {
	bin := testutil.BuildOutpost(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	data, logPath := filepath.Join(dir, "data"), filepath.Join(dir, "outpost.log")
	for start := range 2 {
		o, err := StartOutpost(ctx, bin, data, logPath)
		if err != nil {
			t.Fatalf("start %d: %v", start, err)
		}
		args := o.proc.cmd.Args
		for _, flag := range []string{"--mqtt-listen", "--https-listen", "--dev-plain-mqtt", "--metrics-listen"} {
			if i := slices.Index(args, flag); i < 0 || i+1 == len(args) || args[i+1] != anyPort {
				t.Errorf("start %d: %s not given %s: %q", start, flag, anyPort, args)
			}
		}
		checkServes(t, o)
		o.Stop()
	}
}

// checkServes dials every learnt address with the protocol it should speak.
func checkServes(t *testing.T, o *Outpost) {
	t.Helper()
	for name, addr := range map[string]string{"mqtts": o.MQTT, "mqtt": o.Plain, "https": o.HTTPS, "metrics": o.Metrics} {
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "0" || port == "" {
			t.Errorf("%s address %q: want a bound port (%v)", name, addr, err)
		}
	}
	for name, addr := range map[string]string{"mqtts": o.MQTT, "https": o.HTTPS} {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, o.TLS)
		if err != nil {
			t.Errorf("%s at %s: TLS handshake: %v", name, addr, err)
			continue
		}
		_ = c.Close()
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + o.Metrics + "/metrics")
	if err != nil {
		t.Errorf("metrics at %s: %v", o.Metrics, err)
		return
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("metrics at %s: status %d", o.Metrics, resp.StatusCode)
	}
}

func TestListeningAddrs(t *testing.T) {
	log := strings.Join([]string{
		`time=… level=INFO msg=listening component=cloud transport=mqtts addr=127.0.0.1:1`, // an earlier start
		`time=… level=INFO msg="something else" transport=x addr=127.0.0.1:9`,
		`time=… level=INFO msg=listening transport=mqtts addr=127.0.0.1:40001`,
		`time=… level=WARN msg="listening without TLS (development only)" transport=mqtt addr=127.0.0.1:40002`,
		`time=… level=INFO msg=listening transport=https addr=127.0.0.1:40003`,
		`time=… level=INFO msg=listening transport=metrics addr=127.0.0.1:40004`,
		`time=… level=INFO msg=listening transport=half addr=127.0.0.1:4`, // no newline yet
	}, "\n")
	path := filepath.Join(t.TempDir(), "log")
	writeFile(t, path, log)
	from := int64(strings.Index(log, "\n") + 1)
	got, err := listeningAddrs(path, from)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"mqtts": "127.0.0.1:40001", "mqtt": "127.0.0.1:40002", "https": "127.0.0.1:40003", "metrics": "127.0.0.1:40004"}
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
}

// TestStartMosquitto_RetriesAPortTaken gives mosquitto a port another process holds (what
// FreePort's close-then-bind race does under load): StartMosquitto must pick again, not fail.
func TestStartMosquitto_RetriesAPortTaken(t *testing.T) {
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		t.Fatalf("mosquitto is required: apt-get install -y mosquitto (.ci/run installs it): %v", err)
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	picks := 0
	pickPort = func() (string, error) {
		if picks++; picks == 1 {
			return taken.Addr().String(), nil
		}
		return FreePort()
	}
	defer func() { pickPort = FreePort }()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m, err := StartMosquitto(ctx, bin, t.TempDir(), 0)
	if err != nil {
		t.Fatalf("StartMosquitto with the first port taken: %v", err)
	}
	defer m.Stop()
	if m.Plain == taken.Addr().String() {
		t.Errorf("plain listener %s is the taken port", m.Plain)
	}
	if err := errors.Join(Dialable(m.Plain), Dialable(m.TLSAddr)); err != nil {
		t.Error(err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
