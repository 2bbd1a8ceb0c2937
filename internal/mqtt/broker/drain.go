package broker

import (
	"crypto/tls"
	"net"
	"time"
)

// drain begins a graceful close (A10): the read goroutine stops reading new packets, waits
// for the verdicts of the publishes already handed over, writes their PUBACKs and then
// closes. Server.Close bounds it with Config.DrainTimeout.
func (c *Conn) drain() {
	c.draining.Store(true)
	_ = c.nc.SetReadDeadline(time.Now()) // ends a blocked read; readLoop sees draining
}

// finishDrain runs in the read goroutine once it stopped reading: every verdict in, then
// the write goroutine done with the PUBACKs (or the connection closed by the drain timeout).
func (c *Conn) finishDrain() {
	c.awaitVerdicts()
	c.writer.stop()
	if c.ctx.Err() == nil {
		c.linger()
	}
}

// Lingering after the last PUBACK: each read waits at most lingerRead for more of the
// client's bytes, all of them at most lingerMax.
const (
	lingerRead = 50 * time.Millisecond
	lingerMax  = time.Second
)

// linger ends the connection the way a lingering close does: FIN after the PUBACKs, then the
// client's unread bytes (publishes it sent after reading stopped) are read and discarded
// until it closes, goes quiet or lingerMax passes. Closing a socket with unread data resets
// the connection, and a reset discards what is still unsent in the send queue, the last
// PUBACKs among it.
func (c *Conn) linger() {
	raw, ok := halfClose(c.nc)
	if !ok {
		return
	}
	buf := make([]byte, 4096)
	for end := time.Now().Add(lingerMax); time.Now().Before(end); {
		_ = raw.SetReadDeadline(time.Now().Add(lingerRead))
		if _, err := raw.Read(buf); err != nil {
			return // EOF, quiet (timeout) or closed by the drain timeout
		}
	}
}

// halfClose closes the writing side of nc (after a TLS close_notify) and returns the
// connection to read the rest from; false when nc cannot be half-closed (WebSocket).
func halfClose(nc net.Conn) (net.Conn, bool) {
	if tc, ok := nc.(*tls.Conn); ok {
		if err := tc.CloseWrite(); err != nil {
			return nil, false
		}
		nc = tc.NetConn()
	}
	cw, ok := nc.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return nil, false
	}
	return nc, true
}
