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

// defaultBudget is D4's memory budget per idle outpost connection: its RSS growth divided
// by the connections. Measured (bench/README.md): 56-63 KiB over TLS, 36-38 KiB plain, at
// 5,000-10,000 connections; 80 KiB keeps 10,000 idle TLS devices under 800 MiB.
const defaultBudget = 80 << 10

// maxOverCapMillis bounds the over-cap answer: the broker reads CONNECT for at most 2 s.
const maxOverCapMillis = 3000

// result is one target's measurements.
type result struct {
	Target     string     `json:"target"`
	Conns      int        `json:"conns"`
	ConnectSec float64    `json:"connectSeconds"`
	Before     procSample `json:"before"`
	Held       procSample `json:"held"`
	After      procSample `json:"after"`
	ReleaseSec float64    `json:"releaseSeconds"` // from the last close until the descriptors were back
	Probe      outcome    `json:"probe"`          // the (N+1)th client
	OverCap    outcome    `json:"overCap"`        // the (N+2)th client, over the cap of N+1
	Error      string     `json:"error,omitempty"`

	BytesPerConn float64 `json:"bytesPerConn"` // (held RSS - before RSS) / conns
	FDsPerConn   float64 `json:"fdsPerConn"`
	FDLeak       int     `json:"fdLeak"` // after - before
}

func (r *result) derive() {
	if r.Error != "" || r.Conns == 0 {
		return
	}
	r.BytesPerConn = float64(r.Held.RSS-r.Before.RSS) / float64(r.Conns)
	r.FDsPerConn = float64(r.Held.FDs-r.Before.FDs) / float64(r.Conns)
	r.FDLeak = r.After.FDs - r.Before.FDs
}

// ratioRow is outpost divided by mosquitto on one transport; below 1 is better for outpost.
// A nil field (JSON null, "n/a") means a side is missing.
type ratioRow struct {
	Transport    string   `json:"transport"`
	ConnectTime  *float64 `json:"connectTime"`
	BytesPerConn *float64 `json:"bytesPerConn"`
	ProbeTime    *float64 `json:"probeTime"`
}

type settings struct {
	Conns        int     `json:"conns"`
	KeepAliveS   float64 `json:"keepAliveSeconds"`
	Concurrency  int     `json:"connectConcurrency"`
	NoFile       uint64  `json:"openFileLimit"`
	BudgetBytes  int     `json:"budgetBytesPerConn"`
	ProbeTimeout float64 `json:"probeTimeoutMillis"`
	GOMAXPROCS   int     `json:"gomaxprocs"`
	Time         string  `json:"time"`
}

// report is what the tool prints.
type report struct {
	Settings settings   `json:"settings"`
	Results  []result   `json:"results"`
	Ratios   []ratioRow `json:"ratios"`
	Checks   []check    `json:"checks"`
}

// check is D4's verdict on one outpost target.
type check struct {
	Target   string   `json:"target"`
	Failures []string `json:"failures"`
}

func newReport(o options, nofile uint64, results []result) report {
	rep := report{Ratios: []ratioRow{}, Checks: []check{}, Settings: settings{
		Conns: o.conns, KeepAliveS: o.keepAlive.Seconds(), Concurrency: o.concurrency, NoFile: nofile,
		BudgetBytes: o.budget, ProbeTimeout: float64(o.probeTimeout) / float64(time.Millisecond),
		GOMAXPROCS: runtime.GOMAXPROCS(0), Time: time.Now().UTC().Format(time.RFC3339),
	}}
	byName := map[string]*result{}
	for i := range results {
		results[i].derive()
		byName[results[i].Target] = &results[i]
	}
	rep.Results = results
	for _, tr := range []string{"tls", "tcp"} {
		op, mq := byName["outpost-"+tr], byName["mosquitto-"+tr]
		if op == nil || mq == nil {
			continue
		}
		rep.Ratios = append(rep.Ratios, ratioRow{Transport: tr,
			ConnectTime:  ratioOf(op, mq, func(r *result) float64 { return r.ConnectSec }),
			BytesPerConn: ratioOf(op, mq, func(r *result) float64 { return r.BytesPerConn }),
			ProbeTime:    ratioOf(op, mq, func(r *result) float64 { return r.Probe.Millis }),
		})
	}
	for i := range results {
		if strings.HasPrefix(results[i].Target, "outpost") {
			rep.Checks = append(rep.Checks, check{Target: results[i].Target, Failures: d4Failures(o, &results[i])})
		}
	}
	return rep
}

// d4Failures lists what RELIABILITY D4 asks that r does not show: all N held with one
// descriptor each, memory per idle connection within the budget, no descriptor leak, the
// accept loop still answering while N are held, and the cap answered by CONNACK 0x03 or a close.
func d4Failures(o options, r *result) []string {
	if r.Error != "" {
		return []string{"error: " + firstLine(r.Error)}
	}
	f := []string{}
	if held := r.Held.FDs - r.Before.FDs; held < r.Conns {
		f = append(f, fmt.Sprintf("only %d more descriptors with %d connections held", held, r.Conns))
	}
	if o.budget > 0 && r.BytesPerConn > float64(o.budget) {
		f = append(f, fmt.Sprintf("%.0f bytes per idle connection, budget %d", r.BytesPerConn, o.budget))
	}
	if r.FDLeak > 0 {
		f = append(f, fmt.Sprintf("%d descriptors leaked", r.FDLeak))
	}
	if r.Probe.Result != "connected" || r.Probe.Millis > float64(o.probeTimeout)/float64(time.Millisecond) {
		f = append(f, fmt.Sprintf("probe client: %s after %.0f ms", r.Probe.Result, r.Probe.Millis))
	}
	if (r.OverCap.Result != "connack 0x03" && r.OverCap.Result != "closed") || r.OverCap.Millis > maxOverCapMillis {
		f = append(f, fmt.Sprintf("over the cap: %s after %.0f ms", r.OverCap.Result, r.OverCap.Millis))
	}
	return f
}

// failedChecks names every outpost target with a failed D4 check.
func (r report) failedChecks() []string {
	var out []string
	for _, c := range r.Checks {
		if len(c.Failures) > 0 {
			out = append(out, c.Target+": "+strings.Join(c.Failures, ", "))
		}
	}
	return out
}

func ratioOf(a, b *result, f func(*result) float64) *float64 {
	if a.Error != "" || b.Error != "" || f(b) <= 0 || f(a) < 0 {
		return nil
	}
	v := f(a) / f(b)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func (r report) writeText(w io.Writer) {
	s := r.Settings
	fmt.Fprintf(w, "conns: %d idle connections per target, keep-alive %.0fs, %d CONNECTs in parallel, open-file limit %d, GOMAXPROCS %d\n\n",
		s.Conns, s.KeepAliveS, s.Concurrency, s.NoFile, s.GOMAXPROCS)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tconnect\tconn/s\trss before\trss held\trss after\tB/conn\tfds before\tfds held\tfds after\tfd leak\tprobe\tover cap\t")
	for _, x := range r.Results {
		if x.Error != "" {
			fmt.Fprintf(tw, "%s\tERROR\t\t\t\t\t\t\t\t\t\t\t\t %s\n", x.Target, firstLine(x.Error))
			continue
		}
		fmt.Fprintf(tw, "%s\t%.1fs\t%.0f\t%s\t%s\t%s\t%.0f\t%d\t%d\t%d\t%d\t%s\t%s\t\n", x.Target, x.ConnectSec,
			float64(x.Conns)/x.ConnectSec, mib(x.Before.RSS), mib(x.Held.RSS), mib(x.After.RSS), x.BytesPerConn,
			x.Before.FDs, x.Held.FDs, x.After.FDs, x.FDLeak, fmtOutcome(x.Probe), fmtOutcome(x.OverCap))
	}
	_ = tw.Flush()
	if len(r.Ratios) > 0 {
		fmt.Fprintln(w, "\noutpost / mosquitto (below 1 = outpost faster or smaller)")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "transport\tconnect time\tbytes/conn\tprobe time\t")
		for _, x := range r.Ratios {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", x.Transport, tool.FmtRatio(x.ConnectTime), tool.FmtRatio(x.BytesPerConn), tool.FmtRatio(x.ProbeTime))
		}
		_ = tw.Flush()
	}
	if len(r.Checks) > 0 {
		fmt.Fprintf(w, "\nD4 (budget %d bytes per idle connection, probe within %.0f ms, over cap answered by CONNACK 0x03 or a close):\n",
			s.BudgetBytes, s.ProbeTimeout)
		for _, c := range r.Checks {
			verdict := "ok"
			if len(c.Failures) > 0 {
				verdict = "FAIL: " + strings.Join(c.Failures, "; ")
			}
			fmt.Fprintf(w, "  %s: %s\n", c.Target, verdict)
		}
	}
}

func fmtOutcome(o outcome) string {
	if strings.HasPrefix(o.Result, "error") {
		return "error"
	}
	return fmt.Sprintf("%s %.1fms", o.Result, o.Millis)
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}
