package broker

import (
	"context"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/mqtt/packet"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	server, err = l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = server.Close() })
	return client, server
}

// TestConnReader_PooledBufferOnlyWhileBuffered: on plain TCP the reader holds a pooled
// buffer while bytes of a next packet are buffered, and none once it has read them all
// (D4); waiting for data allocates nothing.
func TestConnReader_PooledBufferOnlyWhileBuffered(t *testing.T) {
	if !canWaitReadable {
		t.Skip("no MSG_PEEK wait on this platform")
	}
	client, server := tcpPair(t)
	r := newConnReader(server, 0)
	if r.raw == nil || r.br != nil {
		t.Fatalf("plain TCP reader: raw %v, buffer %v; want a raw conn and no buffer", r.raw, r.br)
	}
	_ = server.SetReadDeadline(time.Now().Add(5 * time.Second))
	ping := []byte{0xc0, 0}
	if _, err := client.Write(append(append(append([]byte(nil), ping...), ping...), ping[0])); err != nil {
		t.Fatal(err)
	}
	for i, wantBuf := range []bool{true, true} { // a whole PINGREQ, then half of one, are still buffered
		p, err := r.ReadPacket()
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if _, ok := p.(*packet.Pingreq); !ok || (r.br != nil) != wantBuf {
			t.Fatalf("packet %d: %v, holds a buffer %v; want PINGREQ, %v", i, p, r.br != nil, wantBuf)
		}
	}
	if _, err := client.Write(ping[1:]); err != nil {
		t.Fatal(err)
	}
	if p, err := r.ReadPacket(); err != nil || r.br != nil {
		t.Fatalf("last packet: %v %v, holds a buffer %v; want none once all is read", p, err, r.br != nil)
	}
	if _, err := client.Write(ping); err != nil {
		t.Fatal(err)
	}
	if err := waitReadable(r.raw); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _ = waitReadable(r.raw) }); n != 0 {
		t.Fatalf("waitReadable allocates %v times", n)
	}
}

// TestD4_IdleConnectionHoldsOneGoroutine: once its answers are written, a connection holds
// its read goroutine only; the write goroutine ends with its queues empty (D4).
func TestD4_IdleConnectionHoldsOneGoroutine(t *testing.T) {
	ts := startServer(t, Config{})
	base := runtime.NumGoroutine()
	const n = 20
	for i := range n {
		c := mustConnect(t, ts, clientName(i))
		c.send(&packet.Pingreq{})
		if _, ok := c.read().(*packet.Pingresp); !ok {
			t.Fatal("expected PINGRESP")
		}
		if err := ts.Lookup(clientName(i)).Publish(context.Background(), "t", []byte("x"), 0); err != nil {
			t.Fatal(err)
		}
		if _, ok := c.read().(*packet.Publish); !ok {
			t.Fatal("expected PUBLISH")
		}
	}
	waitFor(t, 5*time.Second, "one goroutine per idle connection", func() bool {
		return runtime.NumGoroutine() <= base+n
	})
}
