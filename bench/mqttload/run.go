package mqttload

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

const (
	keepAliveSeconds = 300
	drainTimeout     = 10 * time.Second
	// connectConcurrency bounds parallel CONNECTs.
	connectConcurrency = 16
)

// Target is the broker under test.
type Target struct {
	Addr string      // host:port on loopback
	TLS  *tls.Config // nil for plain TCP
}

// Device is one MQTT identity; each device gets its own connection.
type Device struct {
	ClientID, Username, Password string
	Topic                        string // telemetry topic, e.g. devices/{id}/messages/events/
}

// Client selects the MQTT client implementation.
type Client string

// Clients available to Config.Client.
const (
	ClientRaw  Client = "raw"  // hand-rolled CONNECT/PUBLISH/PUBACK client (default)
	ClientPaho Client = "paho" // github.com/eclipse/paho.mqtt.golang
)

// Config describes one measured run against one target.
type Config struct {
	Target   Target
	Devices  []Device
	Client   Client
	Messages int           // measured messages per device (closed loop only)
	Warmup   int           // unmeasured messages per device, sent before the measured phase
	Window   int           // outstanding QoS 1 messages per device (1 = pure latency)
	Payload  int           // body size in bytes
	Duration time.Duration // cap on the measured phase; 0 = none. With Rate, its length.
	// Rate, if positive, makes the measured phase open-loop: each device publishes Rate messages
	// per second on a fixed Schedule for Duration, Window being only the cap on unacknowledged
	// messages, and latency runs from each message's scheduled time. Needs ClientRaw.
	Rate float64
	// ServerCPU, if set, returns the broker's cumulative CPU time; Run samples it around the
	// measured phase and reports the difference in Result.ServerCPU.
	ServerCPU func() (time.Duration, error)
	// OnPhase, if set, is called just before the measured phase starts (end false) and just
	// after it ended (end true), so the caller can sample the broker at exactly those edges.
	OnPhase func(end bool)
}

// Result is the outcome of Run.
type Result struct {
	Acked     int             // PUBACKs received in the measured phase
	Elapsed   time.Duration   // measured phase wall time, first PUBLISH to last PUBACK
	Latencies []time.Duration // publish-to-PUBACK, one per acked message, all devices
	Truncated bool            // the duration cap ended the measured phase early
	ServerCPU time.Duration   // broker CPU time during the measured phase (0 without Config.ServerCPU)
	// Behind counts, with Config.Rate, the messages that were due before the phase ended but
	// never written because the window was full: the broker did not keep up with the rate.
	Behind int
	// SendLag has, with Config.Rate, one entry per written message: how long after its scheduled
	// time it was written. It is the client's lateness in waking up (Go's timers can fire up to
	// about a millisecond late) or the wait for a window slot; it is part of every latency.
	SendLag []time.Duration
}

// Validate reports every invalid field.
func (c *Config) Validate() error {
	var errs []error
	if c.Target.Addr == "" {
		errs = append(errs, errors.New("target.addr is empty"))
	}
	if len(c.Devices) == 0 {
		errs = append(errs, errors.New("devices is empty"))
	}
	if c.Messages < 1 && c.Rate == 0 {
		errs = append(errs, errors.New("messages must be >= 1"))
	}
	if c.Rate < 0 || c.Rate > 0 && (c.Duration <= 0 || c.Client != ClientRaw) {
		errs = append(errs, errors.New("rate must be >= 0; a positive rate needs a duration and client raw"))
	}
	if c.Warmup < 0 {
		errs = append(errs, errors.New("warmup must be >= 0"))
	}
	if c.Window < 1 || c.Window > 65535 {
		errs = append(errs, errors.New("window must be in 1..65535"))
	}
	if c.Client != ClientRaw && c.Client != ClientPaho {
		errs = append(errs, fmt.Errorf("client %q: want raw or paho", c.Client))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("mqttload: config: %w", err)
	}
	return nil
}

type publisher interface {
	publish(ctx context.Context, count, window int, lat []time.Duration) ([]time.Duration, error)
	close() error
}

// steadyPublisher is the optional open-loop capability (Config.Rate); only the raw client has it.
type steadyPublisher interface {
	steady(ctx context.Context, s Schedule, window int, out *steadyOut) error
}

// Run connects every device, runs the warm-up, then the measured phase (all devices start
// together), and disconnects. Only the measured phase is in the Result's figures.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	pubs, err := connectAll(ctx, cfg)
	if err != nil {
		return Result{}, err
	}
	defer closeAll(pubs)
	var res Result
	if cfg.Warmup > 0 {
		if _, err := phase(ctx, pubs, cfg.Warmup, cfg.Window, false); err != nil {
			return res, fmt.Errorf("mqttload: warm-up: %w", err)
		}
	}
	if cfg.OnPhase != nil {
		cfg.OnPhase(false)
	}
	cpu0, cpuErr := sampleCPU(cfg.ServerCPU)
	t0 := time.Now()
	// The duration runs from t0, after the samples above, so that the phase lasts all of it.
	mctx, cancel := ctx, context.CancelFunc(func() {})
	if cfg.Duration > 0 {
		mctx, cancel = context.WithDeadline(ctx, t0.Add(cfg.Duration))
	}
	defer cancel()
	var lats [][]time.Duration
	if cfg.Rate > 0 {
		lats, err = steadyPhase(mctx, pubs, NewSchedules(t0, len(pubs), cfg.Rate), cfg.Window, cfg.Duration, &res)
	} else {
		lats, err = phase(mctx, pubs, cfg.Messages, cfg.Window, true)
	}
	res.Elapsed = time.Since(t0)
	cpu1, cpuErr1 := sampleCPU(cfg.ServerCPU)
	if cfg.OnPhase != nil {
		cfg.OnPhase(true)
	}
	if cpuErr == nil && cpuErr1 == nil {
		res.ServerCPU = cpu1 - cpu0
	}
	res.Truncated = cfg.Rate == 0 && mctx.Err() != nil && ctx.Err() == nil // with a rate the duration is the length
	for _, l := range lats {
		res.Latencies = append(res.Latencies, l...)
	}
	res.Acked = len(res.Latencies)
	if err != nil {
		return res, fmt.Errorf("mqttload: measured phase: %w", err)
	}
	return res, ctx.Err()
}

func sampleCPU(f func() (time.Duration, error)) (time.Duration, error) {
	if f == nil {
		return 0, errors.New("no cpu probe")
	}
	return f()
}

// phase runs count publishes on every connection concurrently and returns per-device latencies.
func phase(ctx context.Context, pubs []publisher, count, window int, keep bool) ([][]time.Duration, error) {
	lats := make([][]time.Duration, len(pubs))
	errs := make([]error, len(pubs))
	var wg sync.WaitGroup
	for i, p := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []time.Duration
			if keep {
				buf = make([]time.Duration, 0, count)
			}
			lats[i], errs[i] = p.publish(ctx, count, window, buf)
			if !keep {
				lats[i] = nil
			}
		}()
	}
	wg.Wait()
	return lats, errors.Join(errs...)
}

// steadyPhase runs every connection on its schedule until ctx ends; it returns per-device
// latencies and adds the send lags and the messages left behind to res.
func steadyPhase(ctx context.Context, pubs []publisher, scheds []Schedule, window int, d time.Duration, res *Result) ([][]time.Duration, error) {
	sps := make([]steadyPublisher, len(pubs))
	for i, p := range pubs {
		var ok bool
		if sps[i], ok = p.(steadyPublisher); !ok {
			return nil, errors.New("mqttload: this client has no steady-rate mode")
		}
	}
	outs := make([]steadyOut, len(pubs))
	errs := make([]error, len(pubs))
	var wg sync.WaitGroup
	for i, sp := range sps {
		n := min(int(d/scheds[i].Interval)+1, 1<<20)
		outs[i] = steadyOut{lat: make([]time.Duration, 0, n), lag: make([]time.Duration, 0, n)}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = sp.steady(ctx, scheds[i], window, &outs[i])
		}()
	}
	wg.Wait()
	lats := make([][]time.Duration, len(pubs))
	for i, o := range outs {
		lats[i] = o.lat
		res.SendLag = append(res.SendLag, o.lag...)
		res.Behind += o.behind
	}
	return lats, errors.Join(errs...)
}

func connectAll(ctx context.Context, cfg Config) ([]publisher, error) {
	dialFn := dialRaw
	if cfg.Client == ClientPaho {
		dialFn = dialPaho
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	pubs := make([]publisher, len(cfg.Devices))
	errs := make([]error, len(cfg.Devices))
	sem := make(chan struct{}, connectConcurrency)
	var wg sync.WaitGroup
	for i, d := range cfg.Devices {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			pubs[i], errs[i] = dialFn(cctx, cfg.Target, d, Payload(d.ClientID, cfg.Payload))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		closeAll(pubs)
		return nil, fmt.Errorf("mqttload: connect: %w", err)
	}
	return pubs, nil
}

func closeAll(pubs []publisher) {
	for _, p := range pubs {
		if p != nil {
			_ = p.close()
		}
	}
}

// Payload builds a JSON body of exactly size bytes when size allows
// ({"deviceId":"...","pad":"xxx"}); below the minimum it returns the minimal object.
func Payload(deviceID string, size int) []byte {
	head := `{"deviceId":"` + deviceID + `","pad":"`
	tail := `"}`
	pad := size - len(head) - len(tail)
	if pad < 0 {
		return []byte(`{}`)
	}
	return []byte(head + strings.Repeat("x", pad) + tail)
}
