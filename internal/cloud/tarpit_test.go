package cloud

import (
	"net"
	"testing"
	"time"
)

func TestTarpitDelays_F1(t *testing.T) {
	tp := newTarpit(100*time.Millisecond, time.Second)
	a := &net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 1000}
	b := &net.TCPAddr{IP: net.ParseIP("192.0.2.2"), Port: 1000}
	now := time.Unix(1000, 0)
	for i := 1; i <= 10; i++ {
		if d := tp.delay(a, now); d != 0 {
			t.Fatalf("failure %d delayed %v", i, d)
		}
	}
	if d := tp.delay(&net.TCPAddr{IP: a.IP, Port: 2000}, now); d != 100*time.Millisecond {
		t.Fatalf("11th failure (other port, same source) delayed %v", d)
	}
	for i := 0; i < 20; i++ {
		tp.delay(a, now)
	}
	if d := tp.delay(a, now); d != time.Second {
		t.Fatalf("delay not capped: %v", d)
	}
	if d := tp.delay(b, now); d != 0 {
		t.Fatalf("another source delayed %v", d)
	}
	if d := tp.delay(a, now.Add(2*time.Minute)); d != 0 {
		t.Fatalf("failures not forgotten after the window: %v", d)
	}
}
