package mqttload

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"
)

// ack is one PUBACK as seen by the reader goroutine, stamped on arrival.
type ack struct {
	id uint16
	at time.Time
}

// rawConn is the hand-rolled MQTT 3.1.1 client: CONNECT, QoS 1 PUBLISH, PUBACK, DISCONNECT.
// One reader goroutine (owned by the connection, stopped by close) timestamps each PUBACK and
// hands it to publish, which runs on the caller's goroutine and does all writes.
type rawConn struct {
	conn    net.Conn
	pkt     []byte // prebuilt PUBLISH; bytes idOff, idOff+1 hold the packet id
	idOff   int
	acks    chan ack
	readErr chan error // receives the reader's terminal error, once
	done    chan struct{}
}

func dialRaw(ctx context.Context, t Target, d Device, payload []byte) (publisher, error) {
	conn, err := dial(ctx, t)
	if err != nil {
		return nil, err
	}
	c := &rawConn{conn: conn, acks: make(chan ack, 256), readErr: make(chan error, 1), done: make(chan struct{})}
	c.pkt, c.idOff = PublishPacket(d.Topic, payload)
	r := bufio.NewReaderSize(conn, 4096)
	if err := handshake(ctx, conn, r, d, keepAliveSeconds); err != nil {
		_ = conn.Close()
		return nil, err
	}
	go c.read(r)
	return c, nil
}

// Connect dials t and completes CONNECT/CONNACK for d (clean session 0, like the Azure SDKs)
// with a keep-alive of keepAlive seconds. A CONNACK with a non-zero code is a *RefusedError.
// The caller owns the connection; nothing reads from it after the CONNACK.
func Connect(ctx context.Context, t Target, d Device, keepAlive uint16) (net.Conn, error) {
	conn, err := dial(ctx, t)
	if err != nil {
		return nil, err
	}
	if err := handshake(ctx, conn, bufio.NewReaderSize(conn, 64), d, keepAlive); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return conn, nil
}

// RefusedError is a CONNACK with a non-zero return code.
type RefusedError struct {
	ClientID string
	Code     byte
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("mqttload: connect %s refused: %d %s", e.ClientID, e.Code, connackCodes[e.Code])
}

func dial(ctx context.Context, t Target) (net.Conn, error) {
	var d net.Dialer
	if t.TLS == nil {
		conn, err := d.DialContext(ctx, "tcp", t.Addr)
		if err != nil {
			return nil, fmt.Errorf("mqttload: dial %s: %w", t.Addr, err)
		}
		return conn, nil
	}
	td := tls.Dialer{NetDialer: &d, Config: t.TLS}
	conn, err := td.DialContext(ctx, "tcp", t.Addr)
	if err != nil {
		return nil, fmt.Errorf("mqttload: dial tls %s: %w", t.Addr, err)
	}
	return conn, nil
}

// handshake writes CONNECT and reads the CONNACK, within ctx's deadline.
func handshake(ctx context.Context, conn net.Conn, r *bufio.Reader, d Device, keepAlive uint16) error {
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
		defer conn.SetDeadline(time.Time{})
	}
	if _, err := conn.Write(ConnectPacket(d.ClientID, d.Username, d.Password, false, keepAlive)); err != nil {
		return fmt.Errorf("mqttload: write connect: %w", err)
	}
	h, body, err := readPacket(r, nil)
	if err != nil {
		return fmt.Errorf("mqttload: read connack: %w", err)
	}
	if h>>4 != typeConnack || len(body) != 2 {
		return fmt.Errorf("mqttload: expected connack, got packet type %d", h>>4)
	}
	if code := body[1]; code != 0 {
		return &RefusedError{ClientID: d.ClientID, Code: code}
	}
	return nil
}

// read runs until the connection fails or is closed; it is the only reader of conn.
func (c *rawConn) read(r *bufio.Reader) {
	buf := make([]byte, 64)
	for {
		h, body, err := readPacket(r, buf)
		if err != nil {
			c.readErr <- err
			return
		}
		switch h >> 4 {
		case typePuback:
			if len(body) != 2 {
				c.readErr <- errMalformed
				return
			}
			select {
			case c.acks <- ack{id: binary.BigEndian.Uint16(body), at: time.Now()}:
			case <-c.done:
				return
			}
		case typePingresp:
		default:
			c.readErr <- fmt.Errorf("mqttload: unexpected packet type %d", h>>4)
			return
		}
	}
}

// publish sends count messages with at most window unacknowledged and appends one latency per
// PUBACK to lat. When ctx ends it stops sending and waits up to drainTimeout for outstanding acks.
func (c *rawConn) publish(ctx context.Context, count, window int, lat []time.Duration) ([]time.Duration, error) {
	w := newWindow(window)
	sent := 0
	stop := ctx.Done()
	var drain <-chan time.Time
	for sent < count || w.outstanding() > 0 {
		if sent < count && w.hasFree() && drain == nil {
			id := w.take(time.Now())
			binary.BigEndian.PutUint16(c.pkt[c.idOff:], id)
			if _, err := c.conn.Write(c.pkt); err != nil {
				return lat, fmt.Errorf("mqttload: write publish: %w", err)
			}
			sent++
			continue
		}
		select {
		case a := <-c.acks:
			d, ok := w.release(a.id, a.at)
			if !ok {
				return lat, fmt.Errorf("mqttload: puback for unknown packet id %d", a.id)
			}
			lat = append(lat, d)
		case err := <-c.readErr:
			return lat, fmt.Errorf("mqttload: read: %w", err)
		case <-stop:
			stop = nil
			count = sent
			drain = time.After(drainTimeout)
		case <-drain:
			return lat, fmt.Errorf("mqttload: %d pubacks missing after %s", w.outstanding(), drainTimeout)
		}
	}
	return lat, nil
}

func (c *rawConn) close() error {
	close(c.done)
	_ = c.conn.SetWriteDeadline(time.Now().Add(time.Second))
	_, werr := c.conn.Write(DisconnectPacket)
	err := c.conn.Close()
	return errors.Join(werr, err)
}

// window tracks outstanding packet ids and their send times. Ids are recycled from a free list,
// so an id is never reused while still unacknowledged even if PUBACKs arrive out of order.
type window struct {
	free   []uint16
	sentAt []time.Time // indexed by packet id; zero when free
	n      int
}

func newWindow(size int) *window {
	w := &window{sentAt: make([]time.Time, size+1)}
	for id := size; id >= 1; id-- {
		w.free = append(w.free, uint16(id))
	}
	return w
}

func (w *window) hasFree() bool    { return len(w.free) > 0 }
func (w *window) outstanding() int { return w.n }

func (w *window) take(now time.Time) uint16 {
	id := w.free[len(w.free)-1]
	w.free = w.free[:len(w.free)-1]
	w.sentAt[id] = now
	w.n++
	return id
}

func (w *window) release(id uint16, now time.Time) (time.Duration, bool) {
	if int(id) >= len(w.sentAt) || w.sentAt[id].IsZero() {
		return 0, false
	}
	d := now.Sub(w.sentAt[id])
	w.sentAt[id] = time.Time{}
	w.free = append(w.free, id)
	w.n--
	return d, true
}

// steadyOut is what one device's steady phase produced.
type steadyOut struct {
	lat    []time.Duration // scheduled time to PUBACK, one per acked message
	lag    []time.Duration // scheduled time to the write, one per written message
	behind int             // due before the end but never written
}

// preciseSleep is how long before a message is due steady stops waiting on a Go timer (late by up
// to a millisecond) and sleeps the rest in sleepUntil. It also bounds how late steady notices the
// end of the phase or a read error while sleeping.
const preciseSleep = 2 * time.Millisecond

// steady publishes on schedule s until ctx ends, with at most window unacknowledged: message k is
// written as soon as it is due and a slot is free, and its latency runs from s.At(k). When ctx
// ends it stops sending, waits up to drainTimeout for outstanding acks, and reports as behind the
// messages that were due but could not be written for want of a free slot.
func (c *rawConn) steady(ctx context.Context, s Schedule, window int, out *steadyOut) error {
	w := newWindow(window)
	sent := 0
	stop := ctx.Done()
	var drain <-chan time.Time
	next := time.NewTimer(time.Until(s.At(0)))
	defer next.Stop()
	for stop != nil || w.outstanding() > 0 {
		var due <-chan time.Time
		if stop != nil && w.hasFree() {
			at := s.At(sent)
			if now := time.Now(); !at.After(now) {
				id := w.take(at)
				binary.BigEndian.PutUint16(c.pkt[c.idOff:], id)
				if _, err := c.conn.Write(c.pkt); err != nil {
					return fmt.Errorf("mqttload: write publish: %w", err)
				}
				out.lag = append(out.lag, now.Sub(at))
				sent++
				continue
			}
			if d := time.Until(at); d <= preciseSleep {
				sleepUntil(at) // PUBACKs meanwhile wait in c.acks, stamped on arrival
				continue
			}
			next.Reset(time.Until(at) - preciseSleep)
			due = next.C
		}
		select {
		case <-due:
		case a := <-c.acks:
			d, ok := w.release(a.id, a.at)
			if !ok {
				return fmt.Errorf("mqttload: puback for unknown packet id %d", a.id)
			}
			out.lat = append(out.lat, d)
		case err := <-c.readErr:
			return fmt.Errorf("mqttload: read: %w", err)
		case <-stop:
			stop = nil
			out.behind = max(s.Due(time.Now())-sent, 0)
			drain = time.After(drainTimeout)
		case <-drain:
			return fmt.Errorf("mqttload: %d pubacks missing after %s", w.outstanding(), drainTimeout)
		}
	}
	return nil
}
