package broker

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outpost-iot/outpost/internal/connlimit"
	"github.com/outpost-iot/outpost/internal/mqtt/packet"
)

// Conn is one client connection. Its exported methods are safe for concurrent use.
type Conn struct {
	srv       *Server
	nc        net.Conn
	transport string
	source    string               // the remote IP, the per-source key of the pending caps (D1)
	tls       *tls.ConnectionState // for a WebSocket over HTTPS: the TLS state of its HTTP request
	ticket    *connlimit.Ticket    // set by addConn; pending until CONNACK (D1, D4)

	// Set by the read goroutine during CONNECT, before ready; read-only afterwards.
	clientID    string
	clean       bool
	keepAlive   uint16        // as the client asked
	idleTimeout time.Duration // silence that closes the connection; 0 = none (D3)
	handler     Handler
	will        *Will

	ctx       context.Context // cancelled by Close with the close reason as cause
	cancel    context.CancelCauseFunc
	closeOnce sync.Once
	done      chan struct{} // closed when the connection has fully ended (after Offline)
	ready     atomic.Bool   // CONNACK sent; Lookup may return the connection
	writer    lazyWorker    // the write goroutine, running while packets are queued
	ackSlots  chan struct{} // one per inbound publish awaiting its verdict or the writing of its PUBACK (MaxInboundInflight)

	ackMu    sync.Mutex    // guards ackQ and acksIdle
	ackQ     []*pendingAck // publishes awaiting or holding their verdict, in arrival order
	acksIdle chan struct{} // closed once ackQ is empty and its PUBACKs queued; nil when nobody waits

	draining atomic.Bool // Server.Close is draining the connection (A10)

	log            logLimiter // this connection's logs, within the server's budget
	out            outbound
	reader         *connReader  // used by the read goroutine only
	sessionPresent bool         // set during CONNECT
	inRate         *tokenBucket // inbound rate limit (D8), nil when off; read goroutine only
	throttled      bool         // the rate limit has slowed this connection; read goroutine only

	mu   sync.Mutex     // guards subs
	subs []Subscription // the session's subscriptions, in subscription order
}

func newConn(s *Server, nc net.Conn, transport string) *Conn {
	c := &Conn{srv: s, nc: nc, transport: transport, source: connlimit.Source(nc.RemoteAddr()), done: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancelCause(context.Background())
	c.out = newOutbound(s.cfg)
	c.log = s.limited.child()
	c.ackSlots = make(chan struct{}, s.cfg.MaxInboundInflight)
	if s.cfg.MaxInboundRate > 0 {
		b := newTokenBucket(s.cfg.MaxInboundRate, float64(s.cfg.InboundBurst))
		c.inRate = &b
	}
	return c
}

// ClientID returns the client identifier from CONNECT (generated when it was empty).
func (c *Conn) ClientID() string { return c.clientID }

// Handler returns the handler the Authenticator bound to this connection.
func (c *Conn) Handler() Handler { return c.handler }

// Done is closed when the connection has ended and Offline has returned.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Context returns a context that ends when the connection starts to close (before
// Offline runs), with the close reason as its cause (context.Cause): ErrSessionTakenOver,
// ErrServerClosed, the reason given to Close, the read error. Work a Handler does for the
// connection (a delivery pump, a pending request) can be tied to it.
func (c *Conn) Context() context.Context { return c.ctx }

// Close closes the connection with reason (nil means ErrConnClosed). It does not
// wait; use Done. Only the first reason is kept.
func (c *Conn) Close(reason error) {
	if reason == nil {
		reason = ErrConnClosed
	}
	c.closeOnce.Do(func() {
		c.cancel(reason)
		_ = c.nc.Close()
	})
}

// Subscribed reports the highest granted QoS among the subscriptions matching topic.
func (c *Conn) Subscribed(topic string) (qos byte, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.subs {
		if packet.Match(s.Filter, topic) {
			qos, ok = max(qos, s.QoS), true
		}
	}
	return qos, ok
}

// Subscriptions returns a copy of the session's subscriptions (restored and new).
func (c *Conn) Subscriptions() []Subscription {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Subscription(nil), c.subs...)
}

// closeError is a protocol violation detected by the session layer; reason is a Metrics label.
type closeError struct {
	reason string
	msg    string
}

func (e *closeError) Error() string { return "broker: " + e.msg }

// errDisconnect marks a clean end after DISCONNECT; Offline gets nil.
var errDisconnect = errors.New("broker: client sent DISCONNECT")

// serve is the read goroutine's body; see the package documentation.
func (c *Conn) serve() {
	err := c.handshake()
	online := err == nil
	if online {
		c.handler.Online(c, c.sessionPresent)
		err = c.readLoop()
		if c.draining.Load() {
			c.finishDrain()
		}
	}
	if c.reader != nil {
		c.reader.release()
	}
	c.Close(err)
	c.writer.stop()
	reason := context.Cause(c.ctx)
	c.endPublishes(reason)
	c.record(reason)
	if online {
		c.handler.Offline(c, offlineErr(reason), c.willFor(reason))
	}
	c.srv.removeConn(c)
	close(c.done)
}

func offlineErr(reason error) error {
	if errors.Is(reason, errDisconnect) {
		return nil
	}
	return reason
}

// willFor returns the will unless the client sent DISCONNECT [MQTT-3.14.4-3].
func (c *Conn) willFor(reason error) *Will {
	if errors.Is(reason, errDisconnect) {
		return nil
	}
	return c.will
}

// record counts and logs why the connection ended.
func (c *Conn) record(reason error) {
	m := c.srv.cfg.Metrics
	label := packet.Reason(reason)
	var ce *closeError
	if errors.As(reason, &ce) {
		label = ce.reason
	}
	if label == "too_large" {
		m.OversizePacket()
	}
	if label != "other" {
		m.ProtocolError(label)
	}
	level := slog.LevelDebug
	switch {
	case errors.Is(reason, ErrTakeoverTimeout):
		level = slog.LevelWarn
	case label != "other":
		level = slog.LevelInfo
	}
	c.log.logAttrs(level, "mqtt connection closed", "client_id", c.clientID, "remote",
		c.nc.RemoteAddr().String(), "transport", c.transport, "reason", reason.Error())
}

// readLoop reads packets until an error; the connection is closed after its idle
// timeout without a packet [MQTT-3.1.2-24] (D3), and slowed to MaxInboundRate (D8).
func (c *Conn) readLoop() error {
	for {
		if err := c.setKeepAliveDeadline(); err != nil {
			return err
		}
		// After the deadline is set, so that drain's own deadline cannot be overwritten.
		if c.draining.Load() {
			return ErrServerClosed
		}
		p, err := c.reader.ReadPacket()
		if err != nil && c.draining.Load() {
			return ErrServerClosed
		}
		if err != nil {
			return c.readError(err, "keepalive")
		}
		if err := c.throttle(p); err != nil {
			return err
		}
		if err := c.dispatch(p); err != nil {
			return err
		}
	}
}

// idleTimeout is how long a connection may stay silent: 1.5 x its keep-alive
// [MQTT-3.1.2-24], the keep-alive capped at maxKeepAlive when that is positive; a
// keep-alive of 0 (none) is held to maxKeepAlive too (D3). 0 means no timeout.
func idleTimeout(keepAlive uint16, maxKeepAlive time.Duration) time.Duration {
	ka := time.Duration(keepAlive) * time.Second
	if maxKeepAlive > 0 && (ka == 0 || ka > maxKeepAlive) {
		ka = maxKeepAlive
	}
	return ka * 3 / 2
}

func (c *Conn) setKeepAliveDeadline() error {
	var deadline time.Time
	if c.idleTimeout > 0 {
		deadline = time.Now().Add(c.idleTimeout)
	}
	if err := c.nc.SetReadDeadline(deadline); err != nil {
		return fmt.Errorf("broker: set read deadline: %w", err)
	}
	return nil
}

// throttle waits until the inbound rate limit admits p (D8); it returns early with
// the close reason when the connection closes. A PUBACK of one of the server's own
// deliveries is free: the outbound window bounds those already.
func (c *Conn) throttle(p packet.Packet) error {
	if c.inRate == nil {
		return nil
	}
	if ack, ok := p.(*packet.Puback); ok && c.out.expects(ack.PacketID) {
		return nil
	}
	wait := c.inRate.reserve(time.Now())
	if wait <= 0 {
		return nil
	}
	c.noteThrottled()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-c.ctx.Done():
		return context.Cause(c.ctx)
	}
}

// noteThrottled counts a throttled packet and logs the first one of the connection.
func (c *Conn) noteThrottled() {
	if m, ok := c.srv.cfg.Metrics.(ThrottleMetrics); ok {
		m.InboundThrottled()
	}
	if !c.throttled {
		c.throttled = true
		c.log.logAttrs(slog.LevelInfo, "mqtt inbound rate limit reached, slowing the client",
			"client_id", c.clientID, "max_inbound_rate", c.srv.cfg.MaxInboundRate)
	}
}

// readError turns a timeout into a closeError with timeoutReason.
func (c *Conn) readError(err error, timeoutReason string) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return &closeError{reason: timeoutReason, msg: timeoutReason + " timeout"}
	}
	if packet.Reason(err) != "other" {
		return err
	}
	return fmt.Errorf("broker: read: %w", err)
}

// dispatch handles one packet after CONNECT.
func (c *Conn) dispatch(p packet.Packet) error {
	switch p := p.(type) {
	case *packet.Publish:
		return c.inbound(p)
	case *packet.Puback:
		c.acked(p.PacketID)
		return nil
	case *packet.Subscribe:
		return c.subscribe(p)
	case *packet.Unsubscribe:
		return c.unsubscribe(p)
	case *packet.Pingreq:
		return c.send(&packet.Pingresp{})
	case *packet.Disconnect:
		return errDisconnect
	case *packet.Connect:
		return &closeError{reason: "second_connect", msg: "second CONNECT [MQTT-3.1.0-2]"}
	case *packet.Pubrec, *packet.Pubrel, *packet.Pubcomp:
		return &closeError{reason: "qos2", msg: "QoS 2 flow not supported (IOTEDGE-REFERENCE §1.9)"}
	}
	return &closeError{reason: "server_only_packet", msg: "client sent " + p.Type().String()}
}

// inbound handles a client PUBLISH; PUBACK only after the handler accepted it.
func (c *Conn) inbound(p *packet.Publish) error {
	if p.QoS == 2 {
		return &closeError{reason: "qos2", msg: "QoS 2 PUBLISH not supported (IOTEDGE-REFERENCE §1.9)"}
	}
	return c.inboundAsync(&Publish{Topic: p.Topic, Payload: p.Payload, QoS: p.QoS, Retain: p.Retain, Dup: p.Dup, PacketID: p.PacketID})
}

// send queues a response packet for the write goroutine, waiting while ctrlCap are queued.
func (c *Conn) send(p packet.Packet) error {
	b, err := packet.Encode(p)
	if err != nil {
		return fmt.Errorf("broker: encode %v: %w", p.Type(), err)
	}
	for {
		wait := c.out.pushCtrl(b)
		if wait == nil {
			c.startWriter()
			return nil
		}
		select { // the write goroutine runs: it has the full queue to write
		case <-wait:
		case <-c.ctx.Done():
			return context.Cause(c.ctx)
		}
	}
}

// writeDirect writes p synchronously; used for CONNACK, before the write goroutine starts.
func (c *Conn) writeDirect(p packet.Packet) error {
	b, err := packet.Encode(p)
	if err != nil {
		return fmt.Errorf("broker: encode %v: %w", p.Type(), err)
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
	if _, err := c.nc.Write(b); err != nil {
		return fmt.Errorf("broker: write %v: %w", p.Type(), err)
	}
	return nil
}

func (c *Conn) tlsState() *tls.ConnectionState {
	if c.tls != nil {
		return c.tls
	}
	if tc, ok := c.nc.(*tls.Conn); ok {
		st := tc.ConnectionState()
		return &st
	}
	return nil
}

// generateClientID assigns an identifier to a CleanSession=1 client that sent
// none [MQTT-3.1.3-6].
func generateClientID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "outpost-" + hex.EncodeToString(b[:])
}
