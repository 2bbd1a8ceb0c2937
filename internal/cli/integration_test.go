package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/iothub"
)

// TestIntegration_CloudAndCommands runs `outpost cloud serve` in-process and drives the other
// commands against it through the real REST API.
func TestIntegration_CloudAndCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cloud")
	}
	dir, logs, addrs := serveCloud(t, "--hostname", "localhost,127.0.0.1", "--mqtt-listen", anyPort,
		"--https-listen", anyPort, "--metrics-listen", "")
	https := addrs.HTTPS
	caFile := filepath.Join(dir, "ca.pem")

	must := func(envVars map[string]string, stdin string, args ...string) string {
		t.Helper()
		r := runWith(t, &env{getenv: mapEnv(envVars), now: time.Now}, stdin, args...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d: %s (cloud log: %s)", args, r.code, r.stderr, logs.String())
		}
		return r.stdout
	}
	cs := strings.TrimSpace(must(nil, "", "cloud", "connection-string", "--data", dir))
	hub := map[string]string{EnvConnectionString: cs, EnvCAFile: caFile, EnvEndpoint: "https://" + https}

	devCS := strings.TrimSpace(must(hub, "", "device", "create", "d1"))
	parsed, err := iothub.ParseConnectionString(devCS)
	if err != nil || parsed.HostName != "localhost" || parsed.DeviceID != "d1" {
		t.Fatalf("device connection string %q: %v", devCS, err)
	}
	tok := strings.TrimSpace(must(nil, "", "sas-token", "--connection-string", devCS))
	if st, err := iothub.ParseSASToken(tok); err != nil || st.Verify([]string{parsed.SharedAccessKey}, time.Now(), 0) != nil {
		t.Errorf("sas-token %q does not verify: %v", tok, err)
	}
	if got := strings.TrimSpace(must(hub, "", "device", "connection-string", "d1")); got != devCS {
		t.Errorf("connection-string %q, want %q", got, devCS)
	}

	must(hub, "", "device", "create", "edge1", "--edge")
	must(hub, "", "device", "create", "leaf", "--parent", "edge1", "--x509-ca")
	var leaf struct{ DeviceScope string }
	_ = json.Unmarshal([]byte(must(hub, "", "device", "show", "leaf", "--json")), &leaf)
	if !strings.HasPrefix(leaf.DeviceScope, "ms-azure-iot-edge://edge1-") {
		t.Errorf("leaf device scope %q", leaf.DeviceScope)
	}
	if out := must(hub, "", "device", "list"); !strings.Contains(out, "edge1") || !strings.Contains(out, "leaf") {
		t.Errorf("device list:\n%s", out)
	}

	must(hub, "", "twin", "update", "d1", "--desired", `{"interval":5}`, "--tags", `{"site":"a"}`)
	var twin struct {
		Tags       map[string]any
		Properties struct{ Desired map[string]any }
	}
	_ = json.Unmarshal([]byte(must(hub, "", "twin", "show", "d1", "--json")), &twin)
	if twin.Tags["site"] != "a" || twin.Properties.Desired["interval"] != float64(5) {
		t.Errorf("twin %+v", twin)
	}

	if id := strings.TrimSpace(must(hub, "", "c2d", "send", "d1", "hello", "--message-id", "m-1", "--property", "k=v")); id != "m-1" {
		t.Errorf("c2d message id %q", id)
	}
	if out := must(hub, "", "c2d", "list", "d1"); !strings.Contains(out, "m-1") {
		t.Errorf("c2d list:\n%s", out)
	}

	manifest := `{"modulesContent":{"$edgeAgent":{"properties.desired":{"schemaVersion":"1.1","runtime":{"type":"docker","settings":{}},
"systemModules":{"edgeAgent":{"type":"docker","settings":{"image":"outpost"}},"edgeHub":{"type":"docker","status":"running","restartPolicy":"always","settings":{"image":"outpost"}}},"modules":{}}},
"$edgeHub":{"properties.desired":{"schemaVersion":"1.1","routes":{},"storeAndForwardConfiguration":{"timeToLiveSecs":7200}}}}}`
	must(hub, manifest, "deploy", "apply", "edge1", "-")
	if out := must(hub, "", "twin", "show", "edge1", "--module", "$edgeAgent", "--json"); !strings.Contains(out, `"schemaVersion": "1.1"`) {
		t.Errorf("$edgeAgent twin after deploy:\n%s", out)
	}

	must(hub, "", "ca", "add", "fleet", caFile)
	if out := must(hub, "", "ca", "list"); !strings.Contains(out, "fleet") {
		t.Errorf("ca list:\n%s", out)
	}
	must(hub, "", "ca", "delete", "fleet")

	live := func(args ...string) result { return runWith(t, &env{getenv: mapEnv(hub), now: time.Now}, "", args...) }
	if r := live("method", "invoke", "d1", "reboot", "--timeout", "5s"); r.code != ExitError || !strings.Contains(r.stderr, "DeviceNotOnline") {
		t.Errorf("method on an offline device: exit %d stderr %q", r.code, r.stderr)
	}
	must(hub, "", "monitor", "--timeout", "500ms")
	must(hub, "", "device", "delete", "d1")
	if r := live("device", "show", "d1"); r.code != ExitError || !strings.Contains(r.stderr, "DeviceNotFound") {
		t.Errorf("deleted device: exit %d stderr %q", r.code, r.stderr)
	}
	if b, err := os.ReadFile(caFile); err != nil || len(b) == 0 {
		t.Fatal("ca.pem vanished")
	}
}
