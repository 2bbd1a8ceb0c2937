package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/outpost-iot/outpost/bench/internal/launch"
	"github.com/outpost-iot/outpost/bench/internal/tool"
	"github.com/outpost-iot/outpost/bench/mqttload"
	"github.com/outpost-iot/outpost/internal/iothub"
)

// bench owns the temp directory, the devices and the broker processes of one invocation.
type bench struct {
	opts      options
	dir       string
	log       io.Writer
	outpost   string            // outpost binary, when an outpost target is measured
	devices   []mqttload.Device // N held + the probe + the over-cap client
	outpostUp error             // why outpost could not be set up, if it could not
	keepDir   bool
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "conns: "+format+"\n", args...)
}

func (b *bench) ids() []string {
	ids := make([]string, b.opts.conns+2)
	for i := range ids {
		ids[i] = deviceID(i)
	}
	return ids
}

// setup creates the devices: in outpost through its REST API when an outpost target is
// measured (a failure there is reported on the outpost rows), else locally with the same
// shape of credentials, which mosquitto accepts without checking.
func (b *bench) setup(ctx context.Context) error {
	if !b.measuresOutpost() {
		return b.localDevices()
	}
	if err := b.createOutpostDevices(ctx); err != nil {
		b.logf("outpost setup failed: %v", err)
		b.outpostUp = err
		return b.localDevices()
	}
	return nil
}

func (b *bench) measuresOutpost() bool {
	return slices.ContainsFunc(b.opts.targets, func(t tool.Target) bool { return t.System == "outpost" })
}

func (b *bench) createOutpostDevices(ctx context.Context) error {
	b.outpost = b.opts.outpostBin
	if b.outpost == "" {
		b.logf("building ./cmd/outpost")
		var err error
		if b.outpost, err = launch.BuildOutpost(ctx, b.dir); err != nil {
			return err
		}
	}
	start := time.Now()
	o, err := b.startOutpost(ctx)
	if err != nil {
		return err
	}
	defer o.Stop()
	b.logf("creating %d devices", b.opts.conns+2)
	b.devices, err = o.CreateDevices(ctx, b.ids(), b.opts.setupConc, 24*time.Hour)
	if err == nil {
		b.logf("devices created in %s", time.Since(start).Round(time.Millisecond))
	}
	return err
}

// localDevices makes IoT Hub-shaped credentials signed with a throwaway key.
func (b *bench) localDevices() error {
	b.devices = nil
	for _, id := range b.ids() {
		sas, err := iothub.NewSASToken(iothub.DeviceResource(launch.OutpostHost, id), "a2V5", "", time.Now().Add(24*time.Hour))
		if err != nil {
			return fmt.Errorf("conns: %w", err)
		}
		b.devices = append(b.devices, mqttload.Device{ClientID: id, Username: launch.DeviceUsername(id), Password: sas})
	}
	return nil
}

// capArg is the broker cap: the N held connections and the probe fit, one more does not.
func (b *bench) capArg() int { return b.opts.conns + 1 }

func (b *bench) startOutpost(ctx context.Context) (*launch.Outpost, error) {
	return launch.StartOutpost(ctx, b.outpost, filepath.Join(b.dir, "outpost-data"), filepath.Join(b.dir, "outpost.log"),
		"--max-connections", strconv.Itoa(b.capArg()))
}

// startBroker starts a fresh broker process for target.
func (b *bench) startBroker(ctx context.Context, target tool.Target) (launch.Broker, error) {
	if target.System == "outpost" {
		if b.outpostUp != nil {
			return nil, fmt.Errorf("not set up: %w", b.outpostUp)
		}
		return b.startOutpost(ctx)
	}
	dir := filepath.Join(b.dir, target.Name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("conns: %w", err)
	}
	return launch.StartMosquitto(ctx, b.opts.mosquitto, dir, b.capArg())
}

// measure runs the whole sequence against one target in its own broker process.
func (b *bench) measure(ctx context.Context, target tool.Target) result {
	r := result{Target: target.Name, Conns: b.opts.conns}
	b.logf("%s: starting the broker", target.Name)
	br, err := b.startBroker(ctx, target)
	if err != nil {
		r.Error = err.Error()
		b.keepDir = true
		return r
	}
	defer br.Stop()
	if err := b.measureHeld(ctx, br, br.Target(target.Transport), &r); err != nil {
		r.Error = err.Error()
		b.keepDir = true
		b.logf("%s: %v", target.Name, err)
	}
	return r
}

func (b *bench) measureHeld(ctx context.Context, br launch.Broker, t mqttload.Target, r *result) error {
	pid := br.Pid()
	time.Sleep(b.opts.settle) // let the fresh process finish starting before the baseline
	before, err := sample(pid)
	if err != nil {
		return err
	}
	r.Before = before
	b.logf("%s: connecting %d devices", r.Target, b.opts.conns)
	h := newHolder(t, b.opts.keepAlive)
	defer h.closeAll()
	start := time.Now()
	if err := h.connect(ctx, b.devices[:b.opts.conns], b.opts.concurrency); err != nil {
		return err
	}
	r.ConnectSec = time.Since(start).Seconds()
	b.logf("%s: %d connected in %.1fs", r.Target, b.opts.conns, r.ConnectSec)
	time.Sleep(b.opts.settle)
	if r.Held, err = sample(pid); err != nil {
		return err
	}
	r.Probe, r.OverCap = b.probes(ctx, t)
	h.disconnectAll(b.opts.concurrency)
	r.After, r.ReleaseSec, err = waitReleased(ctx, pid, before.FDs, 15*time.Second)
	b.logf("%s: rss %s -> %s -> %s, fds %d -> %d -> %d", r.Target, mib(r.Before.RSS), mib(r.Held.RSS), mib(r.After.RSS),
		r.Before.FDs, r.Held.FDs, r.After.FDs)
	return err
}

// probes connects the (N+1)th client, which must be answered quickly, then one more, which
// the cap must refuse; both connections are closed before returning.
func (b *bench) probes(ctx context.Context, t mqttload.Target) (probe, overCap outcome) {
	ka := uint16(b.opts.keepAlive / time.Second)
	extra, probe := connectTimed(ctx, t, b.devices[b.opts.conns], ka)
	over, overCap := connectTimed(ctx, t, b.devices[b.opts.conns+1], ka)
	for _, c := range []io.Closer{extra, over} {
		if c != nil {
			_ = c.Close()
		}
	}
	return probe, overCap
}

// waitReleased polls the broker until its descriptors are back to baseline (or timeout)
// and returns the last sample and how long the release took.
func waitReleased(ctx context.Context, pid, baseline int, timeout time.Duration) (procSample, float64, error) {
	start := time.Now()
	for {
		s, err := sample(pid)
		if err != nil || s.FDs <= baseline || time.Since(start) > timeout {
			return s, time.Since(start).Seconds(), err
		}
		select {
		case <-ctx.Done():
			return s, time.Since(start).Seconds(), fmt.Errorf("conns: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (b *bench) cleanup() {
	if b.keepDir || b.opts.keep {
		b.logf("kept %s", b.dir)
		return
	}
	_ = os.RemoveAll(b.dir)
}

// outcome is how one probe connection ended.
type outcome struct {
	Result string  `json:"result"` // connected, connack 0xNN, closed, or error: ...
	Millis float64 `json:"millis"`
}

// connectTimed connects d and classifies the answer; the connection is returned when open.
func connectTimed(ctx context.Context, t mqttload.Target, d mqttload.Device, keepAlive uint16) (io.Closer, outcome) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	start := time.Now()
	conn, err := mqttload.Connect(ctx, t, d, keepAlive)
	o := outcome{Millis: float64(time.Since(start)) / float64(time.Millisecond), Result: classify(err)}
	if err != nil {
		return nil, o
	}
	return conn, o
}

// classify names a CONNECT's outcome: a refusal by its CONNACK code, a close by the server
// (end of stream or reset) as "closed".
func classify(err error) string {
	var re *mqttload.RefusedError
	switch {
	case err == nil:
		return "connected"
	case errors.As(err, &re):
		return fmt.Sprintf("connack 0x%02x", re.Code)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "closed"
	}
	return "error: " + err.Error()
}

func mib(b int64) string { return fmt.Sprintf("%.1fMiB", float64(b)/(1<<20)) }
