// Package interop runs Microsoft's Azure IoT Node SDKs (azure-iot-device,
// azure-iot-device-mqtt, azure-iothub) against a real `outpost cloud serve`
// process. It is the entry point CI uses through `go test ./...`: it builds the
// outpost binary (testutil.BuildOutpost, or $OUTPOST_TEST_BIN), installs the pinned npm packages if needed, starts the cloud
// on the ports the SDKs hard-code (8883 MQTT/TLS, 443 HTTPS and MQTT over
// WebSocket), creates the test devices with the CLI and runs the Node
// scenarios with `node --test`.
package interop

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/testutil"
)

const (
	hubHostname = "localhost"
	mqttListen  = "127.0.0.1:8883"
	httpsListen = "127.0.0.1:443"
	endpoint    = "https://" + hubHostname + ":443" // the server certificate names the hostname (maybe no IP SAN)

	// npmBudget bounds `npm ci`; runBudget bounds the rest (building outpost is testutil's,
	// bounded by go test's -timeout).
	npmBudget    = 5 * time.Minute
	runBudget    = 3 * time.Minute
	readyTimeout = 30 * time.Second
	nodeTimeout  = 120 * time.Second // node's own per-test bound is 60 s
	cliTimeout   = 30 * time.Second
	stopGrace    = 10 * time.Second
)

func TestMain(m *testing.M) { testutil.Main(m) }

// scenarioFiles are run by `node --test`, in this order.
var scenarioFiles = []string{"service.test.js", "device.test.js", "module.test.js"}

// TestInterop_NodeSDKs is the whole suite: one Go test, failing (never
// skipping) when something it needs is missing.
func TestInterop_NodeSDKs(t *testing.T) {
	here, err := os.Getwd()
	if err != nil {
		t.Fatalf("interop: getwd: %v", err)
	}
	node := lookTool(t, "node", "Node.js (>= 18) is required: apt-get install -y nodejs npm")
	requirePorts(t)

	bin := testutil.BuildOutpost(t)
	npmCtx, cancelNpm := context.WithTimeout(context.Background(), npmBudget)
	ensureNodeModules(npmCtx, t, here)
	cancelNpm()

	ctx, cancel := context.WithTimeout(context.Background(), runBudget)
	defer cancel()

	data := t.TempDir()
	startCloud(ctx, t, bin, data)
	caFile := filepath.Join(data, "ca.pem")

	cs := strings.TrimSpace(runCLI(ctx, t, bin, nil, "cloud", "connection-string", "--data", data))
	if !strings.HasPrefix(cs, "HostName=") {
		t.Fatalf("interop: `outpost cloud connection-string` printed %q, want HostName=...", cs)
	}
	cliEnv := []string{
		"OUTPOST_CONNECTION_STRING=" + cs,
		"OUTPOST_CA_FILE=" + caFile,
		"OUTPOST_ENDPOINT=" + endpoint,
	}
	suffix := randomSuffix(t)
	devMQTT := createDevice(ctx, t, bin, cliEnv, "interop-mqtt-"+suffix)
	devWS := createDevice(ctx, t, bin, cliEnv, "interop-ws-"+suffix)

	nodeEnv := append(os.Environ(), cliEnv...)
	nodeEnv = append(nodeEnv,
		"OUTPOST_BIN="+bin,
		"NODE_EXTRA_CA_CERTS="+caFile,
		"DEVICE_CONNECTION_STRING="+devMQTT,
		"DEVICE_CONNECTION_STRING_WS="+devWS,
	)
	runNode(ctx, t, node, here, nodeEnv)
}

func lookTool(t *testing.T, name, hint string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("interop: %s not found in PATH: %s", name, hint)
	}
	return p
}

// requirePorts fails the test when the fixed ports the Azure SDKs dial cannot be bound.
func requirePorts(t *testing.T) {
	t.Helper()
	for _, addr := range []string{mqttListen, httpsListen} {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("interop: cannot listen on %s (%v): the Azure SDKs dial {HostName}:8883 and {HostName}:443, "+
				"so this suite needs both ports free and the right to bind them (run as root or grant "+
				"CAP_NET_BIND_SERVICE; stop whatever holds the port)", addr, err)
		}
		_ = l.Close()
	}
}

// ensureNodeModules runs `npm ci` when node_modules is missing.
func ensureNodeModules(ctx context.Context, t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "azure-iothub")); err == nil {
		return
	}
	npm := lookTool(t, "npm", "npm is required to install the pinned Azure SDKs: apt-get install -y npm")
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("interop: npm ci in %s: %v\n%s", dir, err, out)
	}
}

// startCloud starts `outpost cloud serve` and waits until it is ready. At cleanup it must stop
// within stopGrace of SIGTERM; its output is logged if the test failed (testutil.StartCmd).
func startCloud(ctx context.Context, t *testing.T, bin, data string) {
	t.Helper()
	p := testutil.StartCmd(t, exec.Command(bin, "cloud", "serve", "--data", data, "--hostname", hubHostname,
		"--mqtt-listen", mqttListen, "--https-listen", httpsListen,
		// no metrics listener (its default port may be taken), debug log for failure reports
		"--metrics-listen", "", "--log-level", "debug"))
	p.GracePeriod = stopGrace
	t.Cleanup(func() {
		start := time.Now()
		_ = p.Stop()
		if time.Since(start) >= stopGrace {
			t.Errorf("interop: outpost cloud serve did not stop within %s of SIGTERM; killed it", stopGrace)
		}
	})
	if err := waitReady(ctx, filepath.Join(data, "ca.pem"), p); err != nil {
		t.Fatalf("interop: outpost cloud serve did not become ready: %v", err)
	}
}

// waitReady polls for ca.pem and the HTTPS and MQTT ports, bounded by readyTimeout.
func waitReady(ctx context.Context, caPath string, p *testutil.Process) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		err := readyOnce(caPath)
		if err == nil {
			return nil
		}
		select {
		case <-p.Done():
			return fmt.Errorf("the process exited (%v) before it was ready", p.ExitErr())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready within %s: %w", readyTimeout, err)
		}
	}
}

func readyOnce(caPath string) error {
	if _, err := os.Stat(caPath); err != nil {
		return fmt.Errorf("ca.pem: %w", err)
	}
	for _, addr := range []string{httpsListen, mqttListen} {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return fmt.Errorf("dial %s: %w", addr, err)
		}
		_ = c.Close()
	}
	return nil
}

// runCLI runs the outpost CLI and returns its stdout; a failure fails the test.
func runCLI(ctx context.Context, t *testing.T, bin string, env []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("interop: outpost %s: %v\nstderr: %s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// createDevice creates a device with the CLI and returns its connection string.
func createDevice(ctx context.Context, t *testing.T, bin string, env []string, id string) string {
	t.Helper()
	out := runCLI(ctx, t, bin, env, "device", "create", id)
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "HostName=") && strings.Contains(line, "DeviceId="+id) {
			return line
		}
	}
	t.Fatalf("interop: `outpost device create %s` printed no device connection string:\n%s", id, out)
	return ""
}

func randomSuffix(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("interop: random: %v", err)
	}
	return hex.EncodeToString(b)
}

// runNode runs the scenarios with node's test runner, streaming its output
// into the test log, and fails on a non-zero exit.
func runNode(ctx context.Context, t *testing.T, node, dir string, env []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, nodeTimeout)
	defer cancel()
	args := append([]string{"--test", "--test-force-exit", "--test-timeout=60000",
		"--test-concurrency=2", "--test-reporter=spec"}, scenarioFiles...)
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			t.Log(sc.Text())
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	err := cmd.Run()
	_ = pw.Close()
	wg.Wait()
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("interop: node --test did not finish within %s", nodeTimeout)
		}
		t.Fatalf("interop: node --test %s failed: %v (see the node output above)", strings.Join(scenarioFiles, " "), err)
	}
}
