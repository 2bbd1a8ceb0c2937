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

// TestRun_AllTargets runs the tool end to end with 20 connections against all four
// targets: Debian's mosquitto (which .ci/run installs) and outpost built by testutil. It
// fails, never skips, when mosquitto is missing. The memory budget is off: with 20
// connections the per-connection figure is mostly noise.
func TestRun_AllTargets(t *testing.T) {
	if _, err := exec.LookPath("mosquitto"); err != nil {
		t.Fatalf("mosquitto is required: apt-get install -y mosquitto (.ci/run installs it): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr strings.Builder
	err := run(ctx, []string{"-conns", "20", "-settle", "100ms", "-budget", "0", "-outpost", testutil.BuildOutpost(t), "-json"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	var rep report
	if err := json.Unmarshal([]byte(stdout.String()), &rep); err != nil {
		t.Fatalf("json report: %v\n%s", err, stdout.String())
	}
	if len(rep.Results) != len(tool.AllTargets) || len(rep.Ratios) != 2 || len(rep.Checks) != 2 {
		t.Fatalf("%d results, %d ratios, %d checks; want 4, 2, 2", len(rep.Results), len(rep.Ratios), len(rep.Checks))
	}
	for _, r := range rep.Results {
		if r.Error != "" || r.Held.FDs-r.Before.FDs < 20 || r.FDLeak > 0 || r.Probe.Result != "connected" {
			t.Errorf("%s: error %q, fds %d/%d/%d, probe %s", r.Target, r.Error, r.Before.FDs, r.Held.FDs, r.After.FDs, r.Probe.Result)
		}
		if strings.HasPrefix(r.Target, "outpost") && r.OverCap.Result != "connack 0x03" {
			t.Errorf("%s: over the cap %q, want connack 0x03", r.Target, r.OverCap.Result)
		}
	}
	if t.Failed() {
		t.Logf("progress:\n%s", stderr.String())
	}
}
