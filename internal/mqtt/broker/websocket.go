package broker

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/coder/websocket"
)

// WebSocketHandler returns an http.Handler serving MQTT over WebSocket
// (sub-protocol "mqtt", binary frames). Requests that do not offer the "mqtt"
// sub-protocol are refused with 400. The handler returns when the connection ends. Over
// HTTPS the request's TLS state (its client certificate) is the connection's
// ConnectRequest.TLS.
func (s *Server) WebSocketHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !offersMQTT(r) {
			http.Error(w, "websocket sub-protocol \"mqtt\" required", http.StatusBadRequest)
			return
		}
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"mqtt"}})
		if err != nil {
			return // Accept has written the HTTP error
		}
		if ws.Subprotocol() != "mqtt" {
			_ = ws.Close(websocket.StatusPolicyViolation, "sub-protocol mqtt required")
			return
		}
		// A frame may carry a whole packet plus a little more; the MQTT reader enforces the real cap.
		ws.SetReadLimit(int64(2 * s.cfg.MaxPacketSize))
		// Not r.Context(): the HTTP server cancels it at shutdown, which would close the
		// connection before Server.Close drains it (A10); Conn.Close closes it instead.
		nc := websocket.NetConn(context.WithoutCancel(r.Context()), ws, websocket.MessageBinary)
		c := newConn(s, nc, "ws")
		if r.TLS != nil {
			// The client certificate of the HTTPS handshake authenticates X.509 devices
			// (IOTEDGE-REFERENCE §1.4), as on the MQTT TLS listener.
			c.transport, c.tls = "wss", r.TLS
		}
		s.serveConn(c)
	})
}

// offersMQTT reports whether the client offered the "mqtt" sub-protocol.
func offersMQTT(r *http.Request) bool {
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		if slices.ContainsFunc(strings.Split(h, ","), func(p string) bool {
			return strings.TrimSpace(p) == "mqtt"
		}) {
			return true
		}
	}
	return false
}
