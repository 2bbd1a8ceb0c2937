package main

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/outpost-iot/outpost/bench/internal/tool"
)

// report is what the tool prints: the settings, one line per (mode, target), and the ratios.
type report struct {
	Settings settings    `json:"settings"`
	Results  []resultRow `json:"results"`
	Ratios   []ratioRow  `json:"ratios"`
}

type settings struct {
	Devices    int     `json:"devices"`
	Messages   int     `json:"messagesPerDevice"`
	Warmup     int     `json:"warmupPerDevice"`
	PayloadB   int     `json:"payloadBytes"`
	DurationS  float64 `json:"durationCapSeconds"`
	Rounds     int     `json:"rounds"`
	Client     string  `json:"client"`
	GOMAXPROCS int     `json:"gomaxprocs"`
	Time       string  `json:"time"`
}

type resultRow struct {
	Mode      string    `json:"mode"`
	Window    int       `json:"inflight"`
	Target    string    `json:"target"`
	MsgPerSec float64   `json:"msgPerSec"`
	P50us     float64   `json:"p50Micros"`
	P99us     float64   `json:"p99Micros"`
	MaxUs     float64   `json:"maxMicros"`
	CPUus     float64   `json:"serverCpuMicrosPerMsg"`
	Acked     int       `json:"acked"`
	Truncated bool      `json:"truncated,omitempty"`
	RoundRate []float64 `json:"roundMsgPerSec,omitempty"`
	Error     string    `json:"error,omitempty"`
}

// ratioRow is outpost divided by mosquitto on the same transport and mode. For msg/s above 1 is
// better for outpost; for latencies below 1 is better. NaN (null in JSON) when a side is missing.
type ratioRow struct {
	Mode      string   `json:"mode"`
	Transport string   `json:"transport"`
	MsgPerSec *float64 `json:"msgPerSec"`
	P50       *float64 `json:"p50"`
	P99       *float64 `json:"p99"`
	CPUPerMsg *float64 `json:"serverCpuPerMsg"`
}

func newReport(o options, rows []*row) report {
	rep := report{Ratios: []ratioRow{}, Settings: settings{
		Devices: o.devices, Messages: o.messages, Warmup: o.warmup, PayloadB: o.payload,
		DurationS: o.duration.Seconds(), Rounds: o.rounds, Client: o.client,
		GOMAXPROCS: runtime.GOMAXPROCS(0), Time: time.Now().UTC().Format(time.RFC3339),
	}}
	byKey := map[string]*row{}
	for _, r := range rows {
		rep.Results = append(rep.Results, toResultRow(r))
		byKey[r.Mode.Name+"/"+r.Target.Name] = r
	}
	for _, m := range o.modes() {
		for _, tr := range []string{"tls", "tcp"} {
			op, mq := byKey[m.Name+"/outpost-"+tr], byKey[m.Name+"/mosquitto-"+tr]
			if op == nil || mq == nil {
				continue
			}
			rep.Ratios = append(rep.Ratios, ratioRow{
				Mode: m.Name, Transport: tr,
				MsgPerSec: ratioOf(op, mq, func(s roundStats) float64 { return s.MsgPerSec }),
				P50:       ratioOf(op, mq, func(s roundStats) float64 { return float64(s.P50) }),
				P99:       ratioOf(op, mq, func(s roundStats) float64 { return float64(s.P99) }),
				CPUPerMsg: ratioOf(op, mq, func(s roundStats) float64 { return float64(s.CPUPerMsg) }),
			})
		}
	}
	return rep
}

func ratioOf(a, b *row, f func(roundStats) float64) *float64 {
	if a.Err != "" || b.Err != "" {
		return nil
	}
	v := Ratio(f(a.Stats), f(b.Stats))
	if math.IsNaN(v) {
		return nil
	}
	return &v
}

func toResultRow(r *row) resultRow {
	out := resultRow{
		Mode: r.Mode.Name, Window: r.Mode.Window, Target: r.Target.Name,
		MsgPerSec: r.Stats.MsgPerSec, P50us: micros(r.Stats.P50), P99us: micros(r.Stats.P99),
		MaxUs: micros(r.Stats.Max), CPUus: micros(r.Stats.CPUPerMsg), Acked: r.Stats.Acked, Truncated: r.Stats.Truncated, Error: r.Err,
	}
	if len(r.Rounds) > 1 {
		for _, s := range r.Rounds {
			out.RoundRate = append(out.RoundRate, s.MsgPerSec)
		}
	}
	return out
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func (r report) writeText(w io.Writer) {
	s := r.Settings
	fmt.Fprintf(w, "ingest: %d devices x %d msgs (QoS 1, +%d warm-up), payload %d B, client %s, %d round(s), GOMAXPROCS %d\n\n",
		s.Devices, s.Messages, s.Warmup, s.PayloadB, s.Client, s.Rounds, s.GOMAXPROCS)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\tinflight\ttarget\tmsg/s\tp50\tp99\tmax\tcpu/msg\tacked\t")
	for _, x := range r.Results {
		if x.Error != "" {
			first, _, _ := strings.Cut(x.Error, "\n")
			fmt.Fprintf(tw, "%s\t%d\t%s\tERROR\t\t\t\t\t\t %s\n", x.Mode, x.Window, x.Target, first)
			continue
		}
		note := ""
		if x.Truncated {
			note = " (duration cap hit)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%.0f\t%s\t%s\t%s\t%s\t%d\t%s\n", x.Mode, x.Window, x.Target, x.MsgPerSec,
			fmtMicros(x.P50us), fmtMicros(x.P99us), fmtMicros(x.MaxUs), fmtCPU(x.CPUus), x.Acked, note)
	}
	_ = tw.Flush()
	if len(r.Ratios) == 0 {
		return
	}
	fmt.Fprintln(w, "\noutpost / mosquitto (msg/s: above 1 = outpost better; p50, p99, cpu/msg: below 1 = outpost better)")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\ttransport\tmsg/s\tp50\tp99\tcpu/msg\t")
	for _, x := range r.Ratios {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", x.Mode, x.Transport, tool.FmtRatio(x.MsgPerSec), tool.FmtRatio(x.P50), tool.FmtRatio(x.P99), tool.FmtRatio(x.CPUPerMsg))
	}
	_ = tw.Flush()
}

func fmtCPU(us float64) string {
	if us == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fµs", us)
}

func fmtMicros(us float64) string { return fmtDur(time.Duration(us * float64(time.Microsecond))) }

// fmtDur prints a latency with three significant figures in µs or ms.
func fmtDur(d time.Duration) string {
	us := float64(d) / float64(time.Microsecond)
	switch {
	case us < 1000:
		return fmt.Sprintf("%.0fµs", us)
	case us < 100000:
		return fmt.Sprintf("%.2fms", us/1000)
	default:
		return fmt.Sprintf("%.0fms", us/1000)
	}
}
