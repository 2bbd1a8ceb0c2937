package main

import (
	"io"
	"math"
	"strings"
	"testing"
	"time"
)

func us(n ...int) []time.Duration {
	out := make([]time.Duration, len(n))
	for i, v := range n {
		out[i] = time.Duration(v) * time.Microsecond
	}
	return out
}

func TestPercentile_NearestRank(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Microsecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one sample p50", us(7), 50, 7 * time.Microsecond},
		{"one sample p99", us(7), 99, 7 * time.Microsecond},
		{"two samples p50 is the lower", us(1, 9), 50, 1 * time.Microsecond},
		{"two samples p99 is the upper", us(1, 9), 99, 9 * time.Microsecond},
		{"odd count p50 is the middle", us(1, 2, 3, 4, 5), 50, 3 * time.Microsecond},
		{"1..100 p50", hundred, 50, 50 * time.Microsecond},
		{"1..100 p99", hundred, 99, 99 * time.Microsecond},
		{"1..100 p100", hundred, 100, 100 * time.Microsecond},
		{"p0 clamps to the minimum", us(4, 5), 0, 4 * time.Microsecond},
		{"p above 100 clamps to the maximum", us(4, 5), 150, 5 * time.Microsecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Percentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("Percentile(%v, %v) = %v, want %v", tc.sorted, tc.p, got, tc.want)
			}
		})
	}
}

func TestSummarize_SortsAndCounts(t *testing.T) {
	lats := us(30, 10, 20, 40)
	s := summarize(lats, 2*time.Second, false, 8*time.Microsecond)
	want := roundStats{MsgPerSec: 2, P50: 20 * time.Microsecond, P99: 40 * time.Microsecond, Max: 40 * time.Microsecond, CPUPerMsg: 2 * time.Microsecond, Acked: 4}
	if s != want {
		t.Errorf("summarize = %+v, want %+v", s, want)
	}
}

func TestMedianRateRatio(t *testing.T) {
	tests := []struct {
		name      string
		got, want float64
	}{
		{"median odd", Median([]float64{3, 1, 2}), 2},
		{"median even", Median([]float64{4, 1, 3, 2}), 2.5},
		{"median empty", Median(nil), 0},
		{"rate", Rate(500, 250*time.Millisecond), 2000},
		{"rate zero elapsed", Rate(5, 0), 0},
		{"ratio", Ratio(3, 4), 0.75},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if !math.IsNaN(Ratio(1, 0)) {
		t.Error("Ratio(1, 0) is not NaN")
	}
}

func TestCombine_MediansAcrossRounds(t *testing.T) {
	rounds := []roundStats{
		{MsgPerSec: 100, P50: 5, P99: 50, Max: 70, CPUPerMsg: 9, Acked: 10},
		{MsgPerSec: 300, P50: 1, P99: 90, Max: 200, CPUPerMsg: 7, Acked: 10, Truncated: true},
		{MsgPerSec: 200, P50: 3, P99: 60, Max: 80, CPUPerMsg: 8, Acked: 10},
	}
	want := roundStats{MsgPerSec: 200, P50: 3, P99: 60, Max: 200, CPUPerMsg: 8, Acked: 30, Truncated: true}
	if got := combine(rounds); got != want {
		t.Errorf("combine = %+v, want %+v", got, want)
	}
}

func TestLatencyBound(t *testing.T) {
	tests := []struct {
		name     string
		devices  int
		mosqRate float64
		sync     time.Duration
		want     float64
	}{
		// 10 devices at 50k msg/s: a 200 µs cycle each; + 100 µs sync = 300 µs, 10/300µs.
		{"sync and cycle add", 10, 50000, 100 * time.Microsecond, 10 / 300e-6},
		{"no sync is mosquitto's rate", 10, 50000, 0, 50000},
		{"one device", 1, 10000, 900 * time.Microsecond, 1000},
		{"no mosquitto figure", 10, 0, 100 * time.Microsecond, 0},
		{"no devices", 0, 5000, time.Millisecond, 0},
	}
	for _, tc := range tests {
		if got := latencyBound(tc.devices, tc.mosqRate, tc.sync); math.Abs(got-tc.want) > 1e-6*tc.want {
			t.Errorf("%s: latencyBound(%d, %v, %v) = %v, want %v", tc.name, tc.devices, tc.mosqRate, tc.sync, got, tc.want)
		}
	}
}

func TestWithProcStat_SplitsUserAndSystem(t *testing.T) {
	s := roundStats{Acked: 1000, CPUPerMsg: time.Second} // schedstat's figure, replaced
	start := procStat{User: 1 * time.Second, System: 500 * time.Millisecond, RSS: 10 << 20}
	end := procStat{User: 1030 * time.Millisecond, System: 510 * time.Millisecond, RSS: 12 << 20}
	got := s.withProcStat(start, end, 7)
	if got.UserPerMsg != 30*time.Microsecond || got.SysPerMsg != 10*time.Microsecond || got.CPUPerMsg != 40*time.Microsecond {
		t.Errorf("user %v sys %v cpu %v per msg, want 30µs, 10µs, 40µs", got.UserPerMsg, got.SysPerMsg, got.CPUPerMsg)
	}
	if got.RSSStart != 10<<20 || got.RSSEnd != 12<<20 || got.Behind != 7 {
		t.Errorf("rss %d..%d behind %d", got.RSSStart, got.RSSEnd, got.Behind)
	}
	if unknown := s.withProcStat(start, procStat{}, 0); unknown.CPUPerMsg != 0 || unknown.UserPerMsg != 0 {
		t.Errorf("without an end sample: cpu %v user %v, want unknown (0)", unknown.CPUPerMsg, unknown.UserPerMsg)
	}
}

func TestNewReport_BoundOfLatencyMode(t *testing.T) {
	o, err := parseFlags([]string{"-targets", "outpost,mosquitto", "-devices", "10", "-pipeline", "0"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ts := o.targets
	lat := mode{Name: "latency", Window: 1}
	rows := []*row{
		{Mode: lat, Target: ts[0], Stats: roundStats{MsgPerSec: 20000}},
		{Mode: lat, Target: ts[1], Stats: roundStats{MsgPerSec: 50000}},
	}
	sync := &syncJSON{Samples: 300, P50us: 100}
	rep := newReport(o, rows, sync)
	if len(rep.Ratios) != 1 {
		t.Fatalf("%d ratio rows, want 1", len(rep.Ratios))
	}
	r := rep.Ratios[0]
	if r.Bound == nil || math.Abs(*r.Bound-10/300e-6) > 1e-3 || r.OfBound == nil || math.Abs(*r.OfBound-0.6) > 1e-9 ||
		r.RoundTripUs == nil || math.Abs(*r.RoundTripUs-200) > 1e-9 {
		t.Errorf("bound %v, of bound %v, cycle %v; want 33333, 0.60, 200µs", deref(r.Bound), deref(r.OfBound), deref(r.RoundTripUs))
	}
	var text strings.Builder
	rep.writeText(&text)
	if !strings.Contains(text.String(), "0.60 of bound") || !strings.Contains(text.String(), "33333") {
		t.Errorf("text report lacks the bound:\n%s", text.String())
	}
	if rep = newReport(o, rows, nil); rep.Ratios[0].Bound != nil {
		t.Error("bound without a sync probe")
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}
