package cloud_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/cloud"
)

// A second cloud on a running cloud's data directory would append to the same database and
// event log and lose what the first acknowledged: it must refuse to start, naming the
// directory and the holder (issue 5, item 7).
func TestRun_SecondCloudOnTheSameDataDirIsRefused(t *testing.T) {
	tc := startCloud(t)
	cfg := tc.cfg
	cfg.MQTTListen, cfg.HTTPSListen, cfg.PlainMQTTListen, cfg.MetricsListen = anyPort, anyPort, "", ""
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := cloud.Run(ctx, cfg)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("second cloud on %s: %v, want a refusal at start", tc.dir, err)
	}
	if msg := err.Error(); !strings.Contains(msg, tc.dir) || !strings.Contains(msg, strconv.Itoa(os.Getpid())) {
		t.Fatalf("refusal %q should name %s and the holder's pid %d", msg, tc.dir, os.Getpid())
	}
	// Read-only commands keep working while the cloud runs.
	if _, err := cloud.ServiceConnectionString(tc.dir, "iothubowner"); err != nil {
		t.Fatalf("connection string while the cloud runs: %v", err)
	}
	// The first cloud was not disturbed, and after it stops the directory is free again.
	tc.createDevice("still-serving")
	tc.restart()
	tc.createDevice("after-restart")
}
