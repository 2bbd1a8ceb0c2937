package connlimit

import "net"

// Hooks are optional callbacks of a Listener, for metrics; nil fields are skipped.
type Hooks struct {
	Refused func() // a connection closed at accept: the budget is full of established ones
	Evicted func() // a pending connection evicted to make room for a newer one
}

// Listener wraps l so that every accepted connection holds a Ticket of g, pending until
// the caller establishes it (Conn.Ticket) and released when the connection is closed.
// A connection that gets no ticket is closed at once and Accept goes on with the next.
func Listener(l net.Listener, g *Group, h Hooks) net.Listener {
	return &listener{Listener: l, g: g, h: h}
}

type listener struct {
	net.Listener
	g *Group
	h Hooks
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		t := l.g.l.Admit(l.g, Source(nc.RemoteAddr()), func() {
			call(l.h.Evicted)
			_ = nc.Close()
		})
		if t != nil {
			return &Conn{Conn: nc, t: t}, nil
		}
		call(l.h.Refused)
		_ = nc.Close()
	}
}

func call(f func()) {
	if f != nil {
		f()
	}
}

// Conn is a connection accepted by a Listener.
type Conn struct {
	net.Conn
	t *Ticket
}

// Ticket returns the connection's ticket.
func (c *Conn) Ticket() *Ticket { return c.t }

// Close releases the ticket and closes the connection.
func (c *Conn) Close() error {
	c.t.Release()
	return c.Conn.Close()
}
