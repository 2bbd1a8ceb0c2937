package cloud_test

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/outpost-iot/outpost/internal/cloud"
	"github.com/outpost-iot/outpost/internal/testutil"
)

// internalText is what a storage error's text contains; none of it may reach a client.
var internalText = []string{"store:", "sqlite", "readonly", "attempt to write", "database", "sql:"}

// restCall sends an authenticated REST request and returns the status, the iothub-errorcode
// header and the body.
func restCall(t *testing.T, tc *testCloud, method, path, body string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, "https://"+tc.cfg.HTTPSListen+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", serviceToken(t, tc))
	req.Header.Set("Content-Type", "application/json")
	res, err := tc.httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("iothub-errorcode"), string(b)
}

// checkServerError asserts IoT Hub's error answer with code and no internal text.
func checkServerError(t *testing.T, what string, status int, code, body string, wantStatus int, wantCode string) {
	t.Helper()
	if status != wantStatus || code != wantCode {
		t.Errorf("%s: %d %s %s, want %d %s", what, status, code, body, wantStatus, wantCode)
		return
	}
	var doc struct{ Message, ExceptionMessage string }
	if err := json.Unmarshal([]byte(body), &doc); err != nil || !strings.HasPrefix(doc.Message, "ErrorCode:"+wantCode+";") {
		t.Errorf("%s: body %s is not IoT Hub's error JSON with ErrorCode:%s (%v)", what, body, wantCode, err)
	}
	checkNoInternalText(t, what, body)
}

// checkNoInternalText asserts that an error body carries none of internalText.
func checkNoInternalText(t *testing.T, what, body string) {
	t.Helper()
	for _, s := range internalText {
		if strings.Contains(strings.ToLower(body), s) {
			t.Errorf("%s: body %s leaks internal text %q", what, body, s)
		}
	}
}

// A storage that refuses writes (here SQLite's own SQLITE_READONLY; a full disk gives
// SQLITE_FULL, the same class) must answer every write with 503 ServiceUnavailable, which SDKs
// retry, not 400 ArgumentInvalid with the internal text, which they never retry; reads are still
// served; the failure is logged, rate-limited; writes work again once the storage does (issue 5,
// item 4).
func TestStorageFailure_WritesAnswer503WithoutInternalText(t *testing.T) {
	var logs testutil.Buffer
	tc := startCloud(t, func(c *cloud.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	key := tc.createDevice("d1")
	dev := tc.mustConnect("d1", "", key, clientOpts{})
	rec := newReceived()
	subscribe(t, dev, "$iothub/twin/res/#", rec.handler)

	if err := tc.cloud.Store().SetQueryOnly(tc.ctx(), true); err != nil {
		t.Fatal(err)
	}
	writes := []struct{ method, path, body string }{
		{"PATCH", "/twins/d1", `{"properties":{"desired":{"a":1}}}`},
		{"PUT", "/twins/d1", `{"tags":{"t":1},"properties":{"desired":{"a":2}}}`},
		{"PUT", "/devices/d2", `{"deviceId":"d2"}`},
		{"PUT", "/devices/d1/modules/m1", `{}`},
		{"POST", "/devices/d1/messages/deviceBound", `hello`},
		{"DELETE", "/devices/d1", ``},
	}
	for _, w := range writes {
		status, code, body := restCall(t, tc, w.method, w.path, w.body)
		checkServerError(t, w.method+" "+w.path, status, code, body, http.StatusServiceUnavailable, "ServiceUnavailable")
	}
	if status, _, body := restCall(t, tc, "GET", "/devices/d1", ""); status != http.StatusOK {
		t.Errorf("GET /devices/d1 while writes fail: %d %s, want 200", status, body)
	}
	if status, _, body := restCall(t, tc, "GET", "/twins/d1", ""); status != http.StatusOK {
		t.Errorf("GET /twins/d1 while writes fail: %d %s, want 200", status, body)
	}

	wait(t, dev.Publish("$iothub/twin/PATCH/properties/reported/?$rid=7", 0, false, `{"fw":"1.0"}`))
	m := rec.next(t, 10*time.Second)
	if m.Topic() != "$iothub/twin/res/503/?$rid=7" {
		t.Errorf("reported patch while writes fail answered on %s, want $iothub/twin/res/503/?$rid=7", m.Topic())
	}
	var res struct {
		ErrorCode int    `json:"errorCode"`
		Message   string `json:"message"`
	}
	if err := json.Unmarshal(m.Payload(), &res); err != nil || res.ErrorCode != 503001 {
		t.Errorf("reported patch error body %s, want errorCode 503001 (%v)", m.Payload(), err)
	}
	checkNoInternalText(t, "reported patch error", string(m.Payload()))
	wait(t, dev.Publish("$iothub/twin/GET/?$rid=8", 0, false, " "))
	if m := rec.next(t, 10*time.Second); m.Topic() != "$iothub/twin/res/200/?$rid=8" {
		t.Errorf("twin GET while writes fail answered on %s, want 200", m.Topic())
	}

	failures := len(writes) + 1
	logged := strings.Count(logs.String(), `msg="operation failed"`)
	if logged < 1 || logged >= failures {
		t.Errorf("%d storage failures logged %d times, want at least once and rate-limited:\n%s", failures, logged, logs.String())
	}

	if err := tc.cloud.Store().SetQueryOnly(tc.ctx(), false); err != nil {
		t.Fatal(err)
	}
	if status, _, body := restCall(t, tc, "PATCH", "/twins/d1", `{"properties":{"desired":{"a":3}}}`); status != http.StatusOK {
		t.Errorf("PATCH once the storage is back: %d %s, want 200", status, body)
	}
}

// Any other failure of the cloud's own (here a closed database) is 500 ServerError, again
// without its text.
// An identity that cannot be looked up is not an unknown one: the device is told to come back
// (CONNACK 3, REST 500), not that its credentials are wrong (CONNACK 5, 401), which SDKs do
// not retry.
func TestStorageFailure_OtherErrorsAnswer500(t *testing.T) {
	tc := startCloud(t)
	key := tc.createDevice("d1")
	if err := tc.cloud.Store().Close(); err != nil {
		t.Fatal(err)
	}
	status, code, body := restCall(t, tc, "PATCH", "/twins/d1", `{"properties":{"desired":{"a":1}}}`)
	checkServerError(t, "PATCH /twins/d1 on a closed database", status, code, body, http.StatusInternalServerError, "ServerError")

	req, err := http.NewRequest("GET", "https://"+tc.cfg.HTTPSListen+"/devices/d1/modules", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", sasFor(t, "d1", "", key, time.Hour))
	res, err := tc.httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	checkServerError(t, "GET /devices/d1/modules with the device's SAS on a closed database", res.StatusCode,
		res.Header.Get("iothub-errorcode"), string(b), http.StatusInternalServerError, "ServerError")

	if _, err := tc.connect("d1", "", key, clientOpts{}); !errors.Is(err, packets.ErrorRefusedServerUnavailable) {
		t.Errorf("CONNECT on a closed database: %v, want CONNACK 3 server unavailable", err)
	}
}
