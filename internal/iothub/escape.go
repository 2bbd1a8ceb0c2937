package iothub

import (
	"errors"
	"strings"
)

const upperHex = "0123456789ABCDEF"

// isUnreserved reports RFC 3986 unreserved characters.
func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
}

// EncodeResource encodes like encodeURIComponent plus !'()* (Node's
// encodeUriComponentStrict): every byte except A-Z a-z 0-9 - _ . ~ becomes
// %XX with upper-case hex. Text that needs no escaping is returned as is.
func EncodeResource(s string) string {
	i := 0
	for i < len(s) && isUnreserved(s[i]) {
		i++
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2*(len(s)-i))
	b.WriteString(s[:i])
	for ; i < len(s); i++ {
		c := s[i]
		if isUnreserved(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(upperHex[c>>4])
		b.WriteByte(upperHex[c&15])
	}
	return b.String()
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

var errBadEscape = errors.New("invalid percent escape")

// unescape decodes %XX sequences; "+" stays literal. With lenient set an
// invalid escape is kept as is (like .NET Uri.UnescapeDataString), otherwise
// it is an error.
func unescape(s string, lenient bool) (string, error) {
	if strings.IndexByte(s, '%') < 0 {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if ok1 && ok2 {
				b.WriteByte(hi<<4 | lo)
				i += 2
				continue
			}
		}
		if s[i] == '%' && !lenient {
			return "", errBadEscape
		}
		b.WriteByte(s[i])
	}
	return b.String(), nil
}

func unescapeStrict(s string) (string, error) { return unescape(s, false) }

func unescapeLenient(s string) string {
	out, _ := unescape(s, true)
	return out
}
