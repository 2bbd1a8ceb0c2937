// Command ingest measures telemetry ingest — N devices publishing QoS 1 over loopback — against
// outpost (TLS and its plain development listener) and Debian's mosquitto (plain and TLS) in one
// run, and prints msg/s and publish-to-PUBACK p50/p99 side by side with outpost/mosquitto ratios.
//
// Run it from the repository root:
//
//	go run ./bench/ingest                              # all four targets
//	go run ./bench/ingest -targets mosquitto,mosquitto-tls -devices 50 -rounds 3 -json
//
// The tool starts every broker itself on free 127.0.0.1 ports, in a temporary directory, and stops
// it afterwards: mosquitto with a generated config and throwaway ECDSA CA/server certificate;
// outpost with `outpost cloud serve`, devices created through its REST API with their SAS tokens
// (bench/internal/launch).
//
// Each target is measured in latency mode (-inflight, default 1 outstanding PUBLISH per device) and
// in pipelined mode (-pipeline, default 16). Devices connect and send -warmup messages first; the
// measured phase starts for all devices together and is capped by -messages and -duration.
// With -rate R a steady mode runs too (or alone, -modes steady): each device publishes R msg/s
// open-loop for -duration, at most -steady-window unacknowledged, and latency is counted from
// each message's scheduled time. Before, between and after the rounds the tool measures the
// disk's fdatasync latency beside outpost's data directory (-sync-probe) and reports, for the
// 1-in-flight latency mode, the bound that one fdatasync per PUBLISH sets and outpost's fraction of it.
//
// The default client (-client raw) is the minimal MQTT 3.1.1 client of bench/mqttload; see that
// package's documentation for why it is used instead of paho.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/outpost-iot/outpost/bench/internal/tool"
	"github.com/outpost-iot/outpost/bench/mqttload"
)

// options are the command-line flags.
type options struct {
	targets    []tool.Target
	devices    int
	messages   int
	warmup     int
	inflight   int
	pipeline   int
	modeNames  []string // which modes run, in this order
	rate       float64  // steady mode: msg/s per device
	steadyWin  int      // steady mode: cap on outstanding PUBLISHes per device
	syncProbe  int      // fdatasync probe iterations before, between and after rounds; 0 = none
	payload    int
	duration   time.Duration
	rounds     int
	client     string
	outpostBin string
	mosquitto  string
	setupConc  int
	jsonOut    bool
	keep       bool
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	var targets, modes string
	fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&targets, "targets", strings.Join(tool.AllTargets, ","), "comma-separated targets: "+strings.Join(tool.AllTargets, ", ")+" (outpost and mosquitto alone mean -tcp)")
	fs.IntVar(&o.devices, "devices", 10, "number of devices, one connection each")
	fs.IntVar(&o.messages, "messages", 2000, "measured messages per device")
	fs.IntVar(&o.warmup, "warmup", 200, "unmeasured warm-up messages per device")
	fs.IntVar(&o.inflight, "inflight", 1, "outstanding QoS 1 PUBLISHes per device in the latency run")
	fs.IntVar(&o.pipeline, "pipeline", 16, "outstanding QoS 1 PUBLISHes per device in the pipelined run (0 = skip it)")
	fs.StringVar(&modes, "modes", "", "comma-separated modes: latency, pipelined, steady (default latency,pipelined, and steady when -rate is set)")
	fs.Float64Var(&o.rate, "rate", 0, "steady mode: msg/s per device, open loop (0 = no steady mode)")
	fs.IntVar(&o.steadyWin, "steady-window", 16, "steady mode: cap on outstanding QoS 1 PUBLISHes per device")
	fs.IntVar(&o.syncProbe, "sync-probe", 300, "fdatasync probe iterations before, between and after rounds (0 = no probe)")
	fs.IntVar(&o.payload, "payload", 128, "JSON body size in bytes")
	fs.DurationVar(&o.duration, "duration", time.Minute, "cap on each closed-loop measured phase; the length of a steady one")
	fs.IntVar(&o.rounds, "rounds", 1, "repeat every run this many times, interleaved; figures are medians")
	fs.StringVar(&o.client, "client", string(mqttload.ClientRaw), "MQTT client: raw or paho")
	fs.StringVar(&o.outpostBin, "outpost", "", "outpost binary (default: go build ./cmd/outpost into the temp dir)")
	fs.StringVar(&o.mosquitto, "mosquitto", "mosquitto", "mosquitto binary")
	fs.IntVar(&o.setupConc, "setup-concurrency", 8, "parallel REST calls while creating devices")
	fs.BoolVar(&o.jsonOut, "json", false, "print JSON instead of tables")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (configs, data, broker logs)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var err error
	o.targets, err = tool.ParseTargets(targets)
	var merr error
	o.modeNames, merr = parseModes(modes, o.rate > 0)
	return o, errors.Join(err, merr, o.validate())
}

// allModes lists the mode names -modes takes, in their run order.
var allModes = []string{"latency", "pipelined", "steady"}

// parseModes parses -modes; empty means latency and pipelined, plus steady when a rate is set.
func parseModes(s string, steady bool) ([]string, error) {
	if s == "" {
		if steady {
			return allModes, nil
		}
		return allModes[:2], nil
	}
	var out []string
	for name := range strings.SplitSeq(s, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(allModes, name) {
			return nil, fmt.Errorf("unknown mode %q (want %s)", name, strings.Join(allModes, ", "))
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out, nil
}

func (o options) runsMode(name string) bool { return slices.Contains(o.modeNames, name) }

func (o options) validate() error {
	var errs []error
	if o.devices < 1 || o.messages < 1 || o.rounds < 1 {
		errs = append(errs, errors.New("-devices, -messages and -rounds must be >= 1"))
	}
	if o.inflight < 1 || o.inflight > 65535 || o.pipeline < 0 || o.pipeline > 65535 {
		errs = append(errs, errors.New("-inflight must be in 1..65535 and -pipeline in 0..65535"))
	}
	if o.warmup < 0 || o.payload < 0 || o.duration <= 0 || o.syncProbe < 0 {
		errs = append(errs, errors.New("-warmup, -payload and -sync-probe must be >= 0, -duration > 0"))
	}
	if o.runsMode("steady") != (o.rate > 0) {
		errs = append(errs, errors.New("-rate > 0 and the steady mode go together (-modes steady needs -rate, -rate needs steady in -modes)"))
	}
	if o.rate < 0 || o.steadyWin < 1 || o.steadyWin > 65535 {
		errs = append(errs, errors.New("-rate must be >= 0 and -steady-window in 1..65535"))
	}
	if o.rate > 0 && o.client != string(mqttload.ClientRaw) {
		errs = append(errs, errors.New("the steady mode needs -client raw"))
	}
	if len(o.modeNames) > 0 && len(o.modes()) == 0 {
		errs = append(errs, errors.New("no mode left to run (-modes pipelined with -pipeline 0)"))
	}
	return errors.Join(errs...)
}

func main() { tool.Main("ingest", run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "outpost-bench-")
	if err != nil {
		return fmt.Errorf("ingest: temp dir: %w", err)
	}
	b := &bench{opts: o, dir: dir, log: stderr}
	defer b.cleanup()
	if err := b.start(ctx, o.targets); err != nil {
		b.keepDir = true
		return err
	}
	rows := b.measure(ctx, o.targets)
	b.stopSystems()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ingest: interrupted: %w", err)
	}
	rep := newReport(o, rows, syncReport(o, b.syncDir(), b.syncLat, b.syncErr))
	if o.jsonOut {
		return tool.WriteJSON(stdout, rep)
	}
	rep.writeText(stdout)
	return nil
}

func deviceID(i int) string { return fmt.Sprintf("bench-%d", i) }
