package cloud_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/outpost-iot/outpost/internal/hubclient"
	"github.com/outpost-iot/outpost/internal/iothub"
)

// TestUnknownRoutesAnswerIoTHubErrors: a path no route serves is a 404 and a known path with
// another method a 405 with Allow, both in IoT Hub's error format (iothub-errorcode and
// {"Message":"ErrorCode:..;..","ExceptionMessage":".."}), not Go's plain text, which the SDKs
// surface as a bare "Not found".
func TestUnknownRoutesAnswerIoTHubErrors(t *testing.T) {
	tc := startCloud(t)
	tok := serviceToken(t, tc)
	cases := []struct {
		method, path string
		status       int
		code         string
		allow        []string // methods the Allow header must list (405 only)
	}{
		{"GET", "/", 404, "NotFound", nil},
		{"GET", "/nope", 404, "NotFound", nil},
		{"GET", "/devices/d/unknown/x", 404, "NotFound", nil},
		{"POST", "/twins/d/modules/m/methods/extra", 404, "NotFound", nil},
		{"DELETE", "/no/such/path", 404, "NotFound", nil},
		{"POST", "/events", 405, "MethodNotAllowed", []string{"GET"}},
		{"DELETE", "/twins/d", 405, "MethodNotAllowed", []string{"GET", "PATCH", "PUT"}},
		{"PATCH", "/devices/d", 405, "MethodNotAllowed", []string{"DELETE", "GET", "PUT"}},
		{"GET", "/twins/d/methods", 405, "MethodNotAllowed", []string{"POST"}},
		{"POST", "/healthz", 405, "MethodNotAllowed", []string{"GET"}},
	}
	for _, c := range cases {
		req, err := http.NewRequestWithContext(tc.ctx(), c.method, "https://"+tc.cfg.HTTPSListen+c.path, strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", tok)
		res, err := tc.httpClient().Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", c.method, c.path, err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		var body struct{ Message, ExceptionMessage string }
		jerr := json.Unmarshal(raw, &body)
		if res.StatusCode != c.status || res.Header.Get("iothub-errorcode") != c.code || jerr != nil ||
			!strings.HasPrefix(body.Message, "ErrorCode:"+c.code+";") || body.ExceptionMessage == "" ||
			!strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s %s: %d iothub-errorcode=%q %q, want %d %s in IoT Hub's JSON",
				c.method, c.path, res.StatusCode, res.Header.Get("iothub-errorcode"), raw, c.status, c.code)
			continue
		}
		allow := res.Header.Get("Allow")
		for _, m := range c.allow {
			if !strings.Contains(allow, m) {
				t.Errorf("%s %s: Allow %q lacks %s", c.method, c.path, allow, m)
			}
		}
	}
}

// TestHealthzStillPlain: the health check is not an API route and keeps its plain "ok".
func TestHealthzStillPlain(t *testing.T) {
	tc := startCloud(t)
	if err := tc.svc.Healthz(tc.ctx()); err != nil {
		t.Fatalf("healthz: %v", err)
	}
}

// TestEmptyListsAreArrays: a list call with nothing to list answers [] (not null, which a
// client that iterates or takes .length of the body fails on).
func TestEmptyListsAreArrays(t *testing.T) {
	tc := startCloud(t)
	tc.createDevice("quiet")
	tok := serviceToken(t, tc)
	for _, path := range []string{
		"/events",
		"/events?deviceId=nobody",
		"/events?deviceId=quiet&moduleId=m",
		"/events?from=1000",
		"/devices/quiet/messages/deviceBound",
		"/devices/quiet/modules",
	} {
		req, err := http.NewRequestWithContext(tc.ctx(), http.MethodGet, "https://"+tc.cfg.HTTPSListen+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", tok)
		if got := strings.TrimSpace(string(doJSON(t, tc, req))); got != "[]" {
			t.Errorf("GET %s = %s, want []", path, got)
		}
	}
}

// TestInvalidIDErrorOverREST: the character an invalid id is refused for reaches the client
// intact through IoT Hub's error body, whose text may not hold ";" (for "a;b" it said ',').
func TestInvalidIDErrorOverREST(t *testing.T) {
	tc := startCloud(t)
	tc.createDevice("d")
	cases := []struct {
		create func() error
		want   string
	}{
		{func() error { _, err := tc.svc.CreateDevice(tc.ctx(), &hubclient.Device{DeviceID: "a;b"}); return err }, `device id "a\u003bb" contains the invalid character U+003B (semicolon)`},
		{func() error { _, err := tc.svc.CreateDevice(tc.ctx(), &hubclient.Device{DeviceID: "a b"}); return err }, `' ' (U+0020)`},
		{func() error {
			_, err := tc.svc.CreateModule(tc.ctx(), &hubclient.Module{DeviceID: "d", ModuleID: "m;1"})
			return err
		}, `module id "m\u003b1" contains the invalid character U+003B (semicolon)`},
	}
	for i, c := range cases {
		var he *hubclient.Error
		err := c.create()
		if !errors.As(err, &he) || he.Code != iothub.CodeArgumentInvalid || !strings.Contains(he.Message, c.want) || strings.Contains(he.Message, "','") {
			t.Errorf("case %d: %v, want ArgumentInvalid naming %s", i, err, c.want)
		}
	}
}
