package client

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"

	"github.com/coder/websocket"
)

// Dialer opens a network connection; net.Dialer's DialContext is one.
type Dialer func(ctx context.Context, network, addr string) (net.Conn, error)

// Dial connects to addr over TCP, or over TLS when tlsConfig is not nil (its
// ServerName defaults to addr's host; verification is never skipped here, SEC-03),
// and runs Connect. dial nil uses a net.Dialer. Options.ConnectTimeout bounds the
// dial, the TLS handshake and the MQTT handshake together.
func Dial(ctx context.Context, dial Dialer, addr string, tlsConfig *tls.Config, opts Options) (*Client, error) {
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	timeout := opts.ConnectTimeout
	if timeout <= 0 {
		timeout = DefaultConnectTimeout
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := dial(dctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("mqtt client: dial %s: %w", addr, err)
	}
	if tlsConfig != nil {
		if conn, err = handshakeTLS(dctx, conn, addr, tlsConfig); err != nil {
			return nil, err
		}
	}
	return Connect(dctx, conn, opts)
}

func handshakeTLS(ctx context.Context, conn net.Conn, addr string, cfg *tls.Config) (net.Conn, error) {
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			host = addr
		}
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("mqtt client: tls handshake with %s: %w", addr, err)
	}
	return tc, nil
}

// DialWebSocket connects to a ws:// or wss:// URL (IoT Hub's is
// wss://HOST/$iothub/websocket) with the "mqtt" sub-protocol, binary frames,
// and runs Connect. tlsConfig (nil: the system roots) applies to wss.
func DialWebSocket(ctx context.Context, url string, tlsConfig *tls.Config, opts Options) (*Client, error) {
	timeout := opts.ConnectTimeout
	if timeout <= 0 {
		timeout = DefaultConnectTimeout
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig, ForceAttemptHTTP2: false}}
	ws, resp, err := websocket.Dial(dctx, url, &websocket.DialOptions{HTTPClient: hc, Subprotocols: []string{"mqtt"}})
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("mqtt client: websocket %s: %w", url, err)
	}
	if ws.Subprotocol() != "mqtt" {
		_ = ws.Close(websocket.StatusProtocolError, "sub-protocol mqtt required")
		return nil, fmt.Errorf("mqtt client: websocket %s: server did not accept sub-protocol mqtt", url)
	}
	max := opts.MaxPacketSize
	if max <= 0 {
		max = DefaultMaxPacketSize
	}
	// A frame may carry a whole packet and a little more; the packet reader enforces the real cap.
	ws.SetReadLimit(int64(2 * max))
	// The connection's life is the client's, not the dial's: Close ends it.
	conn := websocket.NetConn(context.WithoutCancel(ctx), ws, websocket.MessageBinary)
	return Connect(dctx, conn, opts)
}
