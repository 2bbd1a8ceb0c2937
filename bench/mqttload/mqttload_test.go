package mqttload

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestWire_Packets(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want []byte
	}{
		{"connect [MQTT-3.1.2] clean=0 user+pass", ConnectPacket("d", "u", "p", false, 300),
			[]byte{0x10, 19, 0, 4, 'M', 'Q', 'T', 'T', 4, 0xC0, 0x01, 0x2C, 0, 1, 'd', 0, 1, 'u', 0, 1, 'p'}},
		{"connect anonymous clean=1", ConnectPacket("d", "", "", true, 0),
			[]byte{0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 0, 0, 1, 'd'}},
		{"disconnect", DisconnectPacket, []byte{0xE0, 0}},
		{"remaining length 127", appendRemainingLength(nil, 127), []byte{0x7F}},
		{"remaining length 128", appendRemainingLength(nil, 128), []byte{0x80, 0x01}},
		{"remaining length 16384", appendRemainingLength(nil, 16384), []byte{0x80, 0x80, 0x01}},
	}
	for _, tc := range tests {
		if !bytes.Equal(tc.got, tc.want) {
			t.Errorf("%s = % x, want % x", tc.name, tc.got, tc.want)
		}
	}
	pkt, off := PublishPacket("a/b", []byte("hi"))
	want := []byte{0x32, 9, 0, 3, 'a', '/', 'b', 0, 0, 'h', 'i'}
	if !bytes.Equal(pkt, want) || off != 7 {
		t.Errorf("PublishPacket = % x off %d, want % x off 7", pkt, off, want)
	}
}

func TestPayload_ExactSize(t *testing.T) {
	for _, n := range []int{0, 10, 30, 31, 128, 4096} {
		p := Payload("bench-1", n)
		if n >= 31 && len(p) != n {
			t.Errorf("Payload(%d) has %d bytes", n, len(p))
		}
		if n < 31 && string(p) != "{}" {
			t.Errorf("Payload(%d) = %q, want {}", n, p)
		}
	}
}

func TestWindow_OutOfOrderRelease(t *testing.T) {
	w := newWindow(2)
	t0 := time.Unix(0, 0)
	a, b := w.take(t0), w.take(t0.Add(time.Millisecond))
	if w.hasFree() || w.outstanding() != 2 || a == b {
		t.Fatalf("after two takes: free=%v outstanding=%d ids %d %d", w.hasFree(), w.outstanding(), a, b)
	}
	if d, ok := w.release(b, t0.Add(3*time.Millisecond)); !ok || d != 2*time.Millisecond {
		t.Errorf("release(b) = %v %v", d, ok)
	}
	if c := w.take(t0); c != b {
		t.Errorf("reused id %d while %d still outstanding", c, a)
	}
	if _, ok := w.release(999, t0); ok {
		t.Error("release of unknown id succeeded")
	}
	if _, ok := w.release(a, t0); !ok {
		t.Error("release(a) failed")
	}
	if _, ok := w.release(a, t0); ok {
		t.Error("double release succeeded")
	}
}

// fakeBroker accepts connections, answers CONNACK with code, and PUBACKs every PUBLISH;
// with reverse it acknowledges pairs of PUBLISHes in reverse order.
func fakeBroker(t *testing.T, code byte, reverse bool) string {
	return serveTCP(t, func(c net.Conn) { serveFake(c, code, reverse) })
}

// serveTCP listens on 127.0.0.1:0, serves every connection with serve in a goroutine of its
// own until the test ends (then waits for them), and returns the address.
func serveTCP(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); serve(c) }()
		}
	}()
	return l.Addr().String()
}

func serveFake(c net.Conn, code byte, reverse bool) {
	defer c.Close()
	r := bufio.NewReader(c)
	if _, _, err := readPacket(r, nil); err != nil {
		return
	}
	if _, err := c.Write([]byte{typeConnack << 4, 2, 0, code}); err != nil || code != 0 {
		return
	}
	var held []byte
	for {
		h, body, err := readPacket(r, nil)
		if err != nil || h>>4 != typePublish {
			return
		}
		tl := int(binary.BigEndian.Uint16(body))
		ack := []byte{typePuback << 4, 2, body[2+tl], body[3+tl]}
		if reverse && held == nil {
			held = ack
			continue
		}
		if _, err := c.Write(append(ack, held...)); err != nil {
			return
		}
		held = nil
	}
}

func TestRun_AgainstFakeBroker(t *testing.T) {
	for _, tc := range []struct {
		name    string
		client  Client
		window  int
		reverse bool
	}{
		{"raw window 1", ClientRaw, 1, false},
		{"raw window 8 out-of-order pubacks", ClientRaw, 8, true},
		{"paho window 4", ClientPaho, 4, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := fakeBroker(t, 0, tc.reverse)
			devs := []Device{{ClientID: "a", Topic: "devices/a/messages/events/"}, {ClientID: "b", Topic: "devices/b/messages/events/"}}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			res, err := Run(ctx, Config{Target: Target{Addr: addr}, Devices: devs, Client: tc.client,
				Messages: 100, Warmup: 10, Window: tc.window, Payload: 64})
			if err != nil {
				t.Fatal(err)
			}
			if res.Acked != 200 || len(res.Latencies) != 200 || res.Truncated || res.Elapsed <= 0 {
				t.Errorf("result: acked %d, %d latencies, truncated %v, elapsed %v", res.Acked, len(res.Latencies), res.Truncated, res.Elapsed)
			}
		})
	}
}

func TestRun_ConnectRefused(t *testing.T) {
	addr := fakeBroker(t, 5, false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Run(ctx, Config{Target: Target{Addr: addr}, Devices: []Device{{ClientID: "a", Topic: "t"}},
		Client: ClientRaw, Messages: 1, Window: 1})
	if err == nil || !strings.Contains(err.Error(), "not authorized") {
		t.Errorf("Run against a refusing broker: %v", err)
	}
}

func TestConnect(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := Connect(ctx, Target{Addr: fakeBroker(t, 0, false)}, Device{ClientID: "a"}, 240)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	_ = conn.Close()
	_, err = Connect(ctx, Target{Addr: fakeBroker(t, 3, false)}, Device{ClientID: "b"}, 240)
	var re *RefusedError
	if !errors.As(err, &re) || re.Code != 3 || re.ClientID != "b" {
		t.Errorf("Connect to a full broker: %v, want a *RefusedError with code 3", err)
	}
}

func TestConfig_ValidateReportsAll(t *testing.T) {
	err := (&Config{Client: "x"}).Validate()
	for _, want := range []string{"addr", "devices", "messages", "window", "client"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, missing %q", err, want)
		}
	}
}

func FuzzReadPacket(f *testing.F) {
	f.Add([]byte{0x20, 2, 0, 0})
	f.Add([]byte{0x40, 2, 0, 1})
	f.Add([]byte{0x40, 0xFF, 0xFF, 0xFF, 0xFF})
	f.Add([]byte{0x30, 0x80})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bufio.NewReader(bytes.NewReader(in))
		for {
			if _, _, err := readPacket(r, nil); err != nil {
				return
			}
		}
	})
}
