package broker

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/outpost-iot/outpost/internal/mqtt/packet"
)

// Answering connections over Config.MaxConnections (D4). Such a connection gets a short
// time to finish its TLS handshake and send CONNECT, and is then answered CONNACK 0x03
// (server unavailable) [MQTT-3.2.2.3] and closed, so a device learns why it was turned
// away instead of seeing a bare end of stream. The answer must not become the resource the
// cap protects, so it is bounded three ways: at most maxRefusing connections are answered at
// a time (any further one is closed at once), each gets at most maxRefusalWait (or
// ConnectTimeout if shorter), and its CONNECT may be at most maxRefusalPacket bytes.
// A connection that does not send a CONNECT in time is closed without an answer.
const (
	maxRefusing       = 64
	maxRefusalWait    = 2 * time.Second
	maxRefusalPacket  = 64 << 10
	refusalWriteLimit = time.Second
)

// refuseOverCap answers a connection over MaxConnections (see above) and closes it. It
// returns when the connection is closed.
func (s *Server) refuseOverCap(nc net.Conn) {
	defer nc.Close()
	if !s.startRefusal(nc) {
		return
	}
	defer s.endRefusal(nc)
	wait := min(s.cfg.ConnectTimeout, maxRefusalWait)
	if err := s.answerOverCap(nc, time.Now().Add(wait)); err != nil {
		s.limited.logAttrs(slog.LevelDebug, "mqtt connection over the limit closed without CONNACK",
			"remote", nc.RemoteAddr().String(), "err", err)
	}
}

// startRefusal registers nc as being answered; it fails when the server is closed or
// maxRefusing connections are being answered already.
func (s *Server) startRefusal(nc net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || len(s.refusing) >= s.maxRefusing {
		return false
	}
	s.refusing[nc] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) endRefusal(nc net.Conn) {
	s.mu.Lock()
	delete(s.refusing, nc)
	s.mu.Unlock()
	s.wg.Done()
}

// answerOverCap reads the CONNECT (after the TLS handshake, if any) before deadline and
// answers CONNACK 0x03. Anything else than a CONNECT is an error: the caller just closes.
func (s *Server) answerOverCap(nc net.Conn, deadline time.Time) error {
	if err := nc.SetReadDeadline(deadline); err != nil {
		return fmt.Errorf("broker: set read deadline: %w", err)
	}
	if err := nc.SetWriteDeadline(deadline.Add(refusalWriteLimit)); err != nil {
		return fmt.Errorf("broker: set write deadline: %w", err)
	}
	if tc, ok := nc.(*tls.Conn); ok {
		if err := tc.Handshake(); err != nil { // bounded by the deadlines just set
			return fmt.Errorf("broker: tls handshake: %w", err)
		}
	}
	p, err := packet.NewReader(nc, maxRefusalPacket).ReadPacket()
	if err != nil {
		return fmt.Errorf("broker: read connect: %w", err)
	}
	if _, ok := p.(*packet.Connect); !ok {
		return errors.New("broker: " + p.Type().String() + " before CONNECT [MQTT-3.1.0-1]")
	}
	b, err := packet.Encode(&packet.Connack{ReturnCode: CodeServerUnavailable})
	if err != nil {
		return fmt.Errorf("broker: encode connack: %w", err)
	}
	if _, err := nc.Write(b); err != nil {
		return fmt.Errorf("broker: write connack: %w", err)
	}
	s.cfg.Metrics.ConnectRefused(CodeServerUnavailable)
	return nil
}
