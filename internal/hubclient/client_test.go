package hubclient

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/outpost-iot/outpost/internal/hubclient/hubclienttest"
	"github.com/outpost-iot/outpost/internal/iothub"
)

const (
	testHost   = "hub.example.net"
	testKey    = "dGhpcyBpcyBhIHRlc3Qga2V5IGZvciBodWJjbGllbnQ=" // base64("this is a test key for hubclient")
	testPolicy = "iothubowner"
	testCS     = "HostName=" + testHost + ";SharedAccessKeyName=" + testPolicy + ";SharedAccessKey=" + testKey
)

// seen is one request as the fake hub received it.
type seen = hubclienttest.Request

// fakeHub is a fake service API that checks each request's service SAS token and records it;
// reply chooses the answer.
type fakeHub struct{ *hubclienttest.Server }

func newFakeHub(t *testing.T, reply hubclienttest.Handler) *fakeHub {
	t.Helper()
	return &fakeHub{hubclienttest.New(t, hubclienttest.Auth{Host: testHost, Policy: testPolicy, Key: testKey}, reply)}
}

func (f *fakeHub) client(t *testing.T) *Client {
	t.Helper()
	c, err := New(Config{ConnectionString: testCS, CAFile: f.CAFile, Endpoint: f.URL})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// TestClient_F2_RequestsAreSignedAndRouted checks every API path, method, header and body, and
// (in the fake hub) that each request carries a valid SAS token for the policy key.
func TestClient_F2_RequestsAreSignedAndRouted(t *testing.T) {
	hub := newFakeHub(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		switch {
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		case strings.HasSuffix(r.URL.Path, "/methods"):
			writeJSON(w, 200, map[string]any{"status": 201, "payload": map[string]int{"x": 1}})
		case strings.HasSuffix(r.URL.Path, "/deviceBound") && r.Method == http.MethodPost:
			writeJSON(w, 201, map[string]string{"messageId": "m1", "expiryTime": "2026-01-01T00:00:00Z"})
		case r.URL.Path == "/devices" || strings.HasSuffix(r.URL.Path, "/modules") ||
			strings.HasSuffix(r.URL.Path, "/deviceBound") || r.URL.Path == "/events":
			_, _ = w.Write([]byte("[]"))
		case r.URL.Path == "/certificates":
			_, _ = w.Write([]byte(`{"value":[{"name":"root","properties":{"subject":"CN=root"}}]}`))
		default:
			_, _ = w.Write([]byte("{}"))
		}
	})
	c := hub.client(t)
	ctx := context.Background()
	type call struct {
		name                    string
		do                      func() error
		method, path, rawPath   string
		query, ifMatch, bodyHas string
		header                  map[string]string
	}
	calls := []call{
		{name: "create device", do: func() error {
			_, err := c.CreateDevice(ctx, &Device{DeviceID: "d1", Status: "enabled"})
			return err
		}, method: "PUT", path: "/devices/d1", bodyHas: `"deviceId":"d1"`},
		{name: "get device", do: func() error { _, err := c.GetDevice(ctx, "d 1"); return err },
			method: "GET", path: "/devices/d 1", rawPath: "/devices/d%201"},
		{name: "list devices", do: func() error { _, err := c.ListDevices(ctx, 5); return err },
			method: "GET", path: "/devices", query: "top=5"},
		{name: "update device", do: func() error {
			_, err := c.UpdateDevice(ctx, &Device{DeviceID: "d1", ETag: "AAAB"})
			return err
		}, method: "PUT", path: "/devices/d1", ifMatch: `"AAAB"`},
		{name: "delete device", do: func() error { return c.DeleteDevice(ctx, "d1", "") },
			method: "DELETE", path: "/devices/d1", ifMatch: "*"},
		{name: "create module", do: func() error {
			_, err := c.CreateModule(ctx, &Module{DeviceID: "d1", ModuleID: "$edgeAgent"})
			return err
		}, method: "PUT", path: "/devices/d1/modules/$edgeAgent", bodyHas: `"moduleId":"$edgeAgent"`},
		{name: "get module", do: func() error { _, err := c.GetModule(ctx, "d1", "m1"); return err },
			method: "GET", path: "/devices/d1/modules/m1"},
		{name: "list modules", do: func() error { _, err := c.ListModules(ctx, "d1"); return err },
			method: "GET", path: "/devices/d1/modules"},
		{name: "update module", do: func() error {
			_, err := c.UpdateModule(ctx, &Module{DeviceID: "d1", ModuleID: "m1", ETag: `"x"`})
			return err
		}, method: "PUT", path: "/devices/d1/modules/m1", ifMatch: `"x"`},
		{name: "delete module", do: func() error { return c.DeleteModule(ctx, "d1", "m1", "e1") },
			method: "DELETE", path: "/devices/d1/modules/m1", ifMatch: `"e1"`},
		{name: "get twin", do: func() error { _, err := c.GetTwin(ctx, "d1", ""); return err },
			method: "GET", path: "/twins/d1"},
		{name: "get module twin", do: func() error { _, err := c.GetTwin(ctx, "d1", "m1"); return err },
			method: "GET", path: "/twins/d1/modules/m1"},
		{name: "patch twin", do: func() error {
			_, err := c.PatchTwin(ctx, "d1", "", json.RawMessage(`{"tags":{"a":1}}`), "E")
			return err
		}, method: "PATCH", path: "/twins/d1", ifMatch: `"E"`, bodyHas: `{"tags":{"a":1}}`},
		{name: "replace module twin", do: func() error {
			_, err := c.ReplaceTwin(ctx, "d1", "m1", json.RawMessage(`{"properties":{"desired":{}}}`), "")
			return err
		}, method: "PUT", path: "/twins/d1/modules/m1", ifMatch: "*"},
		{name: "invoke method", do: func() error {
			r, err := c.InvokeMethod(ctx, "d1", "", iothub.MethodRequest{MethodName: "reboot", ResponseTimeoutInSeconds: new(30)})
			if err == nil && r.Status != 201 {
				return errors.New("status not decoded")
			}
			return err
		}, method: "POST", path: "/twins/d1/methods", bodyHas: `"methodName":"reboot","payload":null,"responseTimeoutInSeconds":30,"connectTimeoutInSeconds":0`},
		{name: "invoke module method", do: func() error {
			_, err := c.InvokeMethod(ctx, "d1", "m1", iothub.MethodRequest{MethodName: "ping", Payload: json.RawMessage(`{"a":1}`)})
			return err
		}, method: "POST", path: "/twins/d1/modules/m1/methods", bodyHas: `"payload":{"a":1}`},
		{name: "send c2d", do: func() error {
			_, err := c.SendC2D(ctx, "d1", C2DMessage{Body: []byte("hello"), MessageID: "m1", CorrelationID: "c1",
				Ack: "full", TTL: 90 * time.Minute, ContentType: "text/plain", Properties: map[string]string{"k": "v"}})
			return err
		}, method: "POST", path: "/devices/d1/messages/deviceBound", query: "ttl=5400", bodyHas: "hello",
			header: map[string]string{"Iothub-Messageid": "m1", "Iothub-Correlationid": "c1", "Iothub-Ack": "full",
				"Iothub-Contenttype": "text/plain", "Iothub-App-Properties": "k=v"}},
		{name: "list c2d", do: func() error { _, err := c.ListC2D(ctx, "d1"); return err },
			method: "GET", path: "/devices/d1/messages/deviceBound"},
		{name: "apply configuration", do: func() error {
			return c.ApplyConfigurationContent(ctx, "edge1", json.RawMessage(`{"modulesContent":{"$edgeAgent":{}}}`))
		}, method: "POST", path: "/devices/edge1/applyConfigurationContent", bodyHas: `"modulesContent"`},
		{name: "events", do: func() error { _, err := c.Events(ctx, EventFilter{DeviceID: "d1"}, 7, 10); return err },
			method: "GET", path: "/events", query: "deviceId=d1&from=7&limit=10"},
		{name: "put certificate", do: func() error { _, err := c.PutCertificate(ctx, "root", "PEM", ""); return err },
			method: "PUT", path: "/certificates/root", bodyHas: `{"properties":{"certificate":"PEM"}}`},
		{name: "list certificates", do: func() error {
			l, err := c.ListCertificates(ctx)
			if err == nil && (len(l) != 1 || l[0].Properties.Subject != "CN=root") {
				return errors.New("certificates not decoded")
			}
			return err
		}, method: "GET", path: "/certificates"},
		{name: "target device scope", do: func() error {
			_, err := c.DevicesAndModulesInTargetDeviceScope(ctx, "edge1", "child;edge1", 10, "")
			return err
		}, method: "POST", path: "/devices/edge1/modules/$edgeHub/devicesAndModulesInTargetDeviceScope",
			bodyHas: `"authChain":"child;edge1","continuationLink":null,"pageSize":10`},
		{name: "on behalf of", do: func() error {
			_, err := c.GetDeviceAndModuleOnBehalfOf(ctx, "edge1", "leaf", "m", "leaf;edge1")
			return err
		}, method: "POST", path: "/devices/edge1/modules/$edgeHub/getDeviceAndModuleOnBehalfOf",
			bodyHas: `{"authChain":"leaf;edge1","targetDeviceId":"leaf","targetModuleId":"m"}`},
		{name: "legacy device scope", do: func() error {
			_, err := c.DevicesAndModulesInDeviceScope(ctx, "edge1", 10, "tok")
			return err
		}, method: "GET", path: "/devices/edge1/modules/$edgeHub/devicesAndModulesInDeviceScope", query: "continuationToken=tok&deviceCount=10"},
		{name: "healthz", do: func() error { return c.Healthz(ctx) }, method: "GET", path: "/healthz"},
		{name: "delete certificate", do: func() error { return c.DeleteCertificate(ctx, "root", "") },
			method: "DELETE", path: "/certificates/root", ifMatch: "*"},
	}
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			before := len(hub.Requests())
			if err := tc.do(); err != nil {
				t.Fatalf("call: %v", err)
			}
			reqs := hub.Requests()
			if len(reqs) != before+1 {
				t.Fatalf("want 1 request, got %d", len(reqs)-before)
			}
			r := reqs[len(reqs)-1]
			if r.Method != tc.method || r.Path != tc.path {
				t.Errorf("request %s %s, want %s %s", r.Method, r.Path, tc.method, tc.path)
			}
			if tc.rawPath != "" && r.RawPath != tc.rawPath {
				t.Errorf("raw path %s, want %s", r.RawPath, tc.rawPath)
			}
			wantQuery := "api-version=" + APIVersion
			if tc.query != "" {
				wantQuery = tc.query + "&" + wantQuery
			}
			if got := sortedQuery(r.Query); got != sortedQuery(wantQuery) {
				t.Errorf("query %s, want %s", got, sortedQuery(wantQuery))
			}
			if got := r.Header.Get("If-Match"); got != tc.ifMatch {
				t.Errorf("If-Match %q, want %q", got, tc.ifMatch)
			}
			if !strings.Contains(r.Body, tc.bodyHas) {
				t.Errorf("body %s, want it to contain %s", r.Body, tc.bodyHas)
			}
			for k, v := range tc.header {
				if got := r.Header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func sortedQuery(q string) string {
	parts := strings.Split(q, "&")
	slices.Sort(parts)
	return strings.Join(parts, "&")
}

func TestClient_ErrorsAreTyped(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		header   string
		body     string
		wantCode string
		wantText string
	}{
		{"iot hub body", 404, "", `{"Message":"ErrorCode:DeviceNotFound;Device d1 not found","ExceptionMessage":"Tracking ID:1"}`, "DeviceNotFound", "Device d1 not found"},
		{"header code wins", 412, "PreconditionFailed", `{"Message":"ErrorCode:Other;etag mismatch"}`, "PreconditionFailed", "etag mismatch"},
		{"nested message", 409, "", `{"Message":"{\"Message\":\"ErrorCode:DeviceAlreadyExists;exists\"}"}`, "DeviceAlreadyExists", "exists"},
		{"exception only", 500, "", `{"ExceptionMessage":"boom"}`, "", "boom"},
		{"plain text", 502, "", "bad gateway\n", "", "bad gateway"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hub := newFakeHub(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
				if tc.header != "" {
					w.Header().Set("iothub-errorcode", tc.header)
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			})
			_, err := hub.client(t).GetDevice(context.Background(), "d1")
			var he *Error
			if !errors.As(err, &he) {
				t.Fatalf("want *Error, got %v", err)
			}
			if he.Status != tc.status || he.Code != tc.wantCode || he.Message != tc.wantText {
				t.Errorf("got %+v, want status %d code %q text %q", he, tc.status, tc.wantCode, tc.wantText)
			}
			if !strings.HasPrefix(err.Error(), "hubclient: get device d1: ") {
				t.Errorf("error text %q", err)
			}
		})
	}
}

func TestClient_B7_UnknownCAIsRefused(t *testing.T) {
	hub := newFakeHub(t, func(w http.ResponseWriter, r *http.Request, body []byte) { writeJSON(w, 200, Device{}) })
	c, err := New(Config{ConnectionString: testCS, Endpoint: hub.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetDevice(context.Background(), "d1"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("want a certificate error, got %v", err)
	}
	if len(hub.Requests()) != 0 {
		t.Fatal("request reached the server over an unverified connection")
	}
}

func TestNew_RejectsBadConfig(t *testing.T) {
	tests := []struct{ name, cs, endpoint, ca, want string }{
		{"x509 device", "HostName=h;DeviceId=d;x509=true", "", "", "no SharedAccessKey"},
		{"no key", "HostName=h;SharedAccessKeyName=p", "", "", "no SharedAccessKey"},
		{"no key name", "HostName=h;SharedAccessKey=" + testKey, "", "", "without SharedAccessKeyName"},
		{"garbage", "nonsense", "", "", "hubclient: iothub"},
		{"bad endpoint", testCS, "ftp://x", "", "want https://host[:port]"},
		{"missing ca", testCS, "", "/nonexistent/ca.pem", "read CA file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(Config{ConnectionString: tc.cs, Endpoint: tc.endpoint, CAFile: tc.ca})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), testKey) {
				t.Fatal("F7: error echoes the key")
			}
		})
	}
}

func TestNew_DefaultEndpoint(t *testing.T) {
	c, err := New(Config{ConnectionString: testCS})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Endpoint(), "https://"+testHost+":443"; got != want {
		t.Errorf("endpoint %s, want %s", got, want)
	}
	if c.HostName() != testHost {
		t.Errorf("host %s", c.HostName())
	}
}

// TestClient_F2_ModuleIdentitySigning checks that a module connection string (an edge's
// $edgeHub) signs for its own identity, without skn.
func TestClient_F2_ModuleIdentitySigning(t *testing.T) {
	var got iothub.SASToken
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = iothub.ParseSASToken(r.Header.Get("Authorization"))
		_, _ = w.Write([]byte(`{"devices":[{"deviceId":"leaf"}],"modules":[]}`))
	}))
	defer srv.Close()
	c, err := New(Config{ConnectionString: "HostName=" + testHost + ";DeviceId=edge1;ModuleId=$edgeHub;SharedAccessKey=" + testKey, Endpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.GetDeviceAndModuleOnBehalfOf(context.Background(), "edge1", "leaf", "", "leaf;edge1")
	if err != nil || len(res.Devices) != 1 || res.Devices[0].DeviceID != "leaf" {
		t.Fatalf("res %+v err %v", res, err)
	}
	if err := got.Verify([]string{testKey}, time.Now(), 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	host, dev, mod, err := got.Audience()
	if err != nil || host != testHost || dev != "edge1" || mod != "$edgeHub" || got.KeyName != "" {
		t.Errorf("audience %q %q %q skn %q err %v", host, dev, mod, got.KeyName, err)
	}
}

// FuzzDecodeError_E8 feeds arbitrary error bodies to the decoder: it must not panic and must
// keep the status.
func FuzzDecodeError_E8(f *testing.F) {
	for _, s := range []string{`{"Message":"ErrorCode:DeviceNotFound;x"}`, `{"Message":"{\"Message\":\"ErrorCode:A;b\"}"}`,
		`{"ExceptionMessage":"e"}`, "plain", "", `{"Message":"ErrorCode:"}`, `{"Message":5}`} {
		f.Add(404, s)
	}
	f.Fuzz(func(t *testing.T, status int, body string) {
		e := decodeError(status, http.Header{}, []byte(body))
		if e.Status != status || len(e.Message) > maxErrorText+len("...") {
			t.Fatalf("got %+v", e)
		}
		_ = e.Error()
	})
}

// TestFakeHubAPIVersion keeps hubclienttest's copy of the api-version (it cannot import this
// package) equal to the one the client sends.
func TestFakeHubAPIVersion(t *testing.T) {
	if hubclienttest.APIVersion != APIVersion {
		t.Fatalf("hubclienttest.APIVersion %q, want %q", hubclienttest.APIVersion, APIVersion)
	}
}

// TestDecodeErrorBoundsMessage: a long message inside the JSON error body is cut like a long
// plain body, at a character boundary.
func TestDecodeErrorBoundsMessage(t *testing.T) {
	long := strings.Repeat("é", maxErrorText)
	body, _ := json.Marshal(map[string]string{"Message": "ErrorCode:DeviceNotFound;" + long})
	e := decodeError(404, http.Header{}, body)
	if e.Code != "DeviceNotFound" || len(e.Message) > maxErrorText+len("...") || !utf8.ValidString(e.Message) {
		t.Fatalf("got code %q, %d bytes, valid UTF-8 %v", e.Code, len(e.Message), utf8.ValidString(e.Message))
	}
}
