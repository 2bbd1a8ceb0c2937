package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/outpost-iot/outpost/internal/connlimit"
)

// Server is an MQTT 3.1.1 server. It is safe for concurrent use.
type Server struct {
	cfg     Config
	limited *logLimiter        // rate-limited logs: every log of the server goes through it
	lim     *connlimit.Limiter // Config.Limiter or the server's own
	group   *connlimit.Group   // authenticated connections, at most MaxConnections

	mu        sync.Mutex // guards the following
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[*Conn]struct{} // every live connection, including before CONNECT
	clients   map[string]*Conn   // by client id: its latest CONNECT, until that connection ends
	// refusing holds the connections over MaxConnections being answered (D4), at most
	// maxRefusing (a constant but for tests); beyond it such connections are closed at once.
	refusing    map[net.Conn]struct{}
	maxRefusing int
	// active holds, by client id, the connection that passed takeover, until its Offline has
	// returned; only it may go online, so Offline and Online alternate per id (D10).
	active map[string]*Conn
	wg     sync.WaitGroup // Serve loops and ServeConn calls; Add only under mu while !closed
}

// New returns a Server; cfg.Auth is required.
func New(cfg Config) *Server {
	cfg = cfg.withDefaults()
	lim := cfg.Limiter
	if lim == nil {
		lim = connlimit.New(connlimit.Config{MaxPending: cfg.MaxPendingConnects, MaxPendingPerSource: cfg.MaxPendingPerSource})
	}
	return &Server{
		cfg:       cfg,
		limited:   newLogLimiter(cfg.Logger.With("component", "mqtt"), serverLogRate, serverLogBurst),
		lim:       lim,
		group:     lim.Group(cfg.MaxConnections),
		listeners: map[net.Listener]struct{}{},
		conns:     map[*Conn]struct{}{},
		refusing:  map[net.Conn]struct{}{},
		clients:   map[string]*Conn{},
		active:    map[string]*Conn{},

		maxRefusing: maxRefusing,
	}
}

// Serve accepts connections on l until Close (then it returns ErrServerClosed)
// or until l fails permanently. A *tls.Conn gets its handshake, bounded by
// ConnectTimeout, in the connection's goroutine, so a stalled handshake never
// blocks the accept loop (D2).
func (s *Server) Serve(l net.Listener) error {
	if !s.track(func() { s.listeners[l] = struct{}{} }) {
		return ErrServerClosed
	}
	defer s.wg.Done()
	defer s.untrack(func() { delete(s.listeners, l) })
	backoff := time.Duration(0)
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.isClosed() {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("broker: accept: %w", err)
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.limited.logAttrs(slog.LevelWarn, "accept failed", "err", err, "retry_in", backoff)
			time.Sleep(backoff) // accept back-off, as net/http does for EMFILE
			continue
		}
		backoff = 0
		transport := "tcp"
		if _, ok := nc.(*tls.Conn); ok {
			transport = "tls"
		}
		go s.ServeConn(nc, transport)
	}
}

// ServeConn serves one connection and returns when it has ended. transport is reported
// in ConnectRequest.Transport.
func (s *Server) ServeConn(nc net.Conn, transport string) {
	s.serveConn(newConn(s, nc, transport))
}

func (s *Server) serveConn(c *Conn) {
	switch s.addConn(c) {
	case admitted:
	case overBudget:
		s.refuseOverCap(c.nc)
		return
	default:
		_ = c.nc.Close()
		return
	}
	defer s.wg.Done()
	s.cfg.Metrics.ConnectionOpened(c.transport)
	defer s.cfg.Metrics.ConnectionClosed(c.transport)
	c.serve()
}

// admission is addConn's verdict on a new connection.
type admission int

const (
	admitted     admission = iota
	serverClosed           // close at once
	overBudget             // the descriptor budget is full of authenticated connections: answer CONNACK 0x03 if cheap, else close (D4)
)

// errEvicted closes a connection before CONNACK to make room for a newer one (D1).
var errEvicted = errors.New("broker: unauthenticated connection evicted for a newer one")

// addConn registers c with a pending ticket of the limiter (see package connlimit: a
// newcomer evicts the oldest unauthenticated connection when a cap is full) unless the
// server is closed or the budget is full of authenticated connections.
func (s *Server) addConn(c *Conn) admission {
	if s.isClosed() {
		return serverClosed
	}
	t := s.lim.Admit(s.group, c.source, func() {
		s.reject("pending_evicted", s.cfg.MaxPendingConnects)
		c.Close(errEvicted)
	})
	if t == nil {
		s.reject("max_descriptors", 0)
		return overBudget
	}
	c.ticket = t
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		t.Release()
		return serverClosed
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return admitted
}

func (s *Server) reject(reason string, limit int) {
	s.cfg.Metrics.ConnectionRejected(reason)
	s.limited.logAttrs(slog.LevelWarn, "mqtt connection rejected", "reason", reason, "limit", limit)
}

func (s *Server) removeConn(c *Conn) {
	c.ticket.Release()
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	if c.clientID != "" && s.clients[c.clientID] == c {
		delete(s.clients, c.clientID)
	}
	if c.clientID != "" && s.active[c.clientID] == c {
		delete(s.active, c.clientID)
	}
}

// register makes c the connection for its client id and returns the previous one, if any.
func (s *Server) register(c *Conn) (old *Conn, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrServerClosed
	}
	old = s.clients[c.clientID]
	s.clients[c.clientID] = c
	return old, nil
}

// claim makes c the active connection of its client id when no other connection is,
// or returns the active one, whose Offline must return first. It fails when a newer
// CONNECT took the client id over or the server is closed.
func (s *Server) claim(c *Conn) (holder *Conn, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return nil, ErrServerClosed
	case s.clients[c.clientID] != c:
		return nil, ErrSessionTakenOver
	}
	if h := s.active[c.clientID]; h != nil && h != c {
		return h, nil
	}
	s.active[c.clientID] = c
	return nil, nil
}

// track runs f under the lock and adds a wait-group count unless closed.
func (s *Server) track(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	f()
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Lookup returns the connection of clientID once its CONNACK has been sent and
// until it is closed, or nil.
func (s *Server) Lookup(clientID string) *Conn {
	s.mu.Lock()
	c := s.clients[clientID]
	s.mu.Unlock()
	if c == nil || !c.ready.Load() || c.ctx.Err() != nil {
		return nil
	}
	return c
}

// Connections returns the number of live network connections (including those before CONNECT).
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Close stops the listeners and ends every connection (their Offline runs with
// ErrServerClosed), then waits for all goroutines. An authenticated connection is drained
// (RELIABILITY A10): its reading stops, the publishes already handed to the Handler
// get their verdicts and their PUBACKs are written before it closes, so that no message is
// stored without its acknowledgement; Config.DrainTimeout bounds this. It is safe to call twice.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	ls := make([]net.Listener, 0, len(s.listeners))
	for l := range s.listeners {
		ls = append(ls, l)
	}
	cs := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		cs = append(cs, c)
	}
	rs := make([]net.Conn, 0, len(s.refusing))
	for nc := range s.refusing {
		rs = append(rs, nc)
	}
	s.mu.Unlock()
	var errs []error
	for _, l := range ls {
		if err := l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, fmt.Errorf("broker: close listener: %w", err))
		}
	}
	for _, c := range cs {
		if c.ready.Load() {
			c.drain()
		} else {
			c.Close(ErrServerClosed)
		}
	}
	for _, nc := range rs {
		_ = nc.Close()
	}
	s.awaitDrain(cs)
	return errors.Join(errs...)
}

// awaitDrain waits for every goroutine of the server; connections still draining after
// DrainTimeout are closed, so that Close cannot hang on a client that does not read.
func (s *Server) awaitDrain(cs []*Conn) {
	done := make(chan struct{})
	go func() { // owned by awaitDrain, which waits for it
		s.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(s.cfg.DrainTimeout)
	defer t.Stop()
	select {
	case <-done:
		return
	case <-t.C:
	}
	s.limited.logAttrs(slog.LevelWarn, "mqtt connections still draining at the deadline, closed", "drain_timeout", s.cfg.DrainTimeout)
	for _, c := range cs {
		c.Close(ErrServerClosed)
	}
	<-done
}

// handshakeTLS completes a TLS handshake within ConnectTimeout (D2).
func (s *Server) handshakeTLS(ctx context.Context, tc *tls.Conn) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ConnectTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("broker: tls handshake: %w", err)
	}
	return nil
}
