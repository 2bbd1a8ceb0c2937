package iothub

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Twin and method limits (§1.7, §1.8), as enforced by IoT Hub and edgeHub's
// ReportedPropertiesValidator.
const (
	MaxTwinPatchSize   = 32 * 1024  // bytes of one patch, and of a whole desired or reported section
	MaxTwinTagsSize    = 8 * 1024   // bytes of the tags section
	MaxTwinDepth       = 10         // nested objects/arrays below the patch root
	MaxTwinNameLength  = 1024       // bytes of a property name
	MaxTwinStringValue = 4096       // bytes of a string value
	MaxTwinInteger     = 1 << 52    // |integer| limit
	MaxMethodPayload   = 128 * 1024 // bytes of a method request or response payload
)

// ValidateTwinPatch checks a desired or reported patch against IoT Hub's
// limits: a JSON object of at most MaxTwinPatchSize bytes, nesting depth at
// most MaxTwinDepth, names of at most MaxTwinNameLength bytes without control
// characters, whitespace, ".", "$" or "#", strings of at most
// MaxTwinStringValue bytes, integers within ±2^52, other numbers within a
// float64's range, and (reported only) no null inside arrays. Errors are
// *Error 400 ArgumentInvalid.
func ValidateTwinPatch(patch []byte, reported bool) error {
	if len(patch) > MaxTwinPatchSize {
		return twinErr("patch is %d bytes, limit %d", len(patch), MaxTwinPatchSize)
	}
	return validateTwinJSON(patch, reported)
}

// ValidateTwinTags checks a tags object (or patch) like ValidateTwinPatch with
// the tags size limit and nulls allowed.
func ValidateTwinTags(tags []byte) error {
	if len(tags) > MaxTwinTagsSize {
		return twinErr("tags are %d bytes, limit %d", len(tags), MaxTwinTagsSize)
	}
	return validateTwinJSON(tags, false)
}

// ValidateTwinObject checks a decoded desired or reported patch (or section)
// with the rules of ValidateTwinPatch. Numbers may be json.Number, Go
// integers or float64; a float64 is not range-checked, since after decoding
// it cannot be told apart from a JSON float (validate the raw bytes with
// ValidateTwinPatch for that).
func ValidateTwinObject(obj map[string]any, reported bool) error {
	return validateObject(obj, MaxTwinPatchSize, reported)
}

// ValidateTwinTagsObject is ValidateTwinObject for tags (8 KB, nulls allowed).
func ValidateTwinTagsObject(obj map[string]any) error {
	return validateObject(obj, MaxTwinTagsSize, false)
}

func validateObject(obj map[string]any, limit int, noNulls bool) error {
	n, err := EncodedSize(obj)
	if err != nil {
		return twinErr("not encodable as JSON: %v", err)
	}
	if n > limit {
		return twinErr("patch is %d bytes, limit %d", n, limit)
	}
	return checkObject(obj, 0, noNulls)
}

// EncodedSize returns the length of v encoded as compact JSON without HTML
// escaping (how twin sizes are measured).
func EncodedSize(v any) (int, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return 0, err
	}
	return b.Len() - 1, nil // Encode appends a newline
}

func validateTwinJSON(doc []byte, noNullsInArrays bool) error {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return twinErr("invalid JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return twinErr("trailing data after JSON object")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return twinErr("patch must be a JSON object")
	}
	return checkObject(obj, 0, noNullsInArrays)
}

func checkObject(obj map[string]any, depth int, noNulls bool) error {
	for name, val := range obj {
		if err := checkName(name); err != nil {
			return err
		}
		if err := checkValue(name, val, depth, noNulls); err != nil {
			return err
		}
	}
	return nil
}

func checkValue(name string, val any, depth int, noNulls bool) error {
	switch x := val.(type) {
	case map[string]any:
		if depth+1 > MaxTwinDepth {
			return twinErr("nesting deeper than %d at %q", MaxTwinDepth, truncate(name))
		}
		return checkObject(x, depth+1, noNulls)
	case []any:
		if depth+1 > MaxTwinDepth {
			return twinErr("nesting deeper than %d at %q", MaxTwinDepth, truncate(name))
		}
		for _, e := range x {
			if e == nil && noNulls {
				return twinErr("array %q contains null", truncate(name))
			}
			if err := checkValue(name, e, depth+1, noNulls); err != nil {
				return err
			}
		}
	case string:
		if len(x) > MaxTwinStringValue {
			return twinErr("value of %q is %d bytes, limit %d", truncate(name), len(x), MaxTwinStringValue)
		}
	case json.Number:
		return checkNumber(name, x)
	case int:
		return checkInt(name, int64(x))
	case int64:
		return checkInt(name, x)
	case int32, int16, int8, uint8, uint16, uint32:
		return nil
	case uint, uint64:
		return checkNumber(name, json.Number(fmt.Sprint(x)))
	}
	return nil
}

func checkInt(name string, n int64) error {
	if n > MaxTwinInteger || n < -MaxTwinInteger {
		return twinErr("integer %d of %q is beyond ±2^52", n, truncate(name))
	}
	return nil
}

// checkNumber refuses integers beyond ±2^52 and numbers beyond a float64's range
// (1e400): the twin would store them, and every reader that decodes numbers as float64
// (encoding/json, JavaScript, outpost twin show) would fail on the whole document.
// Underflow (1e-400) is fine: it decodes as 0.
func checkNumber(name string, n json.Number) error {
	if strings.ContainsAny(string(n), ".eE") {
		if _, err := strconv.ParseFloat(string(n), 64); err != nil {
			return twinErr("number %s of %q is beyond the range of a 64-bit float", truncate(string(n)), truncate(name))
		}
		return nil
	}
	s := strings.TrimPrefix(string(n), "-")
	if len(s) > 16 || len(s) == 16 && s > "4503599627370496" {
		return twinErr("integer %q of %q is beyond ±2^52", truncate(string(n)), truncate(name))
	}
	return nil
}

func checkName(name string) error {
	if name == "" {
		return twinErr("empty property name")
	}
	if len(name) > MaxTwinNameLength {
		return twinErr("property name %q is %d bytes, limit %d", truncate(name), len(name), MaxTwinNameLength)
	}
	if !utf8.ValidString(name) {
		return twinErr("property name %q is not UTF-8", truncate(name))
	}
	for _, r := range name {
		if unicode.IsControl(r) || unicode.IsSpace(r) || r == '.' || r == '$' || r == '#' {
			return twinErr("property name %q contains %q", truncate(name), r)
		}
	}
	return nil
}

func twinErr(format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, CodeArgumentInvalid, "invalid twin patch: "+format, args...)
}
