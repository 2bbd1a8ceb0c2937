package mqttload

import (
	"bufio"
	"context"
	"encoding/binary"
	"net"
	"testing"
	"time"
)

func TestSchedule_AtAndDue(t *testing.T) {
	t0 := time.Unix(100, 0)
	s := Schedule{Start: t0, Interval: 2 * time.Millisecond}
	if got := s.At(0); !got.Equal(t0) {
		t.Errorf("At(0) = %v, want the start", got)
	}
	if got := s.At(500); !got.Equal(t0.Add(time.Second)) {
		t.Errorf("At(500) = %v, want start+1s", got)
	}
	for _, tc := range []struct {
		after time.Duration
		want  int
	}{
		{-time.Nanosecond, 0}, {0, 1}, {2*time.Millisecond - 1, 1}, {2 * time.Millisecond, 2}, {time.Second, 501},
	} {
		if got := s.Due(t0.Add(tc.after)); got != tc.want {
			t.Errorf("Due(start%+v) = %d, want %d", tc.after, got, tc.want)
		}
	}
}

func TestNewSchedules_StaggeredEvenly(t *testing.T) {
	t0 := time.Unix(100, 0)
	ss := NewSchedules(t0, 4, 500)
	for i, s := range ss {
		if s.Interval != 2*time.Millisecond {
			t.Errorf("device %d: interval %v, want 2ms (500 msg/s)", i, s.Interval)
		}
		if want := t0.Add(time.Duration(i) * 500 * time.Microsecond); !s.Start.Equal(want) {
			t.Errorf("device %d starts at +%v, want +%v", i, s.Start.Sub(t0), want.Sub(t0))
		}
	}
	// Over one second the four devices together have 2000 messages due, spread evenly.
	total := 0
	for _, s := range ss {
		total += s.Due(t0.Add(time.Second - time.Nanosecond))
	}
	if total != 2000 {
		t.Errorf("%d messages due in the first second, want 2000", total)
	}
	if huge := NewSchedules(t0, 1, 1e12)[0]; huge.Interval != 1 || huge.Due(t0.Add(time.Microsecond)) != 1001 {
		t.Errorf("rate 1e12: interval %v, want the 1ns floor", huge.Interval)
	}
}

func TestRun_SteadyRate(t *testing.T) {
	// In order: the reversing fake would hold the last PUBACK of an odd count forever.
	addr := fakeBroker(t, 0, false)
	devs := []Device{{ClientID: "a", Topic: "devices/a/messages/events/"}, {ClientID: "b", Topic: "devices/b/messages/events/"}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var edges []bool
	res, err := Run(ctx, Config{Target: Target{Addr: addr}, Devices: devs, Client: ClientRaw,
		Warmup: 4, Window: 8, Payload: 64, Rate: 200, Duration: 500 * time.Millisecond,
		OnPhase: func(end bool) { edges = append(edges, end) }})
	if err != nil {
		t.Fatal(err)
	}
	// 2 devices x 200 msg/s x 0.5 s: 100 (+1, the one due at the start) each, sent or behind. On a
	// loaded machine the phase may end late, and the messages due meanwhile count too: the upper
	// bound follows the elapsed time, not the nominal duration.
	most := 2*int(200*res.Elapsed.Seconds()) + 4
	if n := res.Acked + res.Behind; n < 198 || n > max(204, most) || len(res.Latencies) != res.Acked {
		t.Errorf("acked %d + behind %d = %d, want 198-%d (elapsed %v); %d latencies", res.Acked, res.Behind, n, max(204, most), res.Elapsed, len(res.Latencies))
	}
	if res.Elapsed < 500*time.Millisecond || res.Truncated {
		t.Errorf("elapsed %v (want >= the 500ms duration), truncated %v", res.Elapsed, res.Truncated)
	}
	if len(res.SendLag) < res.Acked {
		t.Errorf("%d send lags for %d acked messages, want one per written message", len(res.SendLag), res.Acked)
	}
	if len(edges) != 2 || edges[0] || !edges[1] {
		t.Errorf("OnPhase calls %v, want [false true]", edges)
	}
}

// TestRun_SteadyChargesStalls checks that steady-mode latency runs from the scheduled time: a
// broker that sits on the first PUBACK for 300 ms with window 1 delays every message due
// meanwhile, and each of them must show the wait (measured from the write, only the first would).
func TestRun_SteadyChargesStalls(t *testing.T) {
	const stall = 300 * time.Millisecond
	addr := stallingBroker(t, stall)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := Run(ctx, Config{Target: Target{Addr: addr}, Devices: []Device{{ClientID: "a", Topic: "t"}},
		Client: ClientRaw, Window: 1, Rate: 100, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	slow := 0
	for _, l := range res.Latencies {
		if l >= 100*time.Millisecond {
			slow++
		}
	}
	// Messages due at 0, 10, ..., 200 ms waited at least 100 ms behind the stall.
	if slow < 20 {
		t.Errorf("%d of %d latencies >= 100ms, want >= 20 (stall hidden by measuring from the write)", slow, len(res.Latencies))
	}
}

// stallingBroker accepts connections, answers CONNACK, holds the first PUBACK for stall and
// then acknowledges every PUBLISH at once.
func stallingBroker(t *testing.T, stall time.Duration) string {
	return serveTCP(t, func(c net.Conn) { serveStalling(c, stall) })
}

func serveStalling(c net.Conn, stall time.Duration) {
	defer c.Close()
	r := bufio.NewReader(c)
	if _, _, err := readPacket(r, nil); err != nil {
		return
	}
	if _, err := c.Write([]byte{typeConnack << 4, 2, 0, 0}); err != nil {
		return
	}
	first := true
	for {
		h, body, err := readPacket(r, nil)
		if err != nil || h>>4 != typePublish {
			return
		}
		if first {
			first = false
			time.Sleep(stall) // the broker's stall under test, not a wait for a condition
		}
		tl := int(binary.BigEndian.Uint16(body))
		if _, err := c.Write([]byte{typePuback << 4, 2, body[2+tl], body[3+tl]}); err != nil {
			return
		}
	}
}
