// Command conns measures what thousands of idle MQTT connections cost a broker (RELIABILITY
// D4): it holds N authenticated, idle connections (default 5,000) against outpost (TLS and its
// plain development listener) and Debian's mosquitto (plain and TLS) in one run, and reports
// per target the time to connect them all, the broker's resident memory before and with them
// (bytes per idle connection), its open descriptors before, with them and after they all
// disconnected (a leak is after minus before), whether one more client still completes
// CONNECT quickly while N are held (the accept loop is not blocked), and how a connection over
// the broker's cap is answered. Ratios outpost/mosquitto follow, then the D4 verdict.
//
// Run it from the repository root (Linux: it reads /proc/PID/status and /proc/PID/fd):
//
//	go run ./bench/conns                   # 5,000 connections, all four targets
//	go run ./bench/conns -conns 10000 -json
//
// Every device has its own identity, as IoT Hub requires: client id = device id, IoT Hub
// username, SAS token password, clean session 0, keep-alive 240 s. Outpost's devices are
// created once through its REST API; each target then gets a fresh broker process (outpost on
// the same data directory), so its memory baseline is not inflated by the previous target.
// Each broker is started with a cap of N+1 connections (`--max-connections`, mosquitto's
// `max_connections`): the probe client is the (N+1)th, and one more is the over-cap client.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/outpost-iot/outpost/bench/internal/tool"
)

// options are the command-line flags.
type options struct {
	conns        int
	targets      []tool.Target
	keepAlive    time.Duration
	concurrency  int
	settle       time.Duration
	probeTimeout time.Duration
	budget       int
	outpostBin   string
	mosquitto    string
	setupConc    int
	jsonOut      bool
	keep         bool
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	var targets string
	fs := flag.NewFlagSet("conns", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.conns, "conns", 5000, "idle connections held per target, one device each")
	fs.StringVar(&targets, "targets", strings.Join(tool.AllTargets, ","), "comma-separated targets: "+strings.Join(tool.AllTargets, ", ")+" (outpost and mosquitto alone mean -tcp)")
	fs.DurationVar(&o.keepAlive, "keepalive", 240*time.Second, "MQTT keep-alive of every connection (PINGREQs are sent at half of it)")
	fs.IntVar(&o.concurrency, "concurrency", 32, "parallel CONNECTs while connecting")
	fs.DurationVar(&o.settle, "settle", 2*time.Second, "wait after connecting before sampling memory and descriptors")
	fs.DurationVar(&o.probeTimeout, "probe-timeout", time.Second, "the extra client must get its CONNACK within this while N are held")
	fs.IntVar(&o.budget, "budget", defaultBudget, "bytes per idle outpost connection allowed (D4); 0 = no check")
	fs.StringVar(&o.outpostBin, "outpost", "", "outpost binary (default: go build ./cmd/outpost into the temp dir)")
	fs.StringVar(&o.mosquitto, "mosquitto", "mosquitto", "mosquitto binary")
	fs.IntVar(&o.setupConc, "setup-concurrency", 32, "parallel REST calls while creating devices")
	fs.BoolVar(&o.jsonOut, "json", false, "print JSON instead of tables")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (data, broker configs and logs)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var err error
	o.targets, err = tool.ParseTargets(targets)
	return o, errors.Join(err, o.validate())
}

func (o options) validate() error {
	var errs []error
	if o.conns < 1 || o.concurrency < 1 || o.setupConc < 1 {
		errs = append(errs, errors.New("-conns, -concurrency and -setup-concurrency must be >= 1"))
	}
	if o.keepAlive < 2*time.Second || o.keepAlive > 65535*time.Second {
		errs = append(errs, errors.New("-keepalive must be in 2s..65535s"))
	}
	if o.settle < 0 || o.probeTimeout <= 0 || o.budget < 0 {
		errs = append(errs, errors.New("-settle and -budget must be >= 0, -probe-timeout > 0"))
	}
	return errors.Join(errs...)
}

func main() { tool.Main("conns", run) }

// run measures every target and prints the report. It fails when setup fails, when it is
// interrupted, or when an outpost target misses a D4 check.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	limit, err := raiseNoFile(uint64(o.conns) + 512)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "outpost-conns-")
	if err != nil {
		return fmt.Errorf("conns: temp dir: %w", err)
	}
	b := &bench{opts: o, dir: dir, log: stderr}
	defer b.cleanup()
	b.logf("open-file limit %d (inherited by the brokers)", limit)
	if err := b.setup(ctx); err != nil {
		b.keepDir = true
		return err
	}
	var results []result
	for _, t := range o.targets {
		results = append(results, b.measure(ctx, t))
		if ctx.Err() != nil {
			return fmt.Errorf("conns: interrupted: %w", ctx.Err())
		}
	}
	rep := newReport(o, limit, results)
	if o.jsonOut {
		err = tool.WriteJSON(stdout, rep)
	} else {
		rep.writeText(stdout)
	}
	if failed := rep.failedChecks(); len(failed) > 0 {
		b.keepDir = true
		return errors.Join(err, fmt.Errorf("conns: D4 checks failed: %s", strings.Join(failed, "; ")))
	}
	return err
}

// deviceID names the i-th device; the held connections are 0..N-1, the probe N, the over-cap client N+1.
func deviceID(i int) string { return fmt.Sprintf("conn-%d", i) }
