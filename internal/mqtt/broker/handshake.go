package broker

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/outpost-iot/outpost/internal/mqtt/packet"
)

// handshake runs from connection open to CONNACK accepted: TLS handshake, CONNECT
// within ConnectTimeout (D1, D2), authentication, takeover, session restore.
// On success the connection is ready.
func (c *Conn) handshake() error {
	if tc, ok := c.nc.(*tls.Conn); ok {
		if err := c.srv.handshakeTLS(c.ctx, tc); err != nil {
			return err
		}
	}
	c.reader = newConnReader(c.nc, c.srv.cfg.MaxPacketSize)
	cp, err := c.readConnect()
	if err != nil {
		return err
	}
	if err := c.authenticate(cp); err != nil {
		return err
	}
	if err := c.takeOver(); err != nil {
		return err
	}
	if err := c.restoreSession(); err != nil {
		return c.refuse(CodeServerUnavailable, err)
	}
	if err := c.establish(); err != nil {
		return err
	}
	if err := c.writeDirect(&packet.Connack{SessionPresent: c.sessionPresent}); err != nil {
		return err
	}
	c.ready.Store(true)
	c.log.logAttrs(slog.LevelDebug, "mqtt client connected", "client_id", c.clientID,
		"remote", c.nc.RemoteAddr().String(), "transport", c.transport, "clean_session", c.clean,
		"keep_alive", c.keepAlive, "idle_timeout", c.idleTimeout, "session_present", c.sessionPresent)
	return nil
}

// errMaxConnections refuses a CONNECT over Config.MaxConnections (D4).
var errMaxConnections = errors.New("broker: too many authenticated connections")

// establish moves the connection from the unauthenticated budget to MaxConnections (D1,
// D4), before the client can see CONNACK, so that a client that has it finds its pending
// slot free. Over MaxConnections the CONNECT is refused with CONNACK 0x03.
func (c *Conn) establish() error {
	if c.ticket.Establish() {
		return nil
	}
	if err := context.Cause(c.ctx); err != nil {
		return err // evicted or closed meanwhile
	}
	c.srv.reject("max_connections", c.srv.cfg.MaxConnections)
	return c.refuse(CodeServerUnavailable, errMaxConnections)
}

// readConnect reads the first packet, which must be a valid CONNECT.
func (c *Conn) readConnect() (*packet.Connect, error) {
	if err := c.nc.SetReadDeadline(time.Now().Add(c.srv.cfg.ConnectTimeout)); err != nil {
		return nil, fmt.Errorf("broker: set read deadline: %w", err)
	}
	p, err := c.reader.ReadPacket()
	if errors.Is(err, packet.ErrProtocolLevel) {
		return nil, c.refuse(CodeBadProtocol, err) // [MQTT-3.1.2-2]
	}
	if err != nil {
		return nil, c.readError(err, "connect_timeout")
	}
	cp, ok := p.(*packet.Connect)
	if !ok {
		return nil, &closeError{reason: "before_connect", msg: p.Type().String() + " before CONNECT [MQTT-3.1.0-1]"}
	}
	if cp.ClientID == "" && !cp.CleanSession {
		return nil, c.refuse(CodeIdentifierRejected,
			errors.New("broker: empty client id with CleanSession=0 [MQTT-3.1.3-8]"))
	}
	return cp, nil
}

// refuse writes CONNACK with code and returns err (the connection then closes).
func (c *Conn) refuse(code byte, err error) error {
	c.srv.cfg.Metrics.ConnectRefused(code)
	if werr := c.writeDirect(&packet.Connack{ReturnCode: code}); werr != nil {
		return errors.Join(err, werr)
	}
	return err
}

// authenticate builds the ConnectRequest and asks the Authenticator.
func (c *Conn) authenticate(cp *packet.Connect) error {
	c.clientID, c.clean, c.keepAlive = cp.ClientID, cp.CleanSession, cp.KeepAlive
	c.idleTimeout = idleTimeout(cp.KeepAlive, c.srv.cfg.MaxKeepAlive)
	if c.clientID == "" {
		c.clientID = generateClientID()
	}
	if cp.Will != nil {
		c.will = &Will{Topic: cp.Will.Topic, Payload: cp.Will.Message, QoS: cp.Will.QoS, Retain: cp.Will.Retain}
	}
	req := &ConnectRequest{
		ClientID: c.clientID, Username: cp.Username, Password: cp.Password, HasPassword: cp.HasPassword,
		CleanSession: cp.CleanSession, KeepAlive: cp.KeepAlive, Will: c.will, TLS: c.tlsState(),
		RemoteAddr: c.nc.RemoteAddr(), Transport: c.transport,
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.srv.cfg.ConnectTimeout)
	defer cancel()
	h, err := c.srv.cfg.Auth.Connect(ctx, req)
	if err == nil && h == nil {
		err = errors.New("broker: authenticator returned no handler")
	}
	if err != nil {
		return c.refuse(connectCode(err), fmt.Errorf("broker: connect %q: %w", c.clientID, err))
	}
	c.handler = h
	return nil
}

// connectCode maps an Authenticator error to a CONNACK return code.
func connectCode(err error) byte {
	var ce *ConnectError
	if errors.As(err, &ce) && ce.Code >= CodeBadProtocol && ce.Code <= CodeNotAuthorized {
		return ce.Code
	}
	return CodeServerUnavailable
}

// takeOver makes c the connection of its client id [MQTT-3.1.4-2] (D10). The id's
// current connection, if any, is closed; then c waits until the active connection of
// the id (the one that passed takeover before) has ended and its Offline returned, so
// that Offline and Online alternate per id even along a chain of takeovers. The wait is
// bounded by TakeoverTimeout: on timeout the CONNECT is refused with CONNACK 0x03 and the
// id stays with the active connection, so the next CONNECT waits for it in turn.
func (c *Conn) takeOver() error {
	old, err := c.srv.register(c)
	if err != nil {
		return c.refuse(CodeServerUnavailable, err)
	}
	if old != nil {
		old.Close(ErrSessionTakenOver)
	}
	timer := time.NewTimer(c.srv.cfg.TakeoverTimeout)
	defer timer.Stop()
	for waited := false; ; waited = true {
		holder, err := c.srv.claim(c)
		if err != nil {
			return cmp.Or(context.Cause(c.ctx), err)
		}
		if holder == nil {
			if old != nil || waited {
				c.log.logAttrs(slog.LevelInfo, "mqtt session taken over", "client_id", c.clientID)
			}
			return nil
		}
		holder.Close(ErrSessionTakenOver)
		select {
		case <-holder.done:
		case <-c.ctx.Done():
			return context.Cause(c.ctx) // taken over or closed while waiting
		case <-timer.C:
			return c.refuse(CodeServerUnavailable, fmt.Errorf("%w: client id %q, waited %v",
				ErrTakeoverTimeout, c.clientID, c.srv.cfg.TakeoverTimeout))
		}
	}
}

// restoreSession applies CleanSession: 1 deletes the stored session, 0 loads it
// (or creates an empty one) [MQTT-3.1.2-4..6].
func (c *Conn) restoreSession() error {
	st := c.srv.cfg.Sessions
	if c.clean {
		if err := st.DeleteSession(c.clientID); err != nil {
			return fmt.Errorf("broker: delete session: %w", err)
		}
		return nil
	}
	subs, found, err := st.LoadSession(c.clientID)
	if err != nil {
		return fmt.Errorf("broker: load session: %w", err)
	}
	if !found {
		if err := st.SaveSession(c.clientID, nil); err != nil {
			return fmt.Errorf("broker: save session: %w", err)
		}
	}
	c.mu.Lock()
	c.subs = subs
	c.mu.Unlock()
	c.sessionPresent = found
	return nil
}
