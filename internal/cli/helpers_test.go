package cli

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/cloud"
	"github.com/outpost-iot/outpost/internal/hubclient/hubclienttest"
	"github.com/outpost-iot/outpost/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

const (
	testHost   = "hub.example.net"
	testKey    = "dGhpcyBpcyBhIHRlc3Qga2V5IGZvciB0aGUgb3V0cG9zdCBjbGk=" // base64("this is a test key for the outpost cli")
	testPolicy = "iothubowner"
	testCS     = "HostName=" + testHost + ";SharedAccessKeyName=" + testPolicy + ";SharedAccessKey=" + testKey
)

// fixedNow is the clock of every test invocation.
var fixedNow = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

// result is one CLI invocation's outcome.
type result struct {
	stdout, stderr string
	code           int
}

// runCLI runs the command line with the given environment and stdin.
func runCLI(t *testing.T, envVars map[string]string, stdin string, args ...string) result {
	t.Helper()
	return runWith(t, &env{getenv: mapEnv(envVars)}, stdin, args...)
}

func runWith(t *testing.T, e *env, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	e.stdin, e.stdout, e.stderr = strings.NewReader(stdin), &out, &errb
	if e.now == nil {
		e.now = func() time.Time { return fixedNow }
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := run(ctx, args, e)
	return result{out.String(), errb.String(), code}
}

// lineCanceler cancels a context once n lines were written (ends `monitor` deterministically).
type lineCanceler struct {
	testutil.Buffer
	mu     sync.Mutex // guards lines
	lines  int
	n      int
	cancel context.CancelFunc
}

func (w *lineCanceler) Write(p []byte) (int, error) {
	n, err := w.Buffer.Write(p)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lines += bytes.Count(p, []byte("\n")); w.lines >= w.n {
		w.cancel()
	}
	return n, err
}

// runLines runs a streaming command until it printed n lines (or 30 s passed).
func runLines(t *testing.T, envVars map[string]string, n int, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := &lineCanceler{n: n, cancel: cancel}
	var errb bytes.Buffer
	e := &env{getenv: mapEnv(envVars), stdin: strings.NewReader(""), stdout: out, stderr: &errb, now: func() time.Time { return fixedNow }}
	code := run(ctx, args, e)
	return result{out.String(), errb.String(), code}
}

// anyPort is the listen address of test listeners: the kernel picks the port and the cloud
// reports it (cloud.Config.OnListening), so no test races another process for a port.
const anyPort = "127.0.0.1:0"

// serveCloud runs `outpost cloud serve args...` in-process until the test ends and returns
// once ca.pem is written (every listener is bound then), with the cloud's data directory, the
// buffer its logs go to and the addresses its listeners are bound to.
func serveCloud(t *testing.T, args ...string) (dir string, logs *testutil.Buffer, addrs cloud.Addrs) {
	t.Helper()
	dir = t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	logs = &testutil.Buffer{}
	served := make(chan int, 1)
	bound := make(chan cloud.Addrs, 1)
	go func() {
		e := &env{getenv: mapEnv(nil), stdin: strings.NewReader(""), stdout: logs, stderr: logs,
			runCloud: func(ctx context.Context, cfg cloud.Config) error {
				cfg.OnListening = func(a cloud.Addrs) { bound <- a }
				return cloud.Run(ctx, cfg)
			}}
		served <- run(ctx, append([]string{"cloud", "serve", "--data", dir, "--log-level", "warn"}, args...), e)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-served:
			if code != 0 {
				t.Errorf("cloud serve exit %d: %s", code, logs.String())
			}
		case <-time.After(30 * time.Second):
			t.Error("cloud serve did not stop")
		}
	})
	testutil.WaitFile(t, filepath.Join(dir, "ca.pem"), 20*time.Second)
	return dir, logs, <-bound // sent before ca.pem is written
}

func mapEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// reply is a canned answer.
type reply struct {
	status int
	body   string
	header map[string]string
}

// fakeHub is a fake service API (hubclienttest: TLS, service SAS token and api-version checked,
// requests recorded) answering canned replies keyed by "METHOD /path".
type fakeHub struct {
	*hubclienttest.Server
	replies map[string]reply
	stream  func(w http.ResponseWriter, r *http.Request)
}

func newFakeHub(t *testing.T, replies map[string]reply) *fakeHub {
	t.Helper()
	h := &fakeHub{replies: replies}
	auth := hubclienttest.Auth{Host: testHost, Policy: testPolicy, Key: testKey, Now: func() time.Time { return fixedNow }}
	h.Server = hubclienttest.New(t, auth, h.serve)
	return h
}

// env is the environment pointing the CLI at this hub.
func (h *fakeHub) env() map[string]string {
	return map[string]string{EnvConnectionString: testCS, EnvCAFile: h.CAFile, EnvEndpoint: h.URL}
}

func (h *fakeHub) serve(w http.ResponseWriter, r *http.Request, _ []byte) {
	if r.URL.Path == "/events/stream" && h.stream != nil {
		h.stream(w, r)
		return
	}
	rep, ok := h.replies[r.Method+" "+r.URL.Path]
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"Message":"ErrorCode:DeviceNotFound;no reply for %s %s"}`, r.Method, r.URL.Path)
		return
	}
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(cmp.Or(rep.status, http.StatusOK))
	_, _ = io.WriteString(w, rep.body)
}

// last returns the last request with the given method and path.
func (h *fakeHub) last(t *testing.T, method, path string) hubclienttest.Request {
	t.Helper()
	reqs := h.Requests()
	for i := len(reqs) - 1; i >= 0; i-- {
		if reqs[i].Method == method && reqs[i].Path == path {
			return reqs[i]
		}
	}
	t.Fatalf("no %s %s request; got %v", method, path, reqs)
	return hubclienttest.Request{}
}

// golden compares got with testdata/name.golden, rewriting it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run go test -update to accept):\n--- got\n%s--- want\n%s", p, got, want)
	}
}

// jsonEq reports whether two JSON texts are equal as values.
func jsonEq(t *testing.T, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("got is not JSON: %v: %s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want is not JSON: %v", err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Errorf("JSON differs:\n got  %s\n want %s", gb, wb)
	}
}
