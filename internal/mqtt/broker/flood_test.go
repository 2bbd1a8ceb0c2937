package broker

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/mqtt/packet"
)

var _ ThrottleMetrics = (*counters)(nil)

func TestTokenBucket_Reserve(t *testing.T) {
	b := newTokenBucket(10, 2) // 10 per second, burst 2
	t0 := time.Unix(1000, 0)
	ms := time.Millisecond
	for i, tc := range []struct {
		at   time.Duration
		want time.Duration
	}{
		{0, 0}, {0, 0}, // the burst
		{0, 100 * ms}, {0, 200 * ms}, // borrowed: wait for the refill
		{200 * ms, 100 * ms}, // the debt of 2 is repaid, one more is borrowed
		{time.Hour, 0},       // refilled to the burst, not beyond
		{time.Hour, 0},
		{time.Hour, 100 * ms},
		{time.Hour - time.Minute, 200 * ms}, // a clock going back earns nothing
	} {
		if got := b.reserve(t0.Add(tc.at)); got.Round(ms) != tc.want {
			t.Fatalf("reserve %d at %v: wait %v, want %v", i, tc.at, got, tc.want)
		}
	}
	// No limit by default: the rate is the role's (the cloud sets IoT Hub's 1,000/s).
	if got := New(Config{Auth: &recorder{}}).cfg; got.MaxInboundRate != 0 || got.InboundBurst != 200 {
		t.Fatalf("defaults %v/s burst %d, want 0 (no limit) burst 200", got.MaxInboundRate, got.InboundBurst)
	}
}

// TestD8_FloodIsSlowedNotDropped: a client flooding QoS 1 PUBLISHes is slowed to
// about MaxInboundRate; every PUBLISH it got a PUBACK for reached the handler, the
// PUBACKs come in order, and another client's PINGREQ is still answered promptly.
func TestD8_FloodIsSlowedNotDropped(t *testing.T) {
	const rate, burst = 200, 20
	ts := startServer(t, Config{MaxInboundRate: rate, InboundBurst: burst})
	flooder := mustConnect(t, ts, "flooder")
	good := mustConnect(t, ts, "good")

	_ = flooder.nc.SetReadDeadline(time.Time{}) // the reader below runs until the close
	var acked atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	start := time.Now()
	wg.Add(2)
	go func() { // the flood: writes until the connection is closed
		defer wg.Done()
		for id := 1; id <= 20000; id++ {
			b, _ := packet.Encode(&packet.Publish{QoS: 1, PacketID: uint16(id), Topic: "t", Payload: []byte("x")})
			if _, err := flooder.nc.Write(b); err != nil {
				return
			}
		}
	}()
	go func() { // the flooder's PUBACKs, which must come in order
		defer wg.Done()
		for want := uint16(1); ; want++ {
			p, err := flooder.r.ReadPacket()
			if err != nil {
				return
			}
			if ack, ok := p.(*packet.Puback); !ok || ack.PacketID != want {
				errs <- fmt.Errorf("flooder got %v, want PUBACK %d", p, want)
				return
			}
			acked.Add(1)
		}
	}()

	var worst time.Duration
	for range 10 { // about a second of flood, probed every 100 ms
		time.Sleep(100 * time.Millisecond) // pacing the probe, not waiting for a result
		sent := time.Now()
		good.send(&packet.Pingreq{})
		if _, ok := good.read().(*packet.Pingresp); !ok {
			t.Fatal("expected PINGRESP")
		}
		worst = max(worst, time.Since(sent))
	}
	n, elapsed := acked.Load(), time.Since(start)
	_ = flooder.nc.Close()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	if limit := burst + 2*rate*elapsed.Seconds(); float64(n) > limit {
		t.Fatalf("%d PUBACKs in %v: not slowed to %d/s (limit %.0f)", n, elapsed, rate, limit)
	}
	if floor := rate * elapsed.Seconds() / 4; float64(n) < floor {
		t.Fatalf("%d PUBACKs in %v: slowed far below %d/s", n, elapsed, rate)
	}
	if worst > time.Second {
		t.Fatalf("another client's PINGREQ took %v during the flood", worst)
	}
	if got := int64(len(ts.rec.find("publish"))); got < n {
		t.Fatalf("%d PUBACKs but only %d publishes reached the handler", n, got)
	}
	if ts.metrics.throttled.Load() == 0 {
		t.Fatal("throttling not counted")
	}
	t.Logf("%d PUBACKs in %v; slowest PINGREQ of another client %v", n, elapsed, worst)
}
