package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/outpost-iot/outpost/bench/internal/tool"
	"github.com/outpost-iot/outpost/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// TestRun_AllTargets runs the tool end to end with tiny figures against all four targets:
// Debian's mosquitto (which .ci/run installs) and outpost built by testutil. It fails, never
// skips, when mosquitto is missing.
func TestRun_AllTargets(t *testing.T) {
	if _, err := exec.LookPath("mosquitto"); err != nil {
		t.Fatalf("mosquitto is required: apt-get install -y mosquitto (.ci/run installs it): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr strings.Builder
	err := run(ctx, []string{"-devices", "2", "-messages", "20", "-warmup", "2", "-inflight", "1", "-pipeline", "4",
		"-outpost", testutil.BuildOutpost(t), "-json"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	var rep report
	if err := json.Unmarshal([]byte(stdout.String()), &rep); err != nil {
		t.Fatalf("json report: %v\n%s", err, stdout.String())
	}
	if len(rep.Results) != 2*len(tool.AllTargets) {
		t.Fatalf("%d result rows, want %d (2 modes x %d targets)", len(rep.Results), 2*len(tool.AllTargets), len(tool.AllTargets))
	}
	for _, r := range rep.Results {
		if r.Error != "" || r.Acked != 40 || r.MsgPerSec <= 0 || r.P50us <= 0 {
			t.Errorf("%s %s: error %q, acked %d (want 40), %.0f msg/s, p50 %.0f µs", r.Mode, r.Target, r.Error, r.Acked, r.MsgPerSec, r.P50us)
		}
	}
	if len(rep.Ratios) != 4 {
		t.Fatalf("%d ratio rows, want 4 (2 modes x tls, tcp)", len(rep.Ratios))
	}
	for _, r := range rep.Ratios {
		if r.MsgPerSec == nil || r.P50 == nil {
			t.Errorf("%s %s: ratio missing: %+v", r.Mode, r.Transport, r)
		}
		if (r.Mode == "latency") != (r.Bound != nil && r.OfBound != nil) {
			t.Errorf("%s %s: bound %v, of bound %v: want them in the 1-in-flight latency mode only", r.Mode, r.Transport, deref(r.Bound), deref(r.OfBound))
		}
	}
	if rep.Sync == nil || rep.Sync.Samples == 0 || rep.Sync.P50us <= 0 {
		t.Errorf("fdatasync probe: %+v, want samples with a positive p50 (default -sync-probe)", rep.Sync)
	}
	if t.Failed() {
		t.Logf("progress:\n%s", stderr.String())
	}
}

// TestRun_SteadyAndSyncProbe runs the steady mode briefly (2 devices at 50 msg/s for 2 s) beside
// the latency mode against outpost and mosquitto, with a short fdatasync probe, and checks the
// steady columns, the probe and the bound.
func TestRun_SteadyAndSyncProbe(t *testing.T) {
	if _, err := exec.LookPath("mosquitto"); err != nil {
		t.Fatalf("mosquitto is required: apt-get install -y mosquitto (.ci/run installs it): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr strings.Builder
	err := run(ctx, []string{"-targets", "outpost,mosquitto", "-modes", "latency,steady", "-devices", "2", "-messages", "20",
		"-warmup", "2", "-rate", "50", "-duration", "2s", "-sync-probe", "30", "-outpost", testutil.BuildOutpost(t), "-json"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	var rep report
	if err := json.Unmarshal([]byte(stdout.String()), &rep); err != nil {
		t.Fatalf("json report: %v\n%s", err, stdout.String())
	}
	// One probe before the round and one after it.
	if rep.Sync == nil || rep.Sync.Samples != 60 || rep.Sync.P50us <= 0 || rep.Sync.P99us < rep.Sync.P50us || rep.Sync.Error != "" {
		t.Errorf("fdatasync probe: %+v, want 60 samples, 0 < p50 <= p99", rep.Sync)
	}
	steady := 0
	for _, r := range rep.Results {
		if r.Mode != "steady" {
			continue
		}
		steady++
		// 2 devices x 50 msg/s x 2 s: about 200 messages due, each acked or left behind. On a
		// loaded machine the phase may end late, and the messages due meanwhile count too: the
		// upper bound follows the elapsed time (acked / msg/s, one round), not the nominal 2 s.
		most := 210
		if r.MsgPerSec > 0 {
			most = max(most, 2*int(50*float64(r.Acked)/r.MsgPerSec)+4)
		}
		if n := r.Acked + r.Behind; r.Error != "" || n < 190 || n > most || r.Acked < 100 {
			t.Errorf("%s steady: error %q, acked %d + behind %d, want about 200 (at most %d)", r.Target, r.Error, r.Acked, r.Behind, most)
		}
		if r.MsgPerSec <= 0 || r.P99us < r.P50us || r.P50us <= 0 || r.RSSStart <= 0 || r.RSSEnd <= 0 || r.Rate != 50 {
			t.Errorf("%s steady: %.0f msg/s, p50 %.0f µs, p99 %.0f µs, rss %d..%d, rate %v", r.Target, r.MsgPerSec, r.P50us, r.P99us, r.RSSStart, r.RSSEnd, r.Rate)
		}
	}
	if steady != 2 {
		t.Errorf("%d steady rows, want 2", steady)
	}
	var modes []string
	for _, r := range rep.Ratios {
		modes = append(modes, r.Mode)
		if r.Mode == "steady" && (r.P99 == nil || r.Bound != nil) {
			t.Errorf("steady ratio: p99 %v, bound %v; want a p99 ratio and no bound", deref(r.P99), deref(r.Bound))
		}
		if r.Mode == "latency" && (r.Bound == nil || *r.Bound <= 0 || r.OfBound == nil || *r.OfBound <= 0) {
			t.Errorf("latency ratio: bound %v, of bound %v; want both positive", deref(r.Bound), deref(r.OfBound))
		}
	}
	if strings.Join(modes, ",") != "latency,steady" {
		t.Errorf("ratio rows for %v, want latency,steady (tcp)", modes)
	}
	var text strings.Builder
	rep.writeText(&text)
	for _, want := range []string{"fdatasync (", "steady: 2 devices x 50 msg/s for 2s, window 16", "user/msg", "of bound"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
	if t.Failed() {
		t.Logf("progress:\n%s", stderr.String())
	}
}
