// Package interop runs Microsoft's Azure IoT Node SDKs (azure-iot-device,
// azure-iot-device-mqtt, azure-iothub) against a real `outpost cloud serve`
// process. It is the entry point CI uses through `go test ./...`: it builds the
// outpost binary, installs the pinned npm packages if needed, starts the cloud
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
	"syscall"
	"testing"
	"time"
)

const (
	hubHostname = "localhost"
	mqttListen  = "127.0.0.1:8883"
	httpsListen = "127.0.0.1:443"
	endpoint    = "https://" + hubHostname + ":443" // the server certificate names the hostname (maybe no IP SAN)

	// buildBudget bounds `go build` and `npm ci` (a cold build of the sqlite driver alone takes
	// ~1.5 min on CI's 2 cores, more while other packages compile); runBudget bounds the rest.
	buildBudget  = 8 * time.Minute
	runBudget    = 3 * time.Minute
	readyTimeout = 30 * time.Second
	nodeTimeout  = 120 * time.Second // node's own per-test bound is 60 s
	cliTimeout   = 30 * time.Second
)

// scenarioFiles are run by `node --test`, in this order.
var scenarioFiles = []string{"service.test.js", "device.test.js", "module.test.js"}

// TestInterop_NodeSDKs is the whole suite: one Go test, failing (never
// skipping) when something it needs is missing.
func TestInterop_NodeSDKs(t *testing.T) {
	here, err := os.Getwd()
	if err != nil {
		t.Fatalf("interop: getwd: %v", err)
	}
	root, err := moduleRoot(here)
	if err != nil {
		t.Fatalf("interop: %v", err)
	}
	node := lookTool(t, "node", "Node.js (>= 18) is required: apt-get install -y nodejs npm")
	requirePorts(t)

	buildCtx, cancelBuild := context.WithTimeout(context.Background(), buildBudget)
	bin := buildOutpost(buildCtx, t, root)
	ensureNodeModules(buildCtx, t, here)
	cancelBuild()

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

// moduleRoot walks up from dir to the directory holding go.mod.
func moduleRoot(dir string) (string, error) {
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
		d = parent
	}
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

// buildOutpost builds ./cmd/outpost into a temp dir. OUTPOST_INTEROP_BIN names a
// prebuilt binary to use instead (e.g. a release build or a debugging stand-in).
func buildOutpost(ctx context.Context, t *testing.T, root string) string {
	t.Helper()
	if bin := os.Getenv("OUTPOST_INTEROP_BIN"); bin != "" {
		abs, err := filepath.Abs(bin)
		if err != nil {
			t.Fatalf("interop: OUTPOST_INTEROP_BIN: %v", err)
		}
		t.Logf("interop: using OUTPOST_INTEROP_BIN=%s instead of building ./cmd/outpost", abs)
		return abs
	}
	goTool := lookTool(t, "go", "the Go toolchain is required to build outpost")
	bin := filepath.Join(t.TempDir(), "outpost")
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", bin, "./cmd/outpost")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("interop: go build ./cmd/outpost: %v\n%s", err, out)
	}
	return bin
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

// startCloud starts `outpost cloud serve`, waits until it is ready and arranges
// a SIGTERM at cleanup. Its output goes to a file that is logged on failure.
func startCloud(ctx context.Context, t *testing.T, bin, data string) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "cloud.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("interop: create cloud log: %v", err)
	}
	cmd := exec.Command(bin, "cloud", "serve", "--data", data, "--hostname", hubHostname,
		"--mqtt-listen", mqttListen, "--https-listen", httpsListen,
		// no metrics listener (its default port may be taken), debug log for failure reports
		"--metrics-listen", "", "--log-level", "debug")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("interop: start outpost cloud serve: %v", err)
	}
	// exited is closed when the process has ended; waitErr is its Wait result.
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		stopCloud(t, cmd, exited)
		_ = logFile.Close()
		if t.Failed() {
			t.Logf("cloud log (%s):\n%s", logPath, tail(logPath, 64<<10))
		}
	})
	if err := waitReady(ctx, filepath.Join(data, "ca.pem"), exited, &waitErr); err != nil {
		t.Fatalf("interop: outpost cloud serve did not become ready: %v", err)
	}
}

func stopCloud(t *testing.T, cmd *exec.Cmd, exited <-chan struct{}) {
	select {
	case <-exited:
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Errorf("interop: outpost cloud serve did not stop within 10 s of SIGTERM; killing it")
		_ = cmd.Process.Kill()
		<-exited
	}
}

// waitReady polls for ca.pem and the HTTPS and MQTT ports, bounded by readyTimeout.
func waitReady(ctx context.Context, caPath string, exited <-chan struct{}, waitErr *error) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		err := readyOnce(caPath)
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("the process exited (%v) before it was ready", *waitErr)
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

// tail returns at most max bytes from the end of a file.
func tail(path string, max int64) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err.Error()
	}
	if st.Size() > max {
		_, _ = f.Seek(st.Size()-max, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}
