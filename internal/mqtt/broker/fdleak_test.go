package broker

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/connlimit"
	"github.com/outpost-iot/outpost/internal/mqtt/packet"
)

// openFDs counts the descriptors of the test process (Linux /proc).
func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("count fds: %v", err)
	}
	return len(entries)
}

// TestD4_NoFDLeakAfterDisconnects opens and ends a few hundred connections in every way a
// connection ends (DISCONNECT, client close after CONNACK, close before CONNECT, CONNECT
// timeout, refused over the descriptor budget) and checks that the process's descriptor count, server and
// client sides together, returns to its baseline.
func TestD4_NoFDLeakAfterDisconnects(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("needs /proc/self/fd")
	}
	const held = 100
	ts := startServer(t, Config{MaxConnections: held, ConnectTimeout: 500 * time.Millisecond,
		Limiter: connlimit.New(connlimit.Config{Max: held})})
	base := openFDs(t)

	clients := make([]*rawClient, held)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			nc := dialNoCleanup(ts.addr)
			if nc == nil {
				return
			}
			c := newRawClient(t, nc)
			if err := writePacket(c, connectPacket(clientName(i), i%2 == 0, 60)); err != nil {
				return
			}
			if p, err := c.readErr(5 * time.Second); err == nil && p.(*packet.Connack).ReturnCode == 0 {
				clients[i] = c
			}
		})
	}
	wg.Wait()
	for i, c := range clients {
		if c == nil {
			t.Fatalf("client %d did not connect", i)
		}
	}
	for i := range 50 { // over the cap: CONNACK 0x03, then closed by the server
		c := dial(t, ts.addr)
		expectRefused(t, c, "over-"+clientName(i))
		_ = c.nc.Close()
	}
	silent := make([]*rawClient, 20) // under the cap once the held ones leave: CONNECT timeout
	for i, c := range clients {
		if i%2 == 0 {
			c.send(&packet.Disconnect{})
		}
		_ = c.nc.Close()
	}
	waitFor(t, 5*time.Second, "held connections gone", func() bool { return ts.Connections() == 0 })
	for i := range silent {
		silent[i] = dial(t, ts.addr)
	}
	for range 100 { // closed before CONNECT
		_ = dial(t, ts.addr).nc.Close()
	}
	for _, c := range silent {
		c.expectClosed(5 * time.Second)
		_ = c.nc.Close()
	}
	waitFor(t, 5*time.Second, "every connection gone", func() bool { return ts.Connections() == 0 && ts.refusing() == 0 })
	deadline := time.Now().Add(2 * time.Second)
	for n := openFDs(t); n > base; n = openFDs(t) {
		if time.Now().After(deadline) {
			t.Fatalf("%d descriptors open, %d before the connections: %d leaked", n, base, n-base)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ts.metrics.opened.Load() != held+20+100 || ts.metrics.closed.Load() != held+20+100 {
		t.Errorf("opened %d closed %d, want %d each", ts.metrics.opened.Load(), ts.metrics.closed.Load(), held+20+100)
	}
}

func clientName(i int) string { return fmt.Sprintf("c%d", i) }

// writePacket encodes and writes p without failing the test (for helper goroutines).
func writePacket(c *rawClient, p packet.Packet) error {
	b, err := packet.Encode(p)
	if err != nil {
		return err
	}
	_, err = c.nc.Write(b)
	return err
}
