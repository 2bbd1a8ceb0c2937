package iothub

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// IoT Hub error codes (the text after "ErrorCode:" in error bodies and the
// iothub-errorcode header).
const (
	CodeDeviceNotFound                  = "DeviceNotFound"
	CodeModuleNotFound                  = "ModuleNotFound"
	CodeIotHubNotFound                  = "IotHubNotFound"
	CodeDeviceAlreadyExists             = "DeviceAlreadyExists"
	CodeModuleAlreadyExists             = "ModuleAlreadyExistsOnDevice"
	CodePreconditionFailed              = "PreconditionFailed"
	CodeArgumentInvalid                 = "ArgumentInvalid"
	CodeArgumentNull                    = "ArgumentNull"
	CodeInvalidProtocolVersion          = "InvalidProtocolVersion"
	CodeIotHubUnauthorizedAccess        = "IotHubUnauthorizedAccess"
	CodeIotHubUnauthorized              = "IotHubUnauthorized"
	CodeDeviceNotOnline                 = "DeviceNotOnline"
	CodeGatewayTimeout                  = "GatewayTimeout"
	CodeMessageTooLarge                 = "MessageTooLarge"
	CodeDeviceMaximumQueueDepthExceeded = "DeviceMaximumQueueDepthExceeded"
	CodeRequestEntityTooLarge           = "RequestEntityTooLarge"
	CodeThrottlingException             = "ThrottlingException"
	CodeServerError                     = "ServerError"
	CodeTooManyDevices                  = "TooManyDevices"
	CodeNotFound                        = "NotFound"
	CodeMethodNotAllowed                = "MethodNotAllowed"
	CodeInvalidOperation                = "InvalidOperation"
	CodeIotHubQuotaExceeded             = "IotHubQuotaExceeded"
	CodeTooManyModulesOnDevice          = "TooManyModulesOnDevice"
	CodeServiceUnavailable              = "ServiceUnavailable"
)

// codeStatus is the HTTP status IoT Hub uses with each code (the C# SDK's
// ErrorCode enum encodes it in the numeric code's first three digits).
var codeStatus = map[string]int{
	CodeInvalidProtocolVersion: 400, CodeInvalidOperation: 400, CodeArgumentInvalid: 400, CodeArgumentNull: 400,
	CodeIotHubUnauthorizedAccess: 401, CodeIotHubUnauthorized: 401,
	CodeIotHubQuotaExceeded: 403, CodeDeviceMaximumQueueDepthExceeded: 403,
	CodeDeviceNotFound: 404, CodeModuleNotFound: 404, CodeIotHubNotFound: 404, CodeDeviceNotOnline: 404, CodeNotFound: 404,
	CodeMethodNotAllowed:    405,
	CodeDeviceAlreadyExists: 409, CodeModuleAlreadyExists: 409,
	CodePreconditionFailed: 412,
	CodeMessageTooLarge:    413, CodeTooManyDevices: 413, CodeTooManyModulesOnDevice: 413, CodeRequestEntityTooLarge: 413,
	CodeThrottlingException: 429,
	CodeServerError:         500, CodeServiceUnavailable: 503, CodeGatewayTimeout: 504,
}

// StatusFor returns the HTTP status IoT Hub uses with code, 500 if unknown.
func StatusFor(code string) int {
	if s, ok := codeStatus[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// NewError returns an *Error with code's usual status (StatusFor).
func NewError(code, format string, args ...any) *Error {
	return Errorf(StatusFor(code), code, format, args...)
}

// Error is an IoT Hub error: an HTTP status, an IoT Hub error code and a
// human-readable message. Handlers return it; WriteHTTPError maps it.
type Error struct {
	Status  int
	Code    string
	Message string
}

// Error returns "iothub: {Code}: {Message}".
func (e *Error) Error() string {
	return "iothub: " + e.Code + ": " + e.Message
}

// Errorf returns an *Error with a formatted message.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// AsError returns the *Error in err's chain, or a 500 ServerError for any
// other non-nil error (its text is not exposed).
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Status: http.StatusInternalServerError, Code: CodeServerError, Message: "internal server error"}
}

// httpErrorBody is IoT Hub's error body.
type httpErrorBody struct {
	Message          string `json:"Message"`
	ExceptionMessage string `json:"ExceptionMessage"`
}

// WriteHTTPError writes err as IoT Hub does: *Error -> its status (anything
// else -> 500 ServerError), header iothub-errorcode, JSON body
// {"Message":"ErrorCode:{Code};{text}","ExceptionMessage":"Tracking ID:{id}-TimeStamp:{time}"}.
// The text is never empty and never contains ";" so that the Node SDK's
// split keeps the code (see the package doc).
func WriteHTTPError(w http.ResponseWriter, err error) {
	e := AsError(err)
	status := e.Status
	if status < 400 || status > 599 {
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("iothub-errorcode", e.Code)
	w.WriteHeader(status)
	body, _ := json.Marshal(newErrorBody(e, time.Now()))
	_, _ = w.Write(body)
}

// newErrorBody returns the JSON error body of e as IoT Hub writes it.
func newErrorBody(e *Error, now time.Time) httpErrorBody {
	text := strings.ReplaceAll(e.Message, ";", ",")
	if strings.TrimSpace(text) == "" {
		text = http.StatusText(e.Status)
		if text == "" {
			text = "error"
		}
	}
	return httpErrorBody{
		Message:          "ErrorCode:" + e.Code + ";" + text,
		ExceptionMessage: "Tracking ID:" + trackingID() + "-TimeStamp:" + now.UTC().Format("01/02/2006 15:04:05"),
	}
}

func trackingID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
