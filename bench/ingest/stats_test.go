package main

import (
	"math"
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
