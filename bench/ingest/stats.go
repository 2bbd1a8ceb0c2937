package main

import (
	"math"
	"slices"
	"time"
)

// Percentile returns the nearest-rank percentile p (0 < p <= 100) of sorted latencies:
// the smallest value such that at least p% of the samples are <= it. It returns 0 for no samples.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// Rate returns messages per second, 0 when elapsed is not positive.
func Rate(count int, elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	return float64(count) / elapsed.Seconds()
}

// Median returns the median of xs (mean of the middle two for an even count), 0 for none.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// Ratio returns a/b, or NaN when b is zero (printed as "n/a").
func Ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

// roundStats are the figures of one measured run.
type roundStats struct {
	MsgPerSec float64
	P50, P99  time.Duration
	Max       time.Duration
	CPUPerMsg time.Duration // broker CPU time per acknowledged message; 0 when unknown
	Acked     int
	Truncated bool

	// Steady mode only, from /proc/PID/stat and statm at the edges of the measured phase.
	UserPerMsg, SysPerMsg time.Duration // CPUPerMsg is their sum there
	RSSStart, RSSEnd      int64
	Behind                int           // messages due but never sent (mqttload.Result.Behind)
	LagP50, LagP99        time.Duration // scheduled time to write (mqttload.Result.SendLag)
}

// withSendLag sets the percentiles of the steady mode's send lags (sorting lags in place).
func (s roundStats) withSendLag(lags []time.Duration) roundStats {
	slices.Sort(lags)
	s.LagP50, s.LagP99 = Percentile(lags, 50), Percentile(lags, 99)
	return s
}

// withProcStat sets the steady-mode figures from the broker's stat at the start and end of the
// phase; a zero end (no sample) leaves the CPU figures unknown.
func (s roundStats) withProcStat(start, end procStat, behind int) roundStats {
	s.Behind, s.RSSStart, s.RSSEnd = behind, start.RSS, end.RSS
	s.UserPerMsg, s.SysPerMsg, s.CPUPerMsg = 0, 0, 0
	if s.Acked > 0 && end != (procStat{}) {
		n := time.Duration(s.Acked)
		s.UserPerMsg = (end.User - start.User) / n
		s.SysPerMsg = (end.System - start.System) / n
		s.CPUPerMsg = s.UserPerMsg + s.SysPerMsg
	}
	return s
}

// latencyBound is the throughput N devices with one message in flight each can reach when every
// message costs one fdatasync on top of a broker round trip: N / (sync + cycle), the cycle
// being a device's round trip without the sync, N / mosqRate with mosquitto (which persists
// nothing) measured in the same run. It returns 0 when mosqRate is not positive.
func latencyBound(devices int, mosqRate float64, sync time.Duration) float64 {
	if mosqRate <= 0 || devices < 1 {
		return 0
	}
	cycle := float64(devices) / mosqRate
	return float64(devices) / (sync.Seconds() + cycle)
}

// summarize sorts lats in place and computes a run's figures; cpu is the broker's CPU time
// during the run (0 if unknown).
func summarize(lats []time.Duration, elapsed time.Duration, truncated bool, cpu time.Duration) roundStats {
	slices.Sort(lats)
	s := roundStats{
		MsgPerSec: Rate(len(lats), elapsed),
		P50:       Percentile(lats, 50),
		P99:       Percentile(lats, 99),
		Acked:     len(lats),
		Truncated: truncated,
	}
	if len(lats) > 0 {
		s.Max = lats[len(lats)-1]
		s.CPUPerMsg = cpu / time.Duration(len(lats))
	}
	return s
}

// combine reduces several rounds to their medians (msg/s, p50, p99, cpu/msg, user/msg, sys/msg,
// both RSS figures and both send-lag percentiles, each taken separately); Max is the largest of all rounds, Acked and Behind
// their sums.
func combine(rounds []roundStats) roundStats {
	var rate, p50, p99, cpu, user, sys, rss0, rss1, lag50, lag99 []float64
	out := roundStats{}
	for _, r := range rounds {
		rate = append(rate, r.MsgPerSec)
		p50 = append(p50, float64(r.P50))
		p99 = append(p99, float64(r.P99))
		cpu = append(cpu, float64(r.CPUPerMsg))
		user = append(user, float64(r.UserPerMsg))
		sys = append(sys, float64(r.SysPerMsg))
		rss0 = append(rss0, float64(r.RSSStart))
		rss1 = append(rss1, float64(r.RSSEnd))
		lag50 = append(lag50, float64(r.LagP50))
		lag99 = append(lag99, float64(r.LagP99))
		out.Max = max(out.Max, r.Max)
		out.Acked += r.Acked
		out.Behind += r.Behind
		out.Truncated = out.Truncated || r.Truncated
	}
	out.MsgPerSec = Median(rate)
	out.P50 = time.Duration(Median(p50))
	out.P99 = time.Duration(Median(p99))
	out.CPUPerMsg = time.Duration(Median(cpu))
	out.UserPerMsg = time.Duration(Median(user))
	out.SysPerMsg = time.Duration(Median(sys))
	out.RSSStart = int64(Median(rss0))
	out.RSSEnd = int64(Median(rss1))
	out.LagP50 = time.Duration(Median(lag50))
	out.LagP99 = time.Duration(Median(lag99))
	return out
}
