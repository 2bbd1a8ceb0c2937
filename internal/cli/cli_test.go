package cli

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/cloud"
	"github.com/outpost-iot/outpost/internal/iothub"
)

func TestUsageErrorsExit2(t *testing.T) {
	h := goldenHub(t)
	tests := []struct {
		args string
		want string
	}{
		{"", "outpost needs a command"},
		{"bogus", `unknown command "bogus" for "outpost"`},
		{"device", "outpost device needs a command"},
		{"device frobnicate", `unknown command "frobnicate" for "outpost device"`},
		{"device list --bogus", "unknown flag: --bogus"},
		{"device show", "want 1 argument(s) (ID), got 0"},
		{"device show a b", "got 2"},
		{"device update d1", "give --status enabled|disabled or --rotate-keys"},
		{"device update d1 --status off", `--status "off": want enabled or disabled`},
		{"device create d1 --x509-ca --primary-key " + testKey, "give only one of"},
		{"device create d1 --primary-key notbase64!", "--primary-key: want a base64 key"},
		{"device connection-string d1 --key tertiary", "--key"},
		{"module create edge1", "want 2 argument(s) (DEVICE MODULE)"},
		{"twin update d1", "give --desired, --tags or --file"},
		{"twin update d1 --desired [1]", "--desired: want a JSON object"},
		{"twin update d1 --file x.json --tags {}", "--file cannot be combined"},
		{"method invoke d1 m --payload {bad", "--payload: not valid JSON"},
		{"method invoke d1 m --timeout 1s", "--timeout 1s: want 5s to 300s"},
		{"method invoke d1", "want 2 argument(s) (ID NAME)"},
		{"c2d send d1 hi --ack sometimes", `--ack "sometimes"`},
		{"c2d send d1 hi --property novalue", `--property "novalue": want key=value`},
		{"c2d send d1 hi --property a=1 --property a=2", `"a" given twice`},
		{"c2d send d1 hi --ttl notaduration", "invalid argument"},
		{"monitor --module m", "--module needs --device"},
		{"monitor extra", "want 0 argument(s)"},
		{"deploy apply e1", "want 2 argument(s) (DEVICE MANIFEST)"},
		{"sas-token --ttl 0s --connection-string " + testCS, "--ttl must be positive"},
		{"cloud serve --log-level loud", `--log-level "loud"`},
		{"cloud serve --cert c.pem", "--cert and --key go together"},
		{"cloud serve --hostname ,", "give at least one host name"},
		{"cloud serve --max-connections -1", "--max-connections must not be negative"},
		{"cloud serve --max-client-rate -5", "--max-client-rate must not be negative"},
		{"version now", "want 0 argument(s)"},
	}
	for _, tc := range tests {
		t.Run(tc.args, func(t *testing.T) {
			e := &env{getenv: mapEnv(h.env()), runCloud: func(context.Context, cloud.Config) error { return nil }}
			r := runWith(t, e, "", strings.Fields(tc.args)...)
			if r.code != ExitUsage {
				t.Fatalf("exit %d, want 2; stderr %q", r.code, r.stderr)
			}
			if !strings.HasPrefix(r.stderr, "outpost: ") || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr %q, want one line containing %q", r.stderr, tc.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
		})
	}
}

func TestMissingConnectionString(t *testing.T) {
	for _, args := range []string{"device list", "twin show d1", "monitor", "ca list", "sas-token"} {
		r := runCLI(t, nil, "", strings.Fields(args)...)
		if r.code != ExitUsage {
			t.Errorf("%s: exit %d, want 2", args, r.code)
		}
		if !strings.Contains(r.stderr, "--connection-string") || !strings.Contains(r.stderr, EnvConnectionString) {
			t.Errorf("%s: stderr %q must name the flag and the variable", args, r.stderr)
		}
	}
}

// TestConnectionFlagsOverrideEnvironment checks flag > environment for the three connection settings.
func TestConnectionFlagsOverrideEnvironment(t *testing.T) {
	h := goldenHub(t)
	bad := map[string]string{
		EnvConnectionString: "HostName=" + testHost + ";SharedAccessKeyName=" + testPolicy + ";SharedAccessKey=" + base64.StdEncoding.EncodeToString([]byte("wrong key wrong key")),
		EnvCAFile:           filepath.Join(t.TempDir(), "missing.pem"),
		EnvEndpoint:         "https://127.0.0.1:1",
	}
	t.Run("environment only", func(t *testing.T) {
		if r := runCLI(t, h.env(), "", "device", "show", "d1"); r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
	})
	t.Run("flags win", func(t *testing.T) {
		r := runCLI(t, bad, "", "device", "show", "d1", "--connection-string", testCS, "--ca-file", h.CAFile, "--endpoint", h.URL)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
	})
	for _, name := range []string{EnvConnectionString, EnvCAFile, EnvEndpoint} {
		t.Run("bad "+name, func(t *testing.T) {
			envVars := h.env()
			envVars[name] = bad[name]
			r := runCLI(t, envVars, "", "device", "show", "d1")
			if r.code == 0 {
				t.Fatalf("exit 0 with a bad %s", name)
			}
			if strings.Contains(r.stderr, "wrong key") || strings.Contains(r.stderr, testKey) {
				t.Errorf("F7: key material in stderr %q", r.stderr)
			}
		})
	}
}

func TestHubErrorIsOneLineExit1(t *testing.T) {
	h := goldenHub(t)
	r := runCLI(t, h.env(), "", "device", "show", "nope")
	if r.code != ExitError {
		t.Fatalf("exit %d", r.code)
	}
	want := "outpost: get device nope: 404 DeviceNotFound: no reply for GET /devices/nope\n"
	if r.stderr != want {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
}

func TestDeviceCreate_Requests(t *testing.T) {
	created := `{"deviceId":"x","status":"enabled","authentication":{"type":"sas","symmetricKey":{"primaryKey":"` + testKey + `","secondaryKey":"` + testKey + `"}}}`
	tests := []struct {
		name, args, wantBody, wantOut string
	}{
		{"sas keys given", "device create x --primary-key " + testKey + " --secondary-key " + testKey + " --disabled",
			`{"deviceId":"x","status":"disabled","cloudToDeviceMessageCount":0,"authentication":{"symmetricKey":{"primaryKey":"` + testKey + `","secondaryKey":"` + testKey + `"},"type":"sas"},"capabilities":{"iotEdge":false}}`,
			"HostName=" + testHost + ";DeviceId=x;SharedAccessKey=" + testKey + "\n"},
		{"edge with x509 thumbprints", "device create x --edge --x509-thumbprint AA,BB",
			`{"deviceId":"x","status":"enabled","cloudToDeviceMessageCount":0,"authentication":{"x509Thumbprint":{"primaryThumbprint":"AA","secondaryThumbprint":"BB"},"type":"selfSigned"},"capabilities":{"iotEdge":true}}`,
			"HostName=" + testHost + ";DeviceId=x;SharedAccessKey=" + testKey + "\n"},
		{"leaf under an edge parent", "device create x --parent edge1 --x509-ca",
			`{"deviceId":"x","status":"enabled","cloudToDeviceMessageCount":0,"authentication":{"type":"certificateAuthority"},"capabilities":{"iotEdge":false},
			"deviceScope":"ms-azure-iot-edge://edge1-638000000000000002","parentScopes":["ms-azure-iot-edge://edge1-638000000000000002"]}`,
			"HostName=" + testHost + ";DeviceId=x;SharedAccessKey=" + testKey + "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := goldenHub(t)
			h.replies["PUT /devices/x"] = reply{body: created}
			r := runCLI(t, h.env(), "", strings.Fields(tc.args)...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			req := h.last(t, "PUT", "/devices/x")
			jsonEq(t, req.Body, tc.wantBody)
			if req.Header.Get("If-Match") != "" {
				t.Errorf("create sent If-Match %q", req.Header.Get("If-Match"))
			}
			if r.stdout != tc.wantOut {
				t.Errorf("stdout %q, want %q", r.stdout, tc.wantOut)
			}
		})
	}
}

func TestDeviceCreate_GeneratesKeysAndPrintsX509String(t *testing.T) {
	h := goldenHub(t)
	h.replies["PUT /devices/x"] = reply{body: `{"deviceId":"x","authentication":{"type":"selfSigned"}}`}
	r := runCLI(t, h.env(), "", "device", "create", "x")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var sent struct {
		Authentication struct {
			SymmetricKey struct{ PrimaryKey, SecondaryKey string }
		}
	}
	_ = json.Unmarshal([]byte(h.last(t, "PUT", "/devices/x").Body), &sent)
	for _, k := range []string{sent.Authentication.SymmetricKey.PrimaryKey, sent.Authentication.SymmetricKey.SecondaryKey} {
		if raw, err := base64.StdEncoding.DecodeString(k); err != nil || len(raw) != 32 {
			t.Errorf("generated key %q is not 32 base64 bytes", k)
		}
	}
	if want := "HostName=" + testHost + ";DeviceId=x;x509=true\n"; r.stdout != want {
		t.Errorf("stdout %q, want %q", r.stdout, want)
	}
}

// TestModuleCreate_PrintsSentKeysWhenTheHubOmitsThem: the printed connection string falls back
// to the credentials sent when the hub's answer carries none.
func TestModuleCreate_PrintsSentKeysWhenTheHubOmitsThem(t *testing.T) {
	h := goldenHub(t)
	h.replies["PUT /devices/edge1/modules/m"] = reply{body: `{"moduleId":"m","deviceId":"edge1"}`}
	r := runCLI(t, h.env(), "", "module", "create", "edge1", "m", "--primary-key", testKey, "--managed-by", "IotEdge")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var sent struct {
		ManagedBy      string
		Authentication struct{ SymmetricKey struct{ PrimaryKey string } }
	}
	_ = json.Unmarshal([]byte(h.last(t, "PUT", "/devices/edge1/modules/m").Body), &sent)
	if sent.ManagedBy != "IotEdge" || sent.Authentication.SymmetricKey.PrimaryKey != testKey {
		t.Errorf("sent %+v", sent)
	}
	if want := "HostName=" + testHost + ";DeviceId=edge1;ModuleId=m;SharedAccessKey=" + testKey + "\n"; r.stdout != want {
		t.Errorf("stdout %q, want %q", r.stdout, want)
	}
}

func TestDeviceUpdate_SendsEtag(t *testing.T) {
	h := goldenHub(t)
	h.replies["PUT /devices/d1"] = reply{body: deviceD1}
	r := runCLI(t, h.env(), "", "device", "update", "d1", "--status", "disabled", "--status-reason", "maintenance", "--rotate-keys")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	req := h.last(t, "PUT", "/devices/d1")
	if got := req.Header.Get("If-Match"); got != `"MQ=="` {
		t.Errorf("If-Match %q", got)
	}
	var sent struct {
		Status, StatusReason string
		Authentication       struct{ SymmetricKey struct{ PrimaryKey string } }
	}
	_ = json.Unmarshal([]byte(req.Body), &sent)
	if sent.Status != "disabled" || sent.StatusReason != "maintenance" || sent.Authentication.SymmetricKey.PrimaryKey == "cHJpbWFyeWtleXByaW1hcnlrZXk=" {
		t.Errorf("sent %+v", sent)
	}
}

func TestTwinUpdate_Bodies(t *testing.T) {
	dir := t.TempDir()
	patchFile := filepath.Join(dir, "patch.json")
	if err := os.WriteFile(patchFile, []byte(`{"properties":{"desired":{"interval":null}},"tags":{"env":"dev"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, args, stdin, path, wantBody, wantIfMatch string
	}{
		{"desired and tags", `twin update d1 --desired {"interval":60} --tags {"env":"dev"} --etag AAAAAAAAAAM=`, "", "/twins/d1",
			`{"properties":{"desired":{"interval":60}},"tags":{"env":"dev"}}`, `"AAAAAAAAAAM="`},
		{"file", "twin update d1 --file " + patchFile, "", "/twins/d1",
			`{"properties":{"desired":{"interval":null}},"tags":{"env":"dev"}}`, "*"},
		{"stdin module", "twin update edge1 --module filter --file -", `{"properties":{"desired":{"a":1}}}`, "/twins/edge1/modules/filter",
			`{"properties":{"desired":{"a":1}}}`, "*"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := goldenHub(t)
			h.replies["PATCH "+tc.path] = reply{body: twinD1}
			r := runCLI(t, h.env(), tc.stdin, strings.Fields(tc.args)...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			req := h.last(t, "PATCH", tc.path)
			jsonEq(t, req.Body, tc.wantBody)
			if got := req.Header.Get("If-Match"); got != tc.wantIfMatch {
				t.Errorf("If-Match %q, want %q", got, tc.wantIfMatch)
			}
		})
	}
}

func TestMethodInvoke_Request(t *testing.T) {
	h := goldenHub(t)
	h.replies["POST /twins/edge1/modules/filter/methods"] = reply{body: `{"status":200}`}
	r := runCLI(t, h.env(), "", "method", "invoke", "edge1", "ping", "--module", "filter", "--timeout", "10s", "--connect-timeout", "1500ms")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	jsonEq(t, h.last(t, "POST", "/twins/edge1/modules/filter/methods").Body,
		`{"methodName":"ping","payload":null,"responseTimeoutInSeconds":10,"connectTimeoutInSeconds":2}`)
	jsonEq(t, r.stdout, `{"status":200,"payload":null}`)
}

func TestC2DSend_Headers(t *testing.T) {
	h := goldenHub(t)
	h.replies["POST /devices/d1/messages/deviceBound"] = reply{status: 201, body: `{"messageId":"abc","expiryTime":"2026-11-29T13:30:00Z"}`}
	r := runCLI(t, h.env(), "", "c2d", "send", "d1", "hello world", "--property", "k=v=w", "--property", "n=",
		"--message-id", "abc", "--correlation-id", "c1", "--ttl", "90m", "--ack", "full",
		"--content-type", "text/plain", "--content-encoding", "utf-8")
	if r.code != 0 || r.stdout != "abc\n" {
		t.Fatalf("exit %d stdout %q: %s", r.code, r.stdout, r.stderr)
	}
	req := h.last(t, "POST", "/devices/d1/messages/deviceBound")
	if req.Body != "hello world" {
		t.Errorf("body %q", req.Body)
	}
	q, _ := url.ParseQuery(req.Query)
	if q.Get("ttl") != "5400" {
		t.Errorf("query %s", req.Query)
	}
	for k, v := range map[string]string{"Iothub-Messageid": "abc", "Iothub-Correlationid": "c1", "Iothub-Ack": "full",
		"Iothub-Contenttype": "text/plain", "Iothub-Contentencoding": "utf-8", "Iothub-App-Properties": "k=v%3Dw&n="} {
		if vals, ok := req.Header[k]; !ok || vals[0] != v {
			t.Errorf("header %s = %v, want %q", k, vals, v)
		}
	}
}

func TestDeployApply(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	plain := write("plain.json", `{"modulesContent":{"$edgeAgent":{"properties.desired":{"schemaVersion":"1.1"}}}}`)
	azure := write("azure.json", `{"content":{"modulesContent":{"$edgeHub":{}}},"targetCondition":"*"}`)
	none := write("none.json", `{"modules":{}}`)
	notJSON := write("bad.json", `modulesContent:`)
	h := goldenHub(t)
	h.replies["POST /devices/edge1/applyConfigurationContent"] = reply{status: 200}
	r := runCLI(t, h.env(), "", "deploy", "apply", "edge1", plain)
	if r.code != 0 || r.stdout != "applied "+plain+" to edge1\n" {
		t.Fatalf("exit %d stdout %q: %s", r.code, r.stdout, r.stderr)
	}
	jsonEq(t, h.last(t, "POST", "/devices/edge1/applyConfigurationContent").Body, `{"modulesContent":{"$edgeAgent":{"properties.desired":{"schemaVersion":"1.1"}}}}`)
	if r := runCLI(t, h.env(), "", "deploy", "apply", "edge1", azure); r.code != 0 {
		t.Fatalf("azure shape: exit %d: %s", r.code, r.stderr)
	}
	jsonEq(t, h.last(t, "POST", "/devices/edge1/applyConfigurationContent").Body, `{"modulesContent":{"$edgeHub":{}}}`)
	for _, p := range []string{none, notJSON} {
		if r := runCLI(t, h.env(), "", "deploy", "apply", "edge1", p); r.code != ExitUsage {
			t.Errorf("%s: exit %d, want 2", p, r.code)
		}
	}
	if r := runCLI(t, h.env(), "", "deploy", "apply", "edge1", filepath.Join(dir, "absent.json")); r.code != ExitError {
		t.Errorf("missing file: exit %d, want 1", r.code)
	}
}

// TestMonitor_StreamQuery runs monitor until it printed the fake hub's three events (not until a
// timer fired), then checks the stream request; a second run checks that --timeout ends it with exit 0.
func TestMonitor_StreamQuery(t *testing.T) {
	h := goldenHub(t)
	r := runLines(t, h.env(), 3, "monitor", "--device", "edge1", "--module", "filter")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	q, _ := url.ParseQuery(h.last(t, "GET", "/events/stream").Query)
	if r.stderr != "Monitoring events on "+testHost+" (ctrl-c to stop)...\n" {
		t.Errorf("stderr %q", r.stderr)
	}
	if q.Get("deviceId") != "edge1" || q.Get("moduleId") != "filter" || q.Get("from") != "end" {
		t.Errorf("query %v", q)
	}
	if r := runCLI(t, h.env(), "", "monitor", "--timeout", "100ms"); r.code != 0 {
		t.Errorf("--timeout: exit %d: %s", r.code, r.stderr)
	}
}

// TestSASToken_F2 checks that sas-token output verifies with the connection string's key and
// names the right audience and key name.
func TestSASToken_F2(t *testing.T) {
	tests := []struct {
		name, cs         string
		wantDev, wantMod string
		wantKeyName      string
	}{
		{"device", "HostName=" + testHost + ";DeviceId=dev 1;SharedAccessKey=" + testKey, "dev 1", "", ""},
		{"module", "HostName=" + testHost + ";DeviceId=edge1;ModuleId=$edgeHub;SharedAccessKey=" + testKey, "edge1", "$edgeHub", ""},
		{"service", testCS, "", "", testPolicy},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, nil, "", "sas-token", "--connection-string", tc.cs, "--ttl", "2h")
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			tok, err := iothub.ParseSASToken(strings.TrimSuffix(r.stdout, "\n"))
			if err != nil {
				t.Fatal(err)
			}
			if err := tok.Verify([]string{testKey}, fixedNow, 0); err != nil {
				t.Fatalf("verify: %v", err)
			}
			if !tok.Expiry.Equal(fixedNow.Add(2 * time.Hour)) {
				t.Errorf("expiry %v", tok.Expiry)
			}
			host, dev, mod, err := tok.Audience()
			if err != nil || host != testHost || dev != tc.wantDev || mod != tc.wantMod || tok.KeyName != tc.wantKeyName {
				t.Errorf("audience %q %q %q key name %q (%v)", host, dev, mod, tok.KeyName, err)
			}
		})
	}
	t.Run("environment", func(t *testing.T) {
		r := runCLI(t, map[string]string{EnvConnectionString: testCS}, "", "sas-token")
		if r.code != 0 || !strings.HasPrefix(r.stdout, "SharedAccessSignature ") {
			t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
		}
	})
	for _, cs := range []string{"HostName=h;DeviceId=d;x509=true", "HostName=h;DeviceId=d;SharedAccessSignature=SharedAccessSignature sr=x&sig=y&se=1", "junk"} {
		if r := runCLI(t, nil, "", "sas-token", "--connection-string", cs); r.code != ExitUsage {
			t.Errorf("%q: exit %d, want 2", cs, r.code)
		}
	}
}

func TestCloudServe_Config(t *testing.T) {
	var got cloud.Config
	e := &env{runCloud: func(_ context.Context, cfg cloud.Config) error { got = cfg; return nil }}
	r := runWith(t, e, "", "cloud", "serve")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if got.DataDir != DefaultDataDir || strings.Join(got.Hostnames, ",") != DefaultHostname || got.MQTTListen != DefaultMQTTListen ||
		got.HTTPSListen != DefaultHTTPSListen || got.MetricsListen != DefaultMetricsListen || got.PlainMQTTListen != "" ||
		got.PlainHTTPListen != "" || got.EventRetention != DefaultRetention || got.MaxClientRate != 1000 || got.Logger == nil ||
		got.MaxConnections != cmp.Or(cloud.DefaultMaxConnections(), -1) {
		t.Errorf("defaults: %+v", got)
	}
	r = runWith(t, e, "", "cloud", "serve", "--data", "/d", "--hostname", "a.example,b.example", "--hostname", "c.example",
		"--mqtt-listen", ":1", "--https-listen", ":2", "--metrics-listen", "", "--dev-plain-mqtt", "127.0.0.1:1883",
		"--dev-plain-http", "127.0.0.1:8080", "--cert", "c.pem", "--key", "k.pem", "--event-retention", "48h",
		"--log-level", "debug", "--log-format", "json", "--max-client-rate", "0", "--max-connections", "0")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	want := cloud.Config{DataDir: "/d", Hostnames: []string{"a.example", "b.example", "c.example"}, MQTTListen: ":1", HTTPSListen: ":2",
		PlainMQTTListen: "127.0.0.1:1883", PlainHTTPListen: "127.0.0.1:8080", CertFile: "c.pem", KeyFile: "k.pem", EventRetention: 48 * time.Hour,
		MaxClientRate: -1, MaxConnections: -1}
	got.Logger = nil
	if strings.Join(got.Hostnames, ",") != strings.Join(want.Hostnames, ",") {
		t.Errorf("hostnames %v", got.Hostnames)
	}
	got.Hostnames, want.Hostnames = nil, nil
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestCloudServe_StopsCleanlyAndReportsErrors(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	e := &env{runCloud: func(ctx context.Context, _ cloud.Config) error { cancel(); <-ctx.Done(); return ctx.Err() }}
	e.getenv = mapEnv(nil)
	var out, errb strings.Builder
	e.stdin, e.stdout, e.stderr, e.now = strings.NewReader(""), &out, &errb, time.Now
	if code := run(ctx, []string{"cloud", "serve"}, e); code != 0 {
		t.Errorf("signal stop: exit %d: %s", code, errb.String())
	}
	e2 := &env{runCloud: func(context.Context, cloud.Config) error {
		return errors.New("cloud: listen tcp :443: permission denied")
	}}
	r := runWith(t, e2, "", "cloud", "serve")
	if r.code != ExitError || r.stderr != "outpost: cloud: listen tcp :443: permission denied\n" {
		t.Errorf("exit %d stderr %q", r.code, r.stderr)
	}
}

func TestCloudConnectionString(t *testing.T) {
	var gotDir, gotPolicy string
	e := &env{serviceCS: func(dir, policy string) (string, error) { gotDir, gotPolicy = dir, policy; return testCS, nil }}
	r := runWith(t, e, "", "cloud", "connection-string", "--data", "/var/lib/outpost", "--policy", "service")
	if r.code != 0 || r.stdout != testCS+"\n" || gotDir != "/var/lib/outpost" || gotPolicy != "service" {
		t.Errorf("exit %d stdout %q dir %q policy %q", r.code, r.stdout, gotDir, gotPolicy)
	}
	r = runWith(t, e, "", "cloud", "connection-string")
	if gotDir != DefaultDataDir || gotPolicy != "iothubowner" || r.code != 0 {
		t.Errorf("defaults: dir %q policy %q", gotDir, gotPolicy)
	}
}

func TestInterruptedCommandSaysSo(t *testing.T) {
	h := goldenHub(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errb strings.Builder
	e := &env{getenv: mapEnv(h.env()), stdin: strings.NewReader(""), stdout: &out, stderr: &errb, now: func() time.Time { return fixedNow }}
	if code := run(ctx, []string{"device", "list"}, e); code != ExitError || errb.String() != "outpost: interrupted\n" {
		t.Errorf("exit %d stderr %q", code, errb.String())
	}
}
