package main

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/outpost-iot/outpost/bench/internal/tool"
)

// report is what the tool prints: the settings, one line per (mode, target), and the ratios.
type report struct {
	Settings settings    `json:"settings"`
	Sync     *syncJSON   `json:"fdatasync,omitempty"`
	Results  []resultRow `json:"results"`
	Ratios   []ratioRow  `json:"ratios"`
}

// syncJSON is the fdatasync probe, pooled over every probe of the run.
type syncJSON struct {
	Dir        string  `json:"dir"`
	WriteBytes int     `json:"writeBytes"`
	Samples    int     `json:"samples"`
	P50us      float64 `json:"p50Micros"`
	P99us      float64 `json:"p99Micros"`
	MaxUs      float64 `json:"maxMicros"`
	Error      string  `json:"error,omitempty"`
}

type settings struct {
	Devices    int     `json:"devices"`
	Messages   int     `json:"messagesPerDevice"`
	Warmup     int     `json:"warmupPerDevice"`
	PayloadB   int     `json:"payloadBytes"`
	DurationS  float64 `json:"durationCapSeconds"`
	Rounds     int     `json:"rounds"`
	Rate       float64 `json:"steadyRatePerDevice,omitempty"`
	SteadyWin  int     `json:"steadyWindow,omitempty"`
	SyncProbe  int     `json:"syncProbeIterations"`
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

	// Steady mode only.
	Rate     float64 `json:"ratePerDevice,omitempty"`
	UserUs   float64 `json:"serverUserMicrosPerMsg,omitempty"`
	SysUs    float64 `json:"serverSystemMicrosPerMsg,omitempty"`
	RSSStart int64   `json:"serverRssStartBytes,omitempty"`
	RSSEnd   int64   `json:"serverRssEndBytes,omitempty"`
	Behind   int     `json:"behind,omitempty"`
	LagP50us float64 `json:"sendLagP50Micros,omitempty"`
	LagP99us float64 `json:"sendLagP99Micros,omitempty"`
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

	// Latency mode with one message in flight only: the throughput one fdatasync per message
	// allows (latencyBound, with the fdatasync p50 and mosquitto's per-device cycle on this
	// transport) and outpost's msg/s as a fraction of it.
	RoundTripUs *float64 `json:"mosquittoCycleMicros,omitempty"`
	Bound       *float64 `json:"boundMsgPerSec,omitempty"`
	OfBound     *float64 `json:"fractionOfBound,omitempty"`
}

func newReport(o options, rows []*row, sync *syncJSON) report {
	rep := report{Ratios: []ratioRow{}, Sync: sync, Settings: settings{
		Devices: o.devices, Messages: o.messages, Warmup: o.warmup, PayloadB: o.payload,
		DurationS: o.duration.Seconds(), Rounds: o.rounds, Client: o.client, SyncProbe: o.syncProbe,
		GOMAXPROCS: runtime.GOMAXPROCS(0), Time: time.Now().UTC().Format(time.RFC3339),
	}}
	if o.runsMode("steady") {
		rep.Settings.Rate, rep.Settings.SteadyWin = o.rate, o.steadyWin
	}
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
			rr := ratioRow{
				Mode: m.Name, Transport: tr,
				MsgPerSec: ratioOf(op, mq, func(s roundStats) float64 { return s.MsgPerSec }),
				P50:       ratioOf(op, mq, func(s roundStats) float64 { return float64(s.P50) }),
				P99:       ratioOf(op, mq, func(s roundStats) float64 { return float64(s.P99) }),
				CPUPerMsg: ratioOf(op, mq, func(s roundStats) float64 { return float64(s.CPUPerMsg) }),
			}
			if m.Name == "latency" && m.Window == 1 && sync != nil && sync.Samples > 0 {
				rr.setBound(op, mq, o.devices, time.Duration(sync.P50us*float64(time.Microsecond)))
			}
			rep.Ratios = append(rep.Ratios, rr)
		}
	}
	return rep
}

// setBound fills the bound columns from the outpost and mosquitto rows of the latency mode.
func (rr *ratioRow) setBound(op, mq *row, devices int, sync time.Duration) {
	if op.Err != "" || mq.Err != "" || mq.Stats.MsgPerSec <= 0 {
		return
	}
	cycle := float64(devices) / mq.Stats.MsgPerSec * 1e6
	bound := latencyBound(devices, mq.Stats.MsgPerSec, sync)
	frac := op.Stats.MsgPerSec / bound
	rr.RoundTripUs, rr.Bound, rr.OfBound = &cycle, &bound, &frac
}

// syncReport summarizes the probes for the report; nil when none was asked for.
func syncReport(o options, dir string, lats []time.Duration, err error) *syncJSON {
	if o.syncProbe == 0 {
		return nil
	}
	s := summarizeSync(dir, lats)
	out := &syncJSON{Dir: dir, WriteBytes: syncRecord, Samples: s.Samples,
		P50us: micros(s.P50), P99us: micros(s.P99), MaxUs: micros(s.Max)}
	if err != nil {
		out.Error = err.Error()
	}
	return out
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
	if r.Mode.Rate > 0 {
		out.Rate, out.Behind = r.Mode.Rate, r.Stats.Behind
		out.UserUs, out.SysUs = micros(r.Stats.UserPerMsg), micros(r.Stats.SysPerMsg)
		out.RSSStart, out.RSSEnd = r.Stats.RSSStart, r.Stats.RSSEnd
		out.LagP50us, out.LagP99us = micros(r.Stats.LagP50), micros(r.Stats.LagP99)
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
	closed := slices.ContainsFunc(r.Results, func(x resultRow) bool { return x.Mode != "steady" })
	msgs := ""
	if closed {
		msgs = fmt.Sprintf(" x %d msgs", s.Messages)
	}
	fmt.Fprintf(w, "ingest: %d devices%s (QoS 1, +%d warm-up), payload %d B, client %s, %d round(s), GOMAXPROCS %d\n",
		s.Devices, msgs, s.Warmup, s.PayloadB, s.Client, s.Rounds, s.GOMAXPROCS)
	r.writeSync(w)
	if closed {
		fmt.Fprintln(w)
		r.writeClosedLoop(w)
	}
	r.writeSteady(w)
	r.writeRatios(w)
}

func (r report) writeSync(w io.Writer) {
	x := r.Sync
	switch {
	case x == nil:
	case x.Samples == 0:
		fmt.Fprintf(w, "fdatasync probe failed: %s\n", x.Error)
	default:
		fmt.Fprintf(w, "fdatasync (%d B write in place + fdatasync, beside outpost's data dir): p50 %s  p99 %s  max %s  (%d samples)\n",
			x.WriteBytes, fmtMicros(x.P50us), fmtMicros(x.P99us), fmtMicros(x.MaxUs), x.Samples)
	}
}

func (r report) writeClosedLoop(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\tinflight\ttarget\tmsg/s\tp50\tp99\tmax\tcpu/msg\tacked\t")
	for _, x := range r.Results {
		if x.Mode == "steady" {
			continue
		}
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
}

// writeSteady prints the steady-mode rows, whose columns differ from the closed-loop ones.
func (r report) writeSteady(w io.Writer) {
	s := r.Settings
	if s.Rate == 0 {
		return
	}
	fmt.Fprintf(w, "\nsteady: %d devices x %g msg/s for %s, window %d; latency from the scheduled send time\n",
		s.Devices, s.Rate, time.Duration(s.DurationS*float64(time.Second)), s.SteadyWin)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tmsg/s\tp50\tp99\tmax\tlag p50\tlag p99\tcpu/msg\tuser/msg\tsys/msg\trss start\trss end\tbehind\tacked\t")
	for _, x := range r.Results {
		if x.Mode != "steady" {
			continue
		}
		if x.Error != "" {
			first, _, _ := strings.Cut(x.Error, "\n")
			fmt.Fprintf(tw, "%s\tERROR\t\t\t\t\t\t\t\t\t\t\t\t\t %s\n", x.Target, first)
			continue
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t\n", x.Target, x.MsgPerSec,
			fmtMicros(x.P50us), fmtMicros(x.P99us), fmtMicros(x.MaxUs), fmtMicros(x.LagP50us), fmtMicros(x.LagP99us),
			fmtCPU(x.CPUus), fmtCPU(x.UserUs), fmtCPU(x.SysUs),
			fmtBytes(x.RSSStart), fmtBytes(x.RSSEnd), x.Behind, x.Acked)
	}
	_ = tw.Flush()
}

func (r report) writeRatios(w io.Writer) {
	if len(r.Ratios) == 0 {
		return
	}
	fmt.Fprintln(w, "\noutpost / mosquitto (msg/s: above 1 = outpost better; p50, p99, cpu/msg: below 1 = outpost better)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	bounds := slices.ContainsFunc(r.Ratios, func(x ratioRow) bool { return x.Bound != nil })
	head := "mode\ttransport\tmsg/s\tp50\tp99\tcpu/msg\t"
	if bounds {
		head += "bound\toutpost/bound\t"
	}
	fmt.Fprintln(tw, head)
	for _, x := range r.Ratios {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t", x.Mode, x.Transport, tool.FmtRatio(x.MsgPerSec), tool.FmtRatio(x.P50),
			tool.FmtRatio(x.P99), tool.FmtRatio(x.CPUPerMsg))
		switch {
		case x.Bound != nil:
			fmt.Fprintf(tw, "%.0f\t%.2f of bound\t", *x.Bound, *x.OfBound)
		case bounds:
			fmt.Fprint(tw, "\t\t")
		}
		fmt.Fprintln(tw)
	}
	_ = tw.Flush()
	if bounds {
		fmt.Fprintln(w, "bound (latency, 1 in flight): devices / (fdatasync p50 + devices / mosquitto msg/s), in msg/s: one fdatasync per PUBLISH on top of mosquitto's round trip")
	}
}

// fmtBytes prints a resident size in MiB, "-" when unknown.
func fmtBytes(b int64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fMiB", float64(b)/(1<<20))
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
