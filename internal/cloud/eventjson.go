package cloud

import (
	"encoding/base64"
	"slices"
	"time"
	"unicode/utf8"
)

// appendEventJSON appends r's JSON document to b: byte for byte what json.Marshal(r) writes
// (TestAppendEventJSON_MatchesMarshal and FuzzAppendEventJSON hold it to that), without
// reflection. It runs once per D2C message on the ingest path, where encoding/json was 6-9 %
// of the cloud's CPU. r.Enqueued must be representable in RFC 3339 (years 0-9999), as a
// clock's time is.
func appendEventJSON(b []byte, r *eventRecord) []byte {
	b = append(b, `{"t":"`...)
	b = r.Enqueued.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if len(r.System) > 0 {
		b = append(b, `,"system":`...)
		b = appendStringMap(b, r.System)
	}
	if len(r.Properties) > 0 {
		b = append(b, `,"properties":`...)
		b = appendStringMap(b, r.Properties)
	}
	b = append(b, `,"body":`...)
	if r.Body == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, r.Body)
		b = append(b, '"')
	}
	return append(b, '}')
}

// appendStringMap appends m as a JSON object with its keys in sorted order, as encoding/json does.
func appendStringMap(b []byte, m map[string]string) []byte {
	var small [16]string
	keys := small[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, m[k])
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s quoted the way encoding/json's Marshal quotes strings: short
// escapes for \b \f \n \r \t " and \, \u00XX for other control bytes and for < > & (HTML-safe),
// U+FFFD for invalid UTF-8, and \u2028 \u2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
