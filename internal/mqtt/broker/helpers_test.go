package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/mqtt/packet"
	"github.com/outpost-iot/outpost/internal/testutil"
)

// event is one recorded Handler call.
type event struct {
	kind     string // "online", "offline", "subscribe", "unsubscribe", "publish"
	clientID string
	conn     *Conn
	session  bool
	err      error
	will     *Will
	filter   string
	pub      *Publish
}

// recorder is the fake application: an Authenticator whose Handlers record every call.
type recorder struct {
	mu     sync.Mutex // guards events
	events []event

	refuse    func(req *ConnectRequest) error             // optional: refuse a CONNECT
	subscribe func(filter string, qos byte) byte          // optional: grant decision
	publish   func(ctx context.Context, p *Publish) error // optional: inbound publish behaviour
	offline   func(c *Conn)                               // optional: runs in Offline before recording
}

type handler struct {
	r  *recorder
	id string
}

func (r *recorder) Connect(_ context.Context, req *ConnectRequest) (Handler, error) {
	if r.refuse != nil {
		if err := r.refuse(req); err != nil {
			return nil, err
		}
	}
	return &handler{r: r, id: req.ClientID}, nil
}

func (r *recorder) add(e event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// find returns the recorded events of kind (all kinds when "").
func (r *recorder) find(kind string) []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []event
	for _, e := range r.events {
		if kind == "" || e.kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func (h *handler) Subscribe(filter string, qos byte) byte {
	h.r.add(event{kind: "subscribe", clientID: h.id, filter: filter})
	if h.r.subscribe != nil {
		return h.r.subscribe(filter, qos)
	}
	return qos
}

func (h *handler) Unsubscribe(filter string) {
	h.r.add(event{kind: "unsubscribe", clientID: h.id, filter: filter})
}

// PublishAsync gives its verdict at once, as a handler with nothing to wait for does.
func (h *handler) PublishAsync(ctx context.Context, p *Publish, done func(error)) {
	if h.r.publish != nil {
		if err := h.r.publish(ctx, p); err != nil {
			done(err)
			return
		}
	}
	h.r.add(event{kind: "publish", clientID: h.id, pub: p})
	done(nil)
}

func (h *handler) Online(c *Conn, sessionPresent bool) {
	h.r.add(event{kind: "online", clientID: h.id, conn: c, session: sessionPresent})
}

func (h *handler) Offline(c *Conn, err error, will *Will) {
	if h.r.offline != nil {
		h.r.offline(c)
	}
	h.r.add(event{kind: "offline", clientID: h.id, conn: c, err: err, will: will})
}

// counters is a Metrics implementation for tests.
type counters struct {
	opened, closed, oversize, dropped atomic.Int64
	throttled                         atomic.Int64
	mu                                sync.Mutex // guards reasons, refused
	reasons                           map[string]int
	refused                           map[byte]int
}

func newCounters() *counters {
	return &counters{reasons: map[string]int{}, refused: map[byte]int{}}
}

func (m *counters) ConnectionOpened(string) { m.opened.Add(1) }
func (m *counters) ConnectionClosed(string) { m.closed.Add(1) }
func (m *counters) OversizePacket()         { m.oversize.Add(1) }
func (m *counters) DroppedQoS0()            { m.dropped.Add(1) }
func (m *counters) InboundThrottled()       { m.throttled.Add(1) }
func (m *counters) ConnectionRejected(reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reasons["rejected_"+reason]++
}
func (m *counters) ConnectRefused(code byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.refused[code]++
}
func (m *counters) ProtocolError(reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reasons[reason]++
}
func (m *counters) refusals(code byte) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.refused[code]
}
func (m *counters) reason(r string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reasons[r]
}

// testServer is a Server on 127.0.0.1:0 with a recorder and counters.
type testServer struct {
	*Server
	addr    string
	rec     *recorder
	metrics *counters
}

func startServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	rec := &recorder{}
	if cfg.Auth == nil {
		cfg.Auth = rec
	}
	m := newCounters()
	cfg.Metrics = m
	if cfg.Logger == nil && testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s := New(cfg)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	})
	return &testServer{Server: s, addr: l.Addr().String(), rec: rec, metrics: m}
}

// serveTLS serves ts also on a TLS listener (a certificate for 127.0.0.1 from a test CA)
// and returns its address; Close ends it with the server.
func (ts *testServer) serveTLS(t *testing.T) string {
	t.Helper()
	cert, err := testutil.TempCA(t).IssueServer([]string{"127.0.0.1"}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = ts.Serve(l) }()
	return l.Addr().String()
}

// serveWebSocket serves ts's WebSocket handler over HTTP and returns its ws:// URL.
func (ts *testServer) serveWebSocket(t *testing.T) string {
	hs := httptest.NewServer(ts.WebSocketHandler())
	t.Cleanup(hs.Close)
	return "ws" + strings.TrimPrefix(hs.URL, "http")
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, d, cond, "waiting for "+what)
}

// rawClient is a test MQTT client working at the packet level.
type rawClient struct {
	t  *testing.T
	nc net.Conn
	r  *packet.Reader
}

func dial(t *testing.T, addr string) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return newRawClient(t, nc)
}

// newRawClient wraps an established connection (TCP, TLS or WebSocket).
func newRawClient(t *testing.T, nc net.Conn) *rawClient {
	return &rawClient{t: t, nc: nc, r: packet.NewReader(nc, 0)}
}

func (c *rawClient) write(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *rawClient) send(p packet.Packet) {
	c.t.Helper()
	b, err := packet.Encode(p)
	if err != nil {
		c.t.Fatal(err)
	}
	c.write(b)
}

// read reads one packet within 5 s.
func (c *rawClient) read() packet.Packet {
	c.t.Helper()
	p, err := c.readErr(5 * time.Second)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return p
}

func (c *rawClient) readErr(d time.Duration) (packet.Packet, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(d))
	return c.r.ReadPacket()
}

// expectClosed reads until the server closes the connection (within d) and returns
// the packets received before the close.
func (c *rawClient) expectClosed(d time.Duration) []packet.Packet {
	c.t.Helper()
	var got []packet.Packet
	for {
		p, err := c.readErr(d)
		if err == nil {
			got = append(got, p)
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.t.Fatalf("connection still open after %v (received %d packets)", d, len(got))
		}
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !isReset(err) {
			c.t.Fatalf("unexpected read error %v", err)
		}
		return got
	}
}

func isReset(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe)
}

func connectPacket(id string, clean bool, keepAlive uint16) *packet.Connect {
	return &packet.Connect{ProtocolName: "MQTT", ProtocolLevel: 4, ClientID: id, CleanSession: clean, KeepAlive: keepAlive}
}

// connect dials and completes CONNECT/CONNACK, returning the CONNACK.
func connect(t *testing.T, addr string, cp *packet.Connect) (*rawClient, *packet.Connack) {
	t.Helper()
	c := dial(t, addr)
	c.send(cp)
	ack, ok := c.read().(*packet.Connack)
	if !ok {
		t.Fatalf("expected CONNACK")
	}
	return c, ack
}

func mustConnect(t *testing.T, ts *testServer, id string) *rawClient {
	t.Helper()
	c, ack := connect(t, ts.addr, connectPacket(id, true, 0))
	if ack.ReturnCode != 0 {
		t.Fatalf("CONNACK %d", ack.ReturnCode)
	}
	waitFor(t, 5*time.Second, "online "+id, func() bool { return ts.Lookup(id) != nil })
	return c
}

func dialNoCleanup(addr string) net.Conn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil
	}
	return c
}
