package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outpost-iot/outpost/internal/mqtt/packet"
)

// Defaults and limits of Options.
const (
	DefaultWindow         = 64
	MaxWindow             = 32768 // leaves half the packet identifiers to SUBSCRIBE/UNSUBSCRIBE
	DefaultMaxPacketSize  = 1 << 20
	DefaultConnectTimeout = 30 * time.Second
)

// Errors of the client. Errors that end a connection wrap ErrConnectionLost,
// except the caller's own Close or Disconnect, which end it with ErrClosed.
var (
	// ErrConnectionLost: the connection ended without the caller asking
	// (network error, server closed it, keep-alive timeout, protocol violation).
	ErrConnectionLost = errors.New("mqtt client: connection lost")
	// ErrKeepAliveTimeout: nothing was received for 1.5 x the keep-alive (a
	// dead or half-open link); it comes wrapped with ErrConnectionLost.
	ErrKeepAliveTimeout = errors.New("mqtt client: keep-alive timeout")
	// ErrProtocol: the server sent something MQTT 3.1.1 does not allow a
	// server to send; it comes wrapped with ErrConnectionLost.
	ErrProtocol = errors.New("mqtt client: protocol violation by the server")
	// ErrClosed: the caller closed or disconnected the client.
	ErrClosed = errors.New("mqtt client: closed")
	// ErrNoPacketID: every packet identifier is in use (SUBSCRIBEs that were
	// never acknowledged hold theirs).
	ErrNoPacketID = errors.New("mqtt client: no free packet identifier")
)

// ConnackError is a CONNACK that refused the connection [MQTT-3.2.2.3].
type ConnackError struct {
	Code byte // 1..5
}

var connackReasons = [...]string{
	packet.RefusedProtocolVersion:     "unacceptable protocol version",
	packet.RefusedIdentifierRejected:  "identifier rejected",
	packet.RefusedServerUnavailable:   "server unavailable",
	packet.RefusedBadUsernamePassword: "bad user name or password",
	packet.RefusedNotAuthorized:       "not authorized",
}

func (e *ConnackError) Error() string {
	reason := "unknown return code"
	if int(e.Code) < len(connackReasons) && e.Code != 0 {
		reason = connackReasons[e.Code]
	}
	return fmt.Sprintf("mqtt client: connection refused: %s (CONNACK %d)", reason, e.Code)
}

// Retryable reports whether the same CONNECT may succeed later: only "server
// unavailable" (IoT Hub and our cloud answer it when overloaded or when the
// registry cannot be read); the other codes need new credentials or settings.
func (e *ConnackError) Retryable() bool { return e.Code == packet.RefusedServerUnavailable }

// Options configure a connection. Zero values take the documented defaults.
type Options struct {
	ClientID     string
	CleanSession bool
	// Username and Password: the user name flag is set when Username is not
	// empty or Password is not nil; the password flag when Password is not nil.
	Username string
	Password []byte
	Will     *packet.Will // nil: no will
	// KeepAlive is sent in CONNECT (whole seconds, at most 65535 s); 0 disables
	// keep-alive. See the package documentation for pings and dead-link detection.
	KeepAlive time.Duration
	// Window bounds the publishes (QoS 0 and 1) handed to PublishAsync whose done has
	// not yet been called; PublishAsync blocks while it is full. Default 64, at most MaxWindow.
	Window int
	// MaxPacketSize bounds the remaining length of an inbound packet; a larger
	// one ends the connection before its body is read. Default 1 MiB.
	MaxPacketSize int
	// ConnectTimeout bounds the CONNECT/CONNACK handshake (and for Dial the
	// dial and TLS handshake), in addition to the context. Default 30 s.
	ConnectTimeout time.Duration
	// OnPublish receives inbound PUBLISH packets, on the read goroutine, in
	// arrival order; it must not block (hand the message over and return). ack
	// must be called once the message is safe (e.g. durable): for QoS 1 the
	// PUBACK is sent then, and PUBACKs go out in arrival order whatever the
	// order of the ack calls [MQTT-4.6.0-2]. ack is a no-op for QoS 0 and may be
	// called from any goroutine; calls after the first are ignored. The packet's
	// Payload is the client's own and stays valid. nil: inbound publishes are
	// acknowledged and dropped.
	OnPublish func(p *packet.Publish, ack func())
	Logger    *slog.Logger // nil: discard
}

func (o Options) withDefaults() (Options, error) {
	if o.KeepAlive < 0 || o.KeepAlive%time.Second != 0 || o.KeepAlive > 65535*time.Second {
		return o, fmt.Errorf("mqtt client: keep-alive %v: must be whole seconds from 0 to 65535", o.KeepAlive)
	}
	if o.Window < 0 || o.Window > MaxWindow {
		return o, fmt.Errorf("mqtt client: window %d: must be from 1 to %d", o.Window, MaxWindow)
	}
	if o.Will != nil && (o.Will.QoS > 1 || !packet.ValidTopicName(o.Will.Topic)) {
		return o, fmt.Errorf("mqtt client: will: invalid topic %q or qos %d", o.Will.Topic, o.Will.QoS)
	}
	setDefault(&o.Window, DefaultWindow)
	setDefault(&o.MaxPacketSize, DefaultMaxPacketSize)
	setDefault(&o.ConnectTimeout, DefaultConnectTimeout)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Logger = o.Logger.With("component", "mqtt-client", "client_id", o.ClientID)
	return o, nil
}

func setDefault[T int | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

// Client is one MQTT connection to a server. Its methods are safe for concurrent use.
type Client struct {
	conn           net.Conn
	opts           Options
	log            *slog.Logger
	sessionPresent bool

	start              time.Time    // the clock of lastRecv and lastSent (monotonic)
	lastRecv, lastSent atomic.Int64 // nanoseconds since start

	slots       chan struct{} // the publish window: one token per publish not yet completed
	completions chan *entry   // to the callbacks goroutine; capacity Window (see advanceLocked)
	wake        chan struct{} // capacity 1: the write queue is not empty
	dying       chan struct{} // closed when the connection is to end
	callbacks   chan struct{} // closed when the callbacks goroutine has returned
	done        chan struct{} // closed when everything has stopped
	workers     sync.WaitGroup

	mu              sync.Mutex // guards the following
	err             error      // why the connection ended; set once
	stopping        bool       // Disconnect: no new publishes
	fifo            []*entry   // publishes in PublishAsync order, not yet handed to callbacks
	inflight        map[uint16]*entry
	waiters         map[uint16]*waiter
	nextID          uint16
	outq            []outItem // encoded packets for the write goroutine, in order
	inbound         []*inboundMsg
	pingOutstanding bool
	drained         chan struct{} // Disconnect: closed when fifo becomes empty
	disconnecting   bool          // DISCONNECT queued: the server closing is the expected end
}

// entry is one PublishAsync call.
type entry struct {
	qos     byte
	id      uint16
	done    func(error)
	written bool // flushed to the connection (completes QoS 0)
	acked   bool // PUBACK received (completes QoS 1)
	err     error
}

// outItem is one encoded packet; e is the publish it carries, flushed the
// channel to close once it has been flushed (DISCONNECT).
type outItem struct {
	buf     []byte
	e       *entry
	flushed chan struct{}
}

// waiter is a SUBSCRIBE or UNSUBSCRIBE awaiting its acknowledgement.
type waiter struct {
	kind packet.Type // SUBACK or UNSUBACK expected
	n    int         // filters sent: a SUBACK carries as many return codes [MQTT-3.9.3-1]
	ch   chan packet.Packet
}

// inboundMsg is an inbound QoS 1 PUBLISH awaiting OnPublish's ack.
type inboundMsg struct {
	id    uint16
	acked bool
}

// Connect runs the MQTT handshake on conn, which the client owns from then
// on (it is closed on failure too). A refused CONNACK returns a *ConnackError.
func Connect(ctx context.Context, conn net.Conn, opts Options) (*Client, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, opts.ConnectTimeout)
	defer cancel()
	c := newClient(conn, opts)
	r := packet.NewReader(liveReader{c}, opts.MaxPacketSize)
	if err := c.handshake(ctx, r); err != nil {
		_ = conn.Close()
		return nil, err
	}
	c.run(r)
	c.log.Debug("mqtt connected", "session_present", c.sessionPresent, "remote", conn.RemoteAddr().String())
	return c, nil
}

func newClient(conn net.Conn, opts Options) *Client {
	return &Client{
		conn:        conn,
		opts:        opts,
		log:         opts.Logger,
		start:       time.Now(),
		slots:       make(chan struct{}, opts.Window),
		completions: make(chan *entry, opts.Window),
		wake:        make(chan struct{}, 1),
		dying:       make(chan struct{}),
		callbacks:   make(chan struct{}),
		done:        make(chan struct{}),
		inflight:    map[uint16]*entry{},
		waiters:     map[uint16]*waiter{},
	}
}

// handshake writes CONNECT and reads CONNACK, which must be the server's first
// packet [MQTT-3.2.0-1]; ctx cancels it through the connection's deadline.
func (c *Client) handshake(ctx context.Context, r *packet.Reader) error {
	stop := context.AfterFunc(ctx, func() { _ = c.conn.SetDeadline(time.Unix(1, 0)) })
	err := c.exchangeConnect(r)
	if !stop() {
		return fmt.Errorf("mqtt client: connect: %w", context.Cause(ctx))
	}
	if err != nil {
		return err
	}
	if err := c.conn.SetDeadline(time.Time{}); err != nil {
		return fmt.Errorf("mqtt client: connect: clear deadline: %w", err)
	}
	return nil
}

func (c *Client) exchangeConnect(r *packet.Reader) error {
	b, err := packet.Encode(c.connectPacket())
	if err != nil {
		return fmt.Errorf("mqtt client: encode CONNECT: %w", err)
	}
	if _, err := c.conn.Write(b); err != nil {
		return fmt.Errorf("mqtt client: write CONNECT: %w", err)
	}
	p, err := r.ReadPacket()
	if err != nil {
		return fmt.Errorf("mqtt client: read CONNACK: %w", err)
	}
	ack, ok := p.(*packet.Connack)
	if !ok {
		return fmt.Errorf("%w: %v before CONNACK [MQTT-3.2.0-1]", ErrProtocol, p.Type())
	}
	if ack.ReturnCode != packet.Accepted {
		return &ConnackError{Code: ack.ReturnCode}
	}
	c.sessionPresent = ack.SessionPresent
	return nil
}

func (c *Client) connectPacket() *packet.Connect {
	o := c.opts
	return &packet.Connect{
		ProtocolName:  "MQTT",
		ProtocolLevel: 4,
		CleanSession:  o.CleanSession,
		KeepAlive:     uint16(o.KeepAlive / time.Second),
		ClientID:      o.ClientID,
		Will:          o.Will,
		HasUsername:   o.Username != "" || o.Password != nil,
		Username:      o.Username,
		HasPassword:   o.Password != nil,
		Password:      o.Password,
	}
}

// run starts the goroutines of a connected client.
func (c *Client) run(r *packet.Reader) {
	now := c.now()
	c.lastRecv.Store(now)
	c.lastSent.Store(now)
	c.workers.Add(2)
	go c.readLoop(r)
	go c.writeLoop()
	if c.opts.KeepAlive > 0 {
		c.workers.Add(1)
		go c.keepAliveLoop()
	}
	go c.callbackLoop()
	go c.supervise()
}

// SessionPresent reports the CONNACK's session present flag [MQTT-3.2.2-2].
func (c *Client) SessionPresent() bool { return c.sessionPresent }

// Done is closed when the connection has ended, every pending publish's done
// has been called and every goroutine of the client has returned.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended (nil while it is up): ErrClosed after
// Close or Disconnect, else an error wrapping ErrConnectionLost.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close ends the connection at once, without DISCONNECT (so the server
// publishes the will), fails pending publishes with ErrClosed and returns
// when Done is closed. It must not be called from OnPublish or a done callback
// (it waits for their goroutines); those may call it in a new goroutine.
func (c *Client) Close() error {
	c.fail(ErrClosed)
	<-c.done
	return nil
}

// Disconnect ends the connection cleanly: new publishes are refused, the
// pending ones are given until ctx ends to complete, then DISCONNECT is sent
// (the server discards the will [MQTT-3.14.4-3]) and the connection closed.
// Publishes still pending then fail with ErrClosed. It returns when Done is
// closed; the error reports a DISCONNECT that could not be sent in time.
func (c *Client) Disconnect(ctx context.Context) error {
	c.mu.Lock()
	c.stopping = true
	drained := make(chan struct{})
	if len(c.fifo) == 0 {
		close(drained)
	} else {
		c.drained = drained
	}
	c.mu.Unlock()
	select {
	case <-drained:
	case <-ctx.Done():
	case <-c.dying:
	}
	err := c.sendDisconnect(ctx)
	c.fail(ErrClosed)
	<-c.done
	return err
}

func (c *Client) sendDisconnect(ctx context.Context) error {
	b, _ := packet.Encode(&packet.Disconnect{}) // a fixed two bytes
	flushed := make(chan struct{})
	c.mu.Lock()
	err := c.err
	if err == nil {
		c.disconnecting = true
		c.enqueueLocked(outItem{buf: b, flushed: flushed})
	}
	c.mu.Unlock()
	if err != nil {
		return fmt.Errorf("mqtt client: disconnect: %w", err)
	}
	select {
	case <-flushed:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("mqtt client: disconnect: %w", ctx.Err())
	case <-c.dying:
		// The server may close as soon as it reads DISCONNECT [MQTT-3.14.4-1], before
		// the write goroutine reports the flush; once it has stopped, flushed is final.
		<-c.done
		select {
		case <-flushed:
			return nil
		default:
			return fmt.Errorf("mqtt client: disconnect: %w", c.Err())
		}
	}
}

func (c *Client) enqueueLocked(o outItem) {
	c.outq = append(c.outq, o)
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// fail ends the connection with err; the first call wins.
func (c *Client) fail(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	c.mu.Unlock()
	close(c.dying)
	_ = c.conn.Close()
	if errors.Is(err, ErrConnectionLost) {
		c.log.Debug("mqtt connection lost", "err", err)
	}
}

// lost wraps the cause of a connection the caller did not end.
func lost(format string, args ...any) error {
	return fmt.Errorf("%w: %w", ErrConnectionLost, fmt.Errorf(format, args...))
}

// supervise waits for the end, then stops everything in order and closes done.
func (c *Client) supervise() {
	<-c.dying
	c.workers.Wait()
	c.mu.Lock()
	for _, e := range c.fifo {
		e.err = c.err
		c.completions <- e // never blocks: each entry holds a slot (see advanceLocked)
	}
	c.fifo, c.inflight, c.inbound, c.outq = nil, nil, nil, nil
	close(c.completions)
	c.mu.Unlock()
	<-c.callbacks
	close(c.done)
}

func (c *Client) now() int64 { return int64(time.Since(c.start)) }

// liveReader records when bytes arrive: any byte from the server proves the
// link alive, also in the middle of a large packet.
type liveReader struct{ c *Client }

func (l liveReader) Read(b []byte) (int, error) {
	n, err := l.c.conn.Read(b)
	if n > 0 {
		l.c.lastRecv.Store(l.c.now())
	}
	return n, err
}

var _ io.Reader = liveReader{}
