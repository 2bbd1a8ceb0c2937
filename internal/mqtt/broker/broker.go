package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/outpost-iot/outpost/internal/connlimit"
	"github.com/outpost-iot/outpost/internal/mqtt/packet"
)

// Will is the will message of a connection, handed to Handler.Offline when the
// connection ends without DISCONNECT.
type Will struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
}

// ConnectRequest is a validated CONNECT, passed to the Authenticator.
type ConnectRequest struct {
	ClientID, Username string
	Password           []byte
	HasPassword        bool
	CleanSession       bool
	KeepAlive          uint16
	Will               *Will
	TLS                *tls.ConnectionState // nil on plain TCP
	RemoteAddr         net.Addr
	Transport          string // "tcp", "tls", "ws", "wss"
}

// ConnectError refuses a CONNECT with a CONNACK return code (1..5).
type ConnectError struct {
	Code   byte
	Reason string
}

func (e *ConnectError) Error() string {
	return fmt.Sprintf("broker: connect refused (code %d): %s", e.Code, e.Reason)
}

// CONNACK return codes an Authenticator may use in a ConnectError [MQTT-3.2.2.3];
// the codec's names under the broker's.
const (
	CodeBadProtocol        = packet.RefusedProtocolVersion
	CodeIdentifierRejected = packet.RefusedIdentifierRejected
	CodeServerUnavailable  = packet.RefusedServerUnavailable
	CodeBadCredentials     = packet.RefusedBadUsernamePassword
	CodeNotAuthorized      = packet.RefusedNotAuthorized
)

// Authenticator decides whether a CONNECT is accepted.
type Authenticator interface {
	// Connect authenticates a validated CONNECT and returns the handler bound to that identity.
	// A *ConnectError refuses with its code; any other error refuses with CodeServerUnavailable.
	// ctx ends when the connection closes or after Config.ConnectTimeout.
	Connect(ctx context.Context, req *ConnectRequest) (Handler, error)
}

// Handler is one authenticated connection's view of the application. Methods are called from the
// connection's read goroutine, in packet order. A Handler must not wait for its own Conn.Done.
type Handler interface {
	// Subscribe is called for each filter of a SUBSCRIBE (qos already capped at 1);
	// it returns the granted QoS, or 0x80 to refuse. Subscriptions restored from the
	// SessionStore at connect are not passed here (see Conn.Subscriptions).
	Subscribe(filter string, qos byte) (granted byte)
	// Unsubscribe is called for each filter of an UNSUBSCRIBE that was subscribed.
	Unsubscribe(filter string)
	// PublishAsync handles an inbound PUBLISH (QoS 0/1) and calls done exactly once with its
	// verdict, at once or later from any goroutine; the read goroutine does not wait for it,
	// so that a client with several QoS 1 messages in flight has them all handed over at once
	// (the application can then make them durable in one group commit). The broker sends the
	// PUBACKs in the order the PUBLISHes arrived [MQTT-4.6.0-2], each only after its done
	// reported nil; a done with an error closes the connection without that PUBACK. At most
	// MaxInboundInflight publishes per connection await their verdict or the writing of their
	// PUBACK; beyond that the broker stops reading (back-pressure). ctx is the connection's
	// (Conn.Context); p is the handler's to keep.
	PublishAsync(ctx context.Context, p *Publish, done func(error))
	// Online runs after CONNACK; sessionPresent reports restored subscriptions.
	Online(c *Conn, sessionPresent bool)
	// Offline runs once when the connection ends, only if Online ran; will is non-nil when the
	// will must be published (no DISCONNECT). err is nil after DISCONNECT, ErrSessionTakenOver
	// on takeover, ErrServerClosed on shutdown, the reason given to Conn.Close, or the read error.
	// A new CONNECT with the same client id waits for Offline to return, at most
	// Config.TakeoverTimeout; until it returns such CONNECTs are refused.
	Offline(c *Conn, err error, will *Will)
}

// Publish is a PUBLISH: an inbound one handed to Handler.PublishAsync, or an outbound one
// given to Conn.PublishAsync (which assigns PacketID itself).
type Publish struct {
	Topic    string
	Payload  []byte
	QoS      byte
	Retain   bool
	Dup      bool
	PacketID uint16
}

// Subscription is one granted subscription of a session.
type Subscription struct {
	Filter string
	QoS    byte
}

// SessionStore persists the subscriptions of CleanSession=0 sessions.
type SessionStore interface {
	LoadSession(clientID string) (subs []Subscription, found bool, err error)
	SaveSession(clientID string, subs []Subscription) error
	DeleteSession(clientID string) error
}

// Metrics receives counters from the broker. Every method must be cheap and
// safe for concurrent use. A nil Metrics in Config disables them.
type Metrics interface {
	// ConnectionOpened counts an accepted network connection (before CONNECT).
	ConnectionOpened(transport string)
	// ConnectionClosed counts a closed network connection.
	ConnectionClosed(transport string)
	// ConnectRefused counts a CONNACK with a non-zero return code.
	ConnectRefused(code byte)
	// ProtocolError counts a connection closed for a protocol violation or timeout. Reasons
	// form a small fixed set: "malformed", "protocol", "too_large", "protocol_level",
	// "before_connect", "second_connect", "server_only_packet", "qos2", "connect_timeout",
	// "keepalive".
	ProtocolError(reason string)
	// OversizePacket counts a packet refused because its remaining length exceeds MaxPacketSize.
	OversizePacket()
	// DroppedQoS0 counts an outbound QoS 0 publish dropped because the queue was full.
	DroppedQoS0()
	// ConnectionRejected counts a network connection refused because of a limit: reason is
	// "max_connections" (a CONNECT over MaxConnections, answered CONNACK 0x03, which
	// ConnectRefused counts too), "max_descriptors" (the Limiter's budget is full of
	// authenticated connections: answered CONNACK 0x03 when its CONNECT arrives in time,
	// else closed) or "pending_evicted" (a connection before CONNACK closed to make room for
	// a newer one, D1).
	ConnectionRejected(reason string)
}

// ThrottleMetrics is an optional Metrics capability, found by type assertion.
type ThrottleMetrics interface {
	// InboundThrottled counts a packet whose handling waited for Config.MaxInboundRate (D8).
	InboundThrottled()
}

// Config configures a Server. Zero values take the documented defaults.
type Config struct {
	Auth           Authenticator
	Sessions       SessionStore  // nil: in-memory
	Logger         *slog.Logger  // nil: discard
	MaxPacketSize  int           // maximum remaining length; default 256 KiB + 4 KiB for topic/headers
	ConnectTimeout time.Duration // CONNECT arrival and TLS handshake; default 10 s (D1, D2)
	MaxInflight    int           // outbound QoS 1 window per connection, default 16 (max 1024)
	// MaxInboundInflight bounds the inbound publishes awaiting the Handler's verdict (or the
	// writing of their PUBACK) per connection before the broker stops reading; default 16
	// (edgeHub's MaxPendingInboundAcknowledgements).
	MaxInboundInflight int
	MaxSubscriptions   int // per session, default 50
	// MaxConnections caps the authenticated connections (CONNACK 0 sent), over every
	// listener and WebSocket (D4); 0 = unlimited. A CONNECT over the cap is refused with
	// CONNACK 0x03 (server unavailable). Connections before CONNACK do not count here: they
	// have their own budget (MaxPendingConnects, MaxPendingPerSource), so that connections
	// that never authenticate cannot lock devices out (D1). DefaultMaxConnections derives a
	// descriptor budget from the open-file limit.
	MaxConnections int
	// MaxPendingConnects caps the connections that have not completed CONNECT/CONNACK, and
	// MaxPendingPerSource those of one remote IP (slow-loris defence, D1). When a cap is
	// full a new connection evicts the oldest such connection (of its own source for the
	// per-source cap, else of any), so a newcomer always gets its chance to authenticate and
	// holding connections open gains an attacker nothing. Defaults 2048 and 256; they apply
	// when Limiter is nil (a Limiter brings its own).
	MaxPendingConnects  int
	MaxPendingPerSource int
	// Limiter, when set, is the process's descriptor budget shared with other servers
	// (the cloud's HTTPS listener): every connection holds one of its tickets from accept to
	// close, pending until CONNACK. When the budget is full of authenticated connections a
	// new one is answered CONNACK 0x03 if it completes its TLS handshake and sends CONNECT
	// within 2 s (or ConnectTimeout if shorter), else closed; at most 64 are answered at a
	// time, further ones are closed at once. nil: a Limiter of the server's own, with no
	// total budget.
	Limiter       *connlimit.Limiter
	OutboundQueue int           // queued QoS 0 packets before drop, default 256
	Metrics       Metrics       // optional counters (may be nil)
	WriteTimeout  time.Duration // a blocked write closes the connection after this; default 30 s

	// MaxKeepAlive is the longest keep-alive the server honours (D3). A client that asks for
	// more, or for 0 (no keep-alive), is closed all the same after 1.5 x MaxKeepAlive without
	// a packet. MQTT 3.1.1 has no way to tell the client (MQTT 5's Server Keep Alive has), so
	// this does not make the client ping more often: it only bounds how long a dead
	// connection (a half-open TCP connection, a vanished device) is kept. Default 1177 s,
	// IoT Hub's client maximum (IoT Hub enforces 1.5 x the client keep-alive capped at
	// 1767 s, IOTEDGE-REFERENCE §1.9); negative means no maximum.
	MaxKeepAlive time.Duration
	// TakeoverTimeout bounds how long a CONNECT whose client id is in use waits for the
	// previous connection's Handler.Offline to return (D10). On timeout the CONNECT is
	// refused with CONNACK 0x03 (server unavailable) and logged at warn level. The client id
	// stays blocked, each CONNECT waiting and being refused in turn, until that Offline
	// returns, so Offline still precedes the next Online. Default 10 s.
	TakeoverTimeout time.Duration
	// MaxInboundRate limits the packets per second read from one connection (D8), with a
	// token bucket of InboundBurst packets. A client over the rate is slowed, never dropped:
	// the read goroutine waits for a token before it handles the packet (TCP flow control
	// then pushes back on the client), so QoS 1 semantics are intact and a flood costs other
	// connections nothing. A PUBACK for one of the server's own deliveries is not counted:
	// the outbound window already bounds those. 0 or negative: no limit (the default). The
	// limit is the role's: the cloud sets IoT Hub's (1,000/s, a quota a device written for
	// IoT Hub stays below), an edge hub's modules need none.
	MaxInboundRate float64
	// DrainTimeout bounds how long Close waits for connections to finish the publishes
	// they were handed and write the PUBACKs they owe (A10); then they are closed.
	// Default 5 s.
	DrainTimeout time.Duration
	// InboundBurst is the token bucket size of MaxInboundRate; default 200, enough for the
	// SUBSCRIBEs, twin GET and queued telemetry a device sends right after it (re)connects.
	InboundBurst int
}

// Defaults applied by New.
const (
	DefaultMaxPacketSize       = 256<<10 + 4<<10
	DefaultConnectTimeout      = 10 * time.Second
	DefaultMaxInflight         = 16
	DefaultMaxInboundInflight  = 16
	DefaultMaxSubscriptions    = 50
	DefaultOutboundQueue       = 256
	DefaultWriteTimeout        = 30 * time.Second
	DefaultMaxPendingConnects  = 2048
	DefaultMaxPendingPerSource = 256
	DefaultMaxKeepAlive        = 1177 * time.Second
	DefaultTakeoverTimeout     = 10 * time.Second
	DefaultDrainTimeout        = 5 * time.Second
	DefaultInboundBurst        = 200
)

// maxQueuedBytes caps the bytes of queued outbound QoS 0 packets per connection (D5).
const maxQueuedBytes = 4 << 20

// Errors reported by the broker.
var (
	// ErrServerClosed is returned by Serve after Close and given to connections closed by Close.
	ErrServerClosed = errors.New("broker: server closed")
	// ErrSessionTakenOver closes a connection whose client id connected again [MQTT-3.1.4-2].
	ErrSessionTakenOver = errors.New("broker: session taken over by a new connection")
	// ErrConnClosed is given to the done of a Conn.PublishAsync (and returned by
	// Conn.Publish) whose connection ended first, and is the reason recorded by
	// Conn.Close(nil).
	ErrConnClosed = errors.New("broker: connection closed")
	// ErrTakeoverTimeout refuses a CONNECT (CONNACK 0x03) whose client id is still held by a
	// connection whose Handler.Offline has not returned within Config.TakeoverTimeout.
	ErrTakeoverTimeout = errors.New("broker: previous connection of the client id still ending")
	// ErrQueueFull refuses a Conn.PublishAsync (and Conn.Publish) whose QoS has
	// Config.OutboundQueue publishes waiting unwritten: a QoS 0 publish is dropped (D5), a
	// QoS 1 one is the caller's to send later (D9).
	ErrQueueFull = errors.New("broker: outbound queue full, qos 0 publish dropped")
)

func (c Config) withDefaults() Config {
	setDefault(&c.MaxPacketSize, DefaultMaxPacketSize)
	setDefault(&c.ConnectTimeout, DefaultConnectTimeout)
	setDefault(&c.MaxInflight, DefaultMaxInflight)
	c.MaxInflight = min(c.MaxInflight, 1024)
	setDefault(&c.MaxInboundInflight, DefaultMaxInboundInflight)
	setDefault(&c.MaxSubscriptions, DefaultMaxSubscriptions)
	setDefault(&c.OutboundQueue, DefaultOutboundQueue)
	setDefault(&c.WriteTimeout, DefaultWriteTimeout)
	setDefault(&c.MaxPendingConnects, DefaultMaxPendingConnects)
	setDefault(&c.MaxPendingPerSource, DefaultMaxPendingPerSource)
	setDefault(&c.TakeoverTimeout, DefaultTakeoverTimeout)
	setDefault(&c.DrainTimeout, DefaultDrainTimeout)
	setDefault(&c.InboundBurst, DefaultInboundBurst)
	if c.MaxKeepAlive == 0 {
		c.MaxKeepAlive = DefaultMaxKeepAlive
	}
	if c.Sessions == nil {
		c.Sessions = NewMemorySessionStore()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Metrics == nil {
		c.Metrics = nopMetrics{}
	}
	return c
}

func setDefault[T int | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

type nopMetrics struct{}

func (nopMetrics) ConnectionOpened(string)   {}
func (nopMetrics) ConnectionClosed(string)   {}
func (nopMetrics) ConnectRefused(byte)       {}
func (nopMetrics) ProtocolError(string)      {}
func (nopMetrics) OversizePacket()           {}
func (nopMetrics) DroppedQoS0()              {}
func (nopMetrics) ConnectionRejected(string) {}
