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
	}
	if t.Failed() {
		t.Logf("progress:\n%s", stderr.String())
	}
}
