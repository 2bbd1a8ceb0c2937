package packet

import "strings"

// ValidTopicName reports whether s may be used as a PUBLISH topic: non-empty
// [MQTT-4.7.3-1], no wildcard characters [MQTT-3.3.2-2], valid UTF-8 without U+0000 [MQTT-1.5.3].
func ValidTopicName(s string) bool { return validUTF8(s) && isTopicName(s) }

// isTopicName is ValidTopicName for a string whose encoding is already checked.
func isTopicName(s string) bool {
	return s != "" && len(s) <= 0xffff && !strings.ContainsAny(s, "+#")
}

// ValidTopicFilter reports whether s is a valid subscription filter: non-empty
// [MQTT-4.7.3-1], "#" only as the whole last level [MQTT-4.7.1-2], "+" only as
// a whole level [MQTT-4.7.1-3], valid UTF-8 without U+0000 [MQTT-1.5.3].
func ValidTopicFilter(s string) bool { return validUTF8(s) && isTopicFilter(s) }

// isTopicFilter is ValidTopicFilter for a string whose encoding is already checked.
func isTopicFilter(s string) bool {
	if s == "" || len(s) > 0xffff {
		return false
	}
	for rest := s; ; {
		level, tail, more := strings.Cut(rest, "/")
		if strings.ContainsAny(level, "+#") && len(level) != 1 {
			return false
		}
		if level == "#" && more {
			return false
		}
		if !more {
			return true
		}
		rest = tail
	}
}

// Match reports whether topic name topic matches filter. Both are assumed
// valid. A filter whose first level is a wildcard does not match a topic
// starting with "$" [MQTT-4.7.2-1]; "#" also matches the parent level
// ("a/#" matches "a") [MQTT-4.7.1-2]. It does not allocate.
func Match(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	for {
		f, fRest, fMore := strings.Cut(filter, "/")
		if f == "#" {
			return true
		}
		t, tRest, tMore := strings.Cut(topic, "/")
		if f != "+" && f != t {
			return false
		}
		switch {
		case !fMore && !tMore:
			return true
		case !fMore:
			return false
		case !tMore:
			return fRest == "#"
		}
		filter, topic = fRest, tRest
	}
}
