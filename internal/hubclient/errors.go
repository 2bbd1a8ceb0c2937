package hubclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"
)

// Error is a non-2xx answer from the hub, with IoT Hub's error code when the body or the
// iothub-errorcode header carried one.
type Error struct {
	Status  int    // HTTP status
	Code    string // IoT Hub error code, e.g. "DeviceNotFound"; "" when none was given
	Message string // human-readable text
}

// Error formats the error as "{status} {code}: {message}".
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d", e.Status)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	} else {
		b.WriteString(" " + http.StatusText(e.Status))
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

// IsCode reports whether err is an *Error with the given IoT Hub error code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// IsStatus reports whether err is an *Error with the given HTTP status.
func IsStatus(err error, status int) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == status
}

// maxErrorText bounds the message kept from an error body (JSON decoding can lengthen it:
// each invalid UTF-8 byte becomes a 3-byte U+FFFD).
const maxErrorText = 512

// decodeError turns an error response into *Error. IoT Hub bodies look like
// {"Message":"ErrorCode:DeviceNotFound;Device x not found","ExceptionMessage":"..."}; the Message
// itself is sometimes a JSON string of the same shape, which is unwrapped once.
func decodeError(status int, h http.Header, body []byte) *Error {
	e := &Error{Status: status, Code: h.Get("iothub-errorcode")}
	var doc struct{ Message, ExceptionMessage string }
	if json.Unmarshal(body, &doc) != nil || doc.Message == "" && doc.ExceptionMessage == "" {
		e.Message = strings.TrimSpace(truncate(string(body), maxErrorText))
		return e
	}
	msg := doc.Message
	var inner struct{ Message string }
	if json.Unmarshal([]byte(msg), &inner) == nil && inner.Message != "" {
		msg = inner.Message
	}
	if rest, ok := strings.CutPrefix(msg, "ErrorCode:"); ok {
		code, text, _ := strings.Cut(rest, ";")
		if e.Code == "" {
			e.Code = code
		}
		msg = text
	}
	if msg == "" {
		msg = doc.ExceptionMessage
	}
	e.Message = strings.TrimSpace(truncate(msg, maxErrorText))
	return e
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) { // do not split a character
		n--
	}
	return s[:n] + "..."
}
