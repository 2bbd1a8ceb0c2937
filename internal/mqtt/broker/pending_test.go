package broker

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/mqtt/packet"
)

// holdIdle opens n TCP connections to addr that never send CONNECT and returns them; they
// are closed at cleanup. Dial errors are tolerated (the server may be closing some).
func holdIdle(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	var cs []net.Conn
	for range n {
		if c := dialNoCleanup(addr); c != nil {
			cs = append(cs, c)
		}
	}
	t.Cleanup(func() {
		for _, c := range cs {
			_ = c.Close()
		}
	})
	return cs
}

// connectPromptly connects id and requires CONNACK 0 within d.
func connectPromptly(t *testing.T, addr, id string, d time.Duration) *rawClient {
	t.Helper()
	start := time.Now()
	c := dial(t, addr)
	c.send(connectPacket(id, true, 60))
	p, err := c.readErr(d)
	if err != nil {
		t.Fatalf("%s: no CONNACK within %v: %v", id, d, err)
	}
	if ack, ok := p.(*packet.Connack); !ok || ack.ReturnCode != 0 {
		t.Fatalf("%s: got %#v, want CONNACK 0", id, p)
	}
	t.Logf("%s connected in %v", id, time.Since(start))
	return c
}

// TestD1_IdleConnectionsDoNotLockOutDevices: 500 connections that never send CONNECT,
// from the device's own address, with MaxConnections 300: the device still gets CONNACK 0
// at once, because connections count against MaxConnections only once authenticated and
// a newcomer evicts the oldest unauthenticated connection of its source.
func TestD1_IdleConnectionsDoNotLockOutDevices(t *testing.T) {
	ts := startServer(t, Config{MaxConnections: 300, ConnectTimeout: time.Minute})
	holdIdle(t, ts.addr, 500)
	connectPromptly(t, ts.addr, "device", 2*time.Second)
	if ts.Lookup("device") == nil {
		waitFor(t, 5*time.Second, "device online", func() bool { return ts.Lookup("device") != nil })
	}
	if n := ts.metrics.reason("rejected_pending_evicted"); n == 0 {
		t.Errorf("no eviction counted (rejected_pending_evicted = %d)", n)
	}
}

// TestD1_PendingCapEvictsOldest: with the global pending cap full, a new connection
// evicts the oldest pending one instead of being closed itself.
func TestD1_PendingCapEvictsOldest(t *testing.T) {
	ts := startServer(t, Config{MaxPendingConnects: 50, ConnectTimeout: time.Minute})
	idle := holdIdle(t, ts.addr, 1)
	waitFor(t, 5*time.Second, "the oldest pending", func() bool { return ts.Connections() == 1 })
	holdIdle(t, ts.addr, 49)
	waitFor(t, 5*time.Second, "50 pending", func() bool { return ts.Connections() == 50 })
	connectPromptly(t, ts.addr, "device", 2*time.Second)
	// The oldest idle connection was the one evicted.
	_ = idle[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle[0].Read(make([]byte, 1)); err == nil {
		t.Fatal("oldest idle connection got data, want it closed")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("oldest idle connection still open, want it evicted")
	}
}

// TestD1_AttackerReconnectingCannotHoldSlots: an attacker that keeps 500 connections
// open and replaces each one the server closes cannot keep a device out: every one of the
// device's connects gets CONNACK 0 promptly.
func TestD1_AttackerReconnectingCannotHoldSlots(t *testing.T) {
	ts := startServer(t, Config{MaxConnections: 300, ConnectTimeout: time.Minute})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() { // the attacker: reconnects every connection as soon as it is closed
			defer wg.Done()
			attack(ts.addr, 125, stop)
		}()
	}
	t.Cleanup(func() { close(stop); wg.Wait() })
	// 256 is the per-source cap: beyond it the attacker's connections evict each other.
	waitFor(t, 10*time.Second, "attacker holding the pending slots", func() bool { return ts.Connections() >= 250 })
	for range 5 {
		c := connectPromptly(t, ts.addr, "device", 3*time.Second)
		c.send(&packet.Disconnect{})
		c.expectClosed(5 * time.Second)
	}
}

// attack holds n idle connections to addr, redialling each one the server closes, until stop.
func attack(addr string, n int, stop <-chan struct{}) {
	conns := make([]net.Conn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				_ = c.Close()
			}
		}
	}()
	buf := make([]byte, 1)
	for {
		for i := range conns {
			select {
			case <-stop:
				return
			default:
			}
			if conns[i] != nil {
				_ = conns[i].SetReadDeadline(time.Now().Add(time.Millisecond))
				if _, err := conns[i].Read(buf); err != nil {
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						continue // still held
					}
				}
				_ = conns[i].Close()
			}
			conns[i] = dialNoCleanup(addr)
		}
	}
}
