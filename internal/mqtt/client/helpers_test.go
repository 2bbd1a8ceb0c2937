package client_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/mqtt/broker"
	"github.com/outpost-iot/outpost/internal/mqtt/client"
	"github.com/outpost-iot/outpost/internal/mqtt/packet"
	"github.com/outpost-iot/outpost/internal/testutil"
)

const wait = 10 * time.Second // generous: a loaded 2-core machine

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

// app is the in-process broker's application: it accepts every CONNECT
// (unless refuse is set) and records what the clients do.
type app struct {
	refuse  byte                                         // CONNACK code to refuse with; 0 accepts
	publish func(ctx context.Context, p *broker.Publish) // optional, before recording

	mu       sync.Mutex // guards the following
	pubs     []*broker.Publish
	subs     []string
	offlines []offline
}

type offline struct {
	err  error
	will *broker.Will
}

func (a *app) Connect(_ context.Context, req *broker.ConnectRequest) (broker.Handler, error) {
	if a.refuse != 0 {
		return nil, &broker.ConnectError{Code: a.refuse, Reason: "test"}
	}
	return &appHandler{a: a}, nil
}

type appHandler struct{ a *app }

func (h *appHandler) Subscribe(filter string, qos byte) byte {
	h.a.mu.Lock()
	defer h.a.mu.Unlock()
	h.a.subs = append(h.a.subs, filter)
	return qos
}

func (h *appHandler) Unsubscribe(string) {}

func (h *appHandler) PublishAsync(ctx context.Context, p *broker.Publish, done func(error)) {
	if h.a.publish != nil {
		h.a.publish(ctx, p)
	}
	h.a.mu.Lock()
	h.a.pubs = append(h.a.pubs, p)
	h.a.mu.Unlock()
	done(nil)
}

func (h *appHandler) Online(*broker.Conn, bool) {}

func (h *appHandler) Offline(_ *broker.Conn, err error, will *broker.Will) {
	h.a.mu.Lock()
	defer h.a.mu.Unlock()
	h.a.offlines = append(h.a.offlines, offline{err: err, will: will})
}

func (a *app) published() []*broker.Publish {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*broker.Publish(nil), a.pubs...)
}

func (a *app) offline() []offline {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]offline(nil), a.offlines...)
}

// testBroker is the in-process broker on 127.0.0.1:0.
type testBroker struct {
	*broker.Server
	addr string
	app  *app
}

func startBroker(t *testing.T, a *app) *testBroker {
	t.Helper()
	if a == nil {
		a = &app{}
	}
	// No inbound rate limit (the broker's default: the limit is the role's).
	s := broker.New(broker.Config{Auth: a, Logger: testLogger(t)})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("broker close: %v", err)
		}
		if err := <-served; !errors.Is(err, broker.ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	})
	return &testBroker{Server: s, addr: l.Addr().String(), app: a}
}

// dial connects a client over TCP and closes it at cleanup.
func dial(t *testing.T, addr string, opts client.Options) *client.Client {
	t.Helper()
	return dialVia(t, nil, addr, opts)
}

// dialVia connects a client to addr through dialer (nil: TCP) and closes it at cleanup.
func dialVia(t *testing.T, dialer client.Dialer, addr string, opts client.Options) *client.Client {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := client.Dial(ctx, dialer, addr, nil, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// mosquitto starts Debian's mosquitto listening on a unix socket in a short
// temporary directory (no port to race for) and returns a dialer for it.
func mosquitto(t *testing.T) client.Dialer {
	t.Helper()
	d, _ := mosquittoProcess(t)
	return d
}

// mosquittoProcess is mosquitto, also returning the process.
func mosquittoProcess(t *testing.T) (client.Dialer, *testutil.Process) {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		t.Fatalf("mosquitto is required: apt-get install -y mosquitto (.ci/run installs it): %v", err)
	}
	// A unix socket path must fit in 108 bytes; t.TempDir's can be longer.
	dir, err := os.MkdirTemp("", "mq")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	sock := filepath.Join(dir, "sock")
	conf := []string{
		"listener 0 " + sock,
		"allow_anonymous true",
		"persistence false",
		"max_inflight_messages 0",
		"max_queued_messages 100000",
		"log_dest stderr",
		"log_type error",
		"log_type warning",
	}
	if os.Geteuid() == 0 {
		conf = append(conf, "user root") // else it switches to user mosquitto, who cannot reach dir
	}
	confFile := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(confFile, []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	proc := testutil.StartProcess(t, bin, "-c", confFile)
	testutil.Eventually(t, wait, func() bool {
		c, err := net.Dial("unix", sock)
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	}, "mosquitto listening on "+sock)
	return func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}, proc
}

// dialWith connects a client through dialer (mosquitto's) and closes it at cleanup.
func dialWith(t *testing.T, dialer client.Dialer, opts client.Options) *client.Client {
	t.Helper()
	return dialVia(t, dialer, "mosquitto", opts)
}

// fakeServer accepts connections on 127.0.0.1:0, answers CONNECT with CONNACK 0
// and hands each connection to the test goroutine; everything after is the test's script.
type fakeServer struct {
	addr  string
	conns chan *rawConn
}

type rawConn struct {
	net.Conn
	r *packet.Reader
}

func startFake(t *testing.T) *fakeServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fs := &fakeServer{addr: l.Addr().String(), conns: make(chan *rawConn, 4)}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // owned by the cleanup below: closing l ends it
		defer wg.Done()
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			rc := &rawConn{Conn: nc, r: packet.NewReader(nc, 0)}
			if p, err := rc.r.ReadPacket(); err != nil || p.Type() != packet.CONNECT {
				_ = nc.Close()
				continue
			}
			if _, err := nc.Write([]byte{0x20, 2, 0, 0}); err != nil {
				_ = nc.Close()
				continue
			}
			fs.conns <- rc
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		wg.Wait()
		close(fs.conns)
		for rc := range fs.conns {
			_ = rc.Close()
		}
	})
	return fs
}

// accept returns the next connection that completed the handshake.
func (fs *fakeServer) accept(t *testing.T) *rawConn {
	t.Helper()
	select {
	case rc := <-fs.conns:
		t.Cleanup(func() { _ = rc.Close() })
		return rc
	case <-time.After(wait):
		t.Fatal("no connection to the fake server")
		return nil
	}
}

// read reads one packet within the test deadline.
func (rc *rawConn) read(t *testing.T) packet.Packet {
	t.Helper()
	_ = rc.SetReadDeadline(time.Now().Add(wait))
	p, err := rc.r.ReadPacket()
	if err != nil {
		t.Fatalf("fake server read: %v", err)
	}
	return p
}

func (rc *rawConn) send(t *testing.T, p packet.Packet) {
	t.Helper()
	b, err := packet.Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Write(b); err != nil {
		t.Fatalf("fake server write: %v", err)
	}
}

// doneRecorder records the done calls of PublishAsync, checking each is called once.
type doneRecorder struct {
	mu    sync.Mutex // guards the following
	order []int
	errs  map[int]error
	twice []int
}

func newDoneRecorder() *doneRecorder { return &doneRecorder{errs: map[int]error{}} }

func (d *doneRecorder) done(i int) func(error) {
	return func(err error) {
		d.mu.Lock()
		defer d.mu.Unlock()
		if _, ok := d.errs[i]; ok {
			d.twice = append(d.twice, i)
		}
		d.errs[i] = err
		d.order = append(d.order, i)
	}
}

func (d *doneRecorder) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.order)
}

// check fails unless dones 0..n-1 were each called once, in order.
func (d *doneRecorder) check(t *testing.T, n int) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.twice) > 0 {
		t.Errorf("done called twice for %v", d.twice)
	}
	if len(d.order) != n {
		t.Fatalf("%d dones called, want %d", len(d.order), n)
	}
	for i, got := range d.order {
		if got != i {
			t.Fatalf("done %d called in position %d (order %v...)", got, i, d.order[:min(len(d.order), i+5)])
		}
	}
}

func (d *doneRecorder) err(i int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.errs[i]
}
