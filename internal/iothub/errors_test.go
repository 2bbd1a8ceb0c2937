package iothub

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// nodeParseErrorBody mirrors azure-iot-http-base Http.parseErrorBody: split
// Message on ";", code after ":" in the first part, text is the second part;
// both must be non-empty.
func nodeParseErrorBody(body string) (code, text string, ok bool) {
	var b struct{ Message string }
	if json.Unmarshal([]byte(body), &b) != nil {
		return "", "", false
	}
	parts := strings.Split(b.Message, ";")
	if len(parts) < 2 {
		return "", "", false
	}
	head := strings.Split(parts[0], ":")
	if len(head) < 2 || head[1] == "" || parts[1] == "" {
		return "", "", false
	}
	return head[1], parts[1], true
}

// nodeErrorClass mirrors azure-iothub RestApiClient.translateError.
func nodeErrorClass(status int, body string) string {
	code, _, ok := nodeParseErrorBody(body)
	switch status {
	case 400:
		return "ArgumentError"
	case 401:
		return "UnauthorizedError"
	case 403:
		return "TooManyDevicesError"
	case 404:
		switch {
		case ok && code == "DeviceNotFound":
			return "DeviceNotFoundError"
		case ok && code == "IotHubNotFound":
			return "IotHubNotFoundError"
		}
		return "Error(Not found)"
	case 408:
		return "DeviceTimeoutError"
	case 409:
		return "DeviceAlreadyExistsError"
	case 412:
		return "InvalidEtagError"
	case 429:
		return "ThrottlingError"
	case 500:
		return "InternalServerError"
	case 502:
		return "BadDeviceResponseError"
	case 503:
		return "ServiceUnavailableError"
	case 504:
		return "GatewayTimeoutError"
	}
	return "Error"
}

func TestWriteHTTPError_NodeErrorClasses(t *testing.T) {
	cases := []struct {
		err       error
		status    int
		code      string
		nodeClass string
	}{
		{Errorf(404, CodeDeviceNotFound, "device %s not registered", "d1"), 404, CodeDeviceNotFound, "DeviceNotFoundError"},
		{Errorf(404, CodeModuleNotFound, "module m not registered"), 404, CodeModuleNotFound, "Error(Not found)"},
		{Errorf(409, CodeDeviceAlreadyExists, "exists"), 409, CodeDeviceAlreadyExists, "DeviceAlreadyExistsError"},
		{Errorf(412, CodePreconditionFailed, "etag mismatch"), 412, CodePreconditionFailed, "InvalidEtagError"},
		{Errorf(400, CodeArgumentInvalid, "bad; really bad"), 400, CodeArgumentInvalid, "ArgumentError"},
		{Errorf(401, CodeIotHubUnauthorizedAccess, ""), 401, CodeIotHubUnauthorizedAccess, "UnauthorizedError"},
		{Errorf(403, CodeDeviceMaximumQueueDepthExceeded, "queue full"), 403, CodeDeviceMaximumQueueDepthExceeded, "TooManyDevicesError"},
		{Errorf(429, CodeThrottlingException, "slow down"), 429, CodeThrottlingException, "ThrottlingError"},
		{Errorf(504, CodeGatewayTimeout, "timeout"), 504, CodeGatewayTimeout, "GatewayTimeoutError"},
		{fmt.Errorf("registry: %w", Errorf(404, CodeDeviceNotFound, "x")), 404, CodeDeviceNotFound, "DeviceNotFoundError"},
		{errors.New("disk on fire with secret"), 500, CodeServerError, "InternalServerError"},
		{&Error{Status: 200, Code: "Weird", Message: "m"}, 500, "Weird", "InternalServerError"},
	}
	trackRE := regexp.MustCompile(`^Tracking ID:[0-9a-f]{32}-TimeStamp:\d\d/\d\d/\d{4} \d\d:\d\d:\d\d$`)
	for _, c := range cases {
		rec := httptest.NewRecorder()
		WriteHTTPError(rec, c.err)
		body := rec.Body.String()
		if rec.Code != c.status || rec.Header().Get("iothub-errorcode") != c.code {
			t.Errorf("%v: status %d code %q", c.err, rec.Code, rec.Header().Get("iothub-errorcode"))
		}
		if !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			t.Errorf("%v: content type %q", c.err, rec.Header().Get("Content-Type"))
		}
		code, _, ok := nodeParseErrorBody(body)
		if !ok || code != c.code {
			t.Errorf("%v: Node cannot parse body %s", c.err, body)
		}
		if got := nodeErrorClass(rec.Code, body); got != c.nodeClass {
			t.Errorf("%v: Node class %s, want %s", c.err, got, c.nodeClass)
		}
		var b httpErrorBody
		if err := json.Unmarshal([]byte(body), &b); err != nil || !trackRE.MatchString(b.ExceptionMessage) {
			t.Errorf("%v: ExceptionMessage %q (%v)", c.err, b.ExceptionMessage, err)
		}
		if strings.Contains(body, "secret") {
			t.Errorf("internal error text leaked: %s", body)
		}
	}
}

func TestErrorErrorsAs(t *testing.T) {
	err := fmt.Errorf("wrap: %w", Errorf(http.StatusNotFound, CodeDeviceNotFound, "d"))
	if e := AsError(err); e.Code != CodeDeviceNotFound || e.Error() != "iothub: DeviceNotFound: d" {
		t.Fatalf("AsError = %+v", e)
	}
}

func TestStatusFor(t *testing.T) {
	cases := map[string]int{CodeDeviceNotFound: 404, CodeModuleAlreadyExists: 409, CodePreconditionFailed: 412,
		CodeTooManyDevices: 413, CodeThrottlingException: 429, CodeGatewayTimeout: 504, CodeDeviceNotOnline: 404,
		CodeDeviceMaximumQueueDepthExceeded: 403, CodeIotHubUnauthorizedAccess: 401, "Nope": 500}
	for code, want := range cases {
		if got := StatusFor(code); got != want {
			t.Errorf("StatusFor(%s) = %d, want %d", code, got, want)
		}
	}
	if e := NewError(CodeDeviceNotFound, "device %q", "d"); e.Status != 404 || e.Message != `device "d"` {
		t.Errorf("NewError = %+v", e)
	}
}
