package cloud

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/outpost-iot/outpost/internal/connlimit"
)

// httpServer returns the http.Server of the cloud's HTTP listeners (RELIABILITY D1, D2):
// the TLS handshake and the headers must arrive within HTTPReadHeaderTimeout (http.Server
// applies it to the handshake too), a keep-alive connection is closed after
// HTTPIdleTimeout, and the body deadline is set per request by the HTTPS handler. A
// connection accepted through connlimit.Listener stays unauthenticated (evictable) until
// its first request completes or it becomes an authenticated event stream; a WebSocket
// upgrade gives its ticket back, the broker takes one of its own.
func (c *Cloud) httpServer(ctx context.Context, h http.Handler) *http.Server {
	return &http.Server{Handler: h,
		ReadHeaderTimeout: orDefault(c.cfg.HTTPReadHeaderTimeout, 10*time.Second),
		IdleTimeout:       orDefault(c.cfg.HTTPIdleTimeout, 2*time.Minute),
		ErrorLog:          slog.NewLogLogger(c.log.Handler(), slog.LevelDebug),
		// Requests run under ctx so that long-lived event streams end at shutdown instead of
		// holding Shutdown for its whole timeout.
		BaseContext: func(net.Listener) context.Context { return ctx },
		ConnContext: func(ctx context.Context, nc net.Conn) context.Context {
			if t := ticketOf(nc); t != nil {
				return context.WithValue(ctx, ticketKey{}, t)
			}
			return ctx
		},
		ConnState: func(nc net.Conn, st http.ConnState) {
			t := ticketOf(nc)
			switch {
			case t == nil:
			case st == http.StateIdle:
				t.Establish() // a full group leaves it unauthenticated, so evictable
			case st == http.StateHijacked:
				t.Release()
			}
		},
	}
}

type ticketKey struct{}

// ticketOf returns the connlimit ticket under nc (a TLS connection or not), or nil.
func ticketOf(nc net.Conn) *connlimit.Ticket {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	if lc, ok := nc.(*connlimit.Conn); ok {
		return lc.Ticket()
	}
	return nil
}

// longLived marks the connection of r as serving an authenticated long-lived response
// (an event stream): no body deadline, and no longer evictable for newcomers.
func longLived(w http.ResponseWriter, r *http.Request) {
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	if t, ok := r.Context().Value(ticketKey{}).(*connlimit.Ticket); ok {
		t.Establish()
	}
}
