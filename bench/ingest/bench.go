package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/outpost-iot/outpost/bench/internal/launch"
	"github.com/outpost-iot/outpost/bench/internal/tool"
	"github.com/outpost-iot/outpost/bench/mqttload"
)

// system is a running broker and the devices that connect to it.
type system struct {
	launch.Broker
	devices []mqttload.Device
}

// mode is one load shape measured for every target.
type mode struct {
	Name   string  // latency, pipelined or steady
	Window int     // outstanding PUBLISHes per device (steady: the cap)
	Rate   float64 // steady only: msg/s per device
}

func (o options) modes() []mode {
	var ms []mode
	if o.runsMode("latency") {
		ms = append(ms, mode{Name: "latency", Window: o.inflight})
	}
	if o.runsMode("pipelined") && o.pipeline > 0 && (o.pipeline != o.inflight || !o.runsMode("latency")) {
		ms = append(ms, mode{Name: "pipelined", Window: o.pipeline})
	}
	if o.runsMode("steady") {
		ms = append(ms, mode{Name: "steady", Window: o.steadyWin, Rate: o.rate})
	}
	return ms
}

// row holds one (mode, target) cell: every round's figures and their combination.
type row struct {
	Mode   mode
	Target tool.Target
	Rounds []roundStats
	Stats  roundStats
	Err    string
}

// bench owns the temp directory and the broker processes of one invocation.
type bench struct {
	opts    options
	dir     string
	log     io.Writer
	systems map[string]*system
	failed  map[string]error // systems that did not start; their rows report the error
	keepDir bool
	syncLat []time.Duration // every fdatasync probe sample of the run
	syncErr error           // the first probe failure; later probes are skipped
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "ingest: "+format+"\n", args...)
}

// start launches each system the targets need. A system that fails to start is recorded and
// its targets report the error; start fails only when no system is up.
func (b *bench) start(ctx context.Context, targets []tool.Target) error {
	b.systems, b.failed = map[string]*system{}, map[string]error{}
	var errs []error
	for _, t := range targets {
		if b.systems[t.System] != nil || b.failed[t.System] != nil {
			continue
		}
		sys, err := b.startSystem(ctx, t.System)
		if err != nil {
			b.logf("%s did not start: %v", t.System, err)
			b.failed[t.System] = err
			b.keepDir = true
			errs = append(errs, err)
			continue
		}
		b.systems[t.System] = sys
	}
	if len(b.systems) == 0 {
		return errors.Join(errs...)
	}
	return nil
}

func (b *bench) startSystem(ctx context.Context, name string) (*system, error) {
	dir := filepath.Join(b.dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	ids := make([]string, b.opts.devices)
	for i := range ids {
		ids[i] = deviceID(i)
	}
	if name == "mosquitto" {
		b.logf("starting mosquitto")
		m, err := launch.StartMosquitto(ctx, b.opts.mosquitto, dir, 0)
		if err != nil {
			return nil, err
		}
		devs := make([]mqttload.Device, len(ids))
		for i, id := range ids {
			devs[i] = mqttload.Device{ClientID: id, Topic: launch.TelemetryTopic(id)}
		}
		return &system{m, devs}, nil
	}
	return b.startOutpost(ctx, dir, ids)
}

func (b *bench) startOutpost(ctx context.Context, dir string, ids []string) (*system, error) {
	bin := b.opts.outpostBin
	if bin == "" {
		b.logf("building ./cmd/outpost")
		var err error
		if bin, err = launch.BuildOutpost(ctx, dir); err != nil {
			return nil, err
		}
	}
	b.logf("starting outpost cloud and creating %d devices", len(ids))
	start := time.Now()
	// The broker's per-connection flood limit (1000 packets/s) would measure the limit, not
	// the ingest path; mosquitto has none either.
	o, err := launch.StartOutpost(ctx, bin, filepath.Join(dir, "data"), filepath.Join(dir, "outpost.log"), "--max-client-rate", "0")
	if err != nil {
		return nil, err
	}
	devs, err := o.CreateDevices(ctx, ids, b.opts.setupConc, 2*time.Hour)
	if err != nil {
		o.Stop()
		return nil, err
	}
	b.logf("outpost ready with %d devices in %s", len(ids), time.Since(start).Round(time.Millisecond))
	return &system{o, devs}, nil
}

// measure runs every round of every mode against every target. Targets are interleaved and
// their order reversed on odd rounds, so drift on a shared machine hits all of them alike.
func (b *bench) measure(ctx context.Context, targets []tool.Target) []*row {
	var rows []*row
	for _, m := range b.opts.modes() {
		for _, t := range targets {
			rows = append(rows, &row{Mode: m, Target: t})
		}
	}
	b.probeSync()
	for r := range b.opts.rounds {
		if r > 0 {
			b.probeSync()
		}
		order := slices.Clone(rows)
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, rw := range order {
			if ctx.Err() != nil {
				return rows
			}
			b.runOne(ctx, rw, r)
		}
	}
	b.probeSync()
	for _, rw := range rows {
		rw.Stats = combine(rw.Rounds)
	}
	return rows
}

// probeSync measures the disk's fdatasync latency between rounds, while no broker is loaded, so
// that the figure is the disk's and not the contention of the run.
func (b *bench) probeSync() {
	if b.opts.syncProbe == 0 || b.syncErr != nil {
		return
	}
	lats, err := probeSync(b.syncDir(), b.opts.syncProbe)
	if err != nil {
		b.syncErr = err
		b.logf("fdatasync probe: %v", err)
		return
	}
	s := summarizeSync("", slices.Clone(lats))
	b.logf("fdatasync probe: p50=%s p99=%s over %d", fmtDur(s.P50), fmtDur(s.P99), s.Samples)
	b.syncLat = append(b.syncLat, lats...)
}

func (b *bench) runOne(ctx context.Context, rw *row, round int) {
	if rw.Err != "" {
		return
	}
	if err := b.failed[rw.Target.System]; err != nil {
		rw.Err = "not started: " + err.Error()
		return
	}
	sys := b.systems[rw.Target.System]
	cfg := mqttload.Config{
		Target: sys.Target(rw.Target.Transport), Devices: sys.devices, Client: mqttload.Client(b.opts.client),
		Messages: b.opts.messages, Warmup: b.opts.warmup, Window: rw.Mode.Window,
		Payload: b.opts.payload, Duration: b.opts.duration, Rate: rw.Mode.Rate,
	}
	var edges [2]procStat
	var edgeErr error
	if rw.Mode.Rate == 0 {
		cfg.ServerCPU = processCPU(sys.Pid())
	} else { // the CPU figures come from /proc/PID/stat at the edges (withProcStat)
		cfg.OnPhase = func(end bool) {
			ps, err := readProcStat(sys.Pid())
			edgeErr = errors.Join(edgeErr, err)
			if end {
				edges[1] = ps
			} else {
				edges[0] = ps
			}
		}
	}
	b.logf("round %d: %s window=%d %s", round+1, rw.Mode.Name, rw.Mode.Window, rw.Target.Name)
	res, err := mqttload.Run(ctx, cfg)
	if err != nil {
		rw.Err = err.Error()
		b.logf("  %s: %v", rw.Target.Name, err)
		return
	}
	st := summarize(res.Latencies, res.Elapsed, res.Truncated, res.ServerCPU)
	if rw.Mode.Rate > 0 {
		if edgeErr != nil {
			b.logf("  %s: %v", rw.Target.Name, edgeErr)
			edges = [2]procStat{}
		}
		st = st.withProcStat(edges[0], edges[1], res.Behind).withSendLag(res.SendLag)
	}
	b.logf("  %.0f msg/s p50=%s p99=%s server cpu/msg=%s", st.MsgPerSec, fmtDur(st.P50), fmtDur(st.P99), fmtDur(st.CPUPerMsg))
	rw.Rounds = append(rw.Rounds, st)
}

func (b *bench) stopSystems() {
	for name, s := range b.systems {
		s.Stop()
		delete(b.systems, name)
	}
}

func (b *bench) cleanup() {
	b.stopSystems()
	if b.keepDir || b.opts.keep {
		b.logf("kept %s", b.dir)
		return
	}
	_ = os.RemoveAll(b.dir)
}
