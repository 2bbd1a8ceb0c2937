package packet

import (
	"strings"
	"testing"
)

var topicNameFixtures = []struct {
	topic string
	valid bool
}{
	{"a", true}, {"a/b", true}, {"/", true}, {"a//b", true}, {"$SYS/x", true}, {" ", true},
	{"devices/d1/messages/events/$.ct=application%2Fjson", true},
	{"", false}, {"a/+", false}, {"#", false}, {"a+b", false}, {"a\x00", false}, {"\xff", false},
}

func TestValidTopicName_E1_E2(t *testing.T) {
	for _, f := range topicNameFixtures {
		if got := ValidTopicName(f.topic); got != f.valid {
			t.Errorf("ValidTopicName(%q) = %v", f.topic, got)
		}
	}
}

var topicFilterFixtures = []struct {
	filter string
	valid  bool
}{
	{"#", true}, {"+", true}, {"a/#", true}, {"+/+", true}, {"/#", true}, {"a/+/b", true}, {"a//", true},
	{"$iothub/twin/res/#", true}, {"devices/d/messages/devicebound/#", true},
	{"", false}, {"a/#/b", false}, {"a+", false}, {"#a", false}, {"a#", false}, {"+a/b", false},
	{"a/b#", false}, {"##", false}, {"a\x00", false}, {"\xed\xa0\x80", false},
}

func TestValidTopicFilter_E3(t *testing.T) {
	for _, f := range topicFilterFixtures {
		if got := ValidTopicFilter(f.filter); got != f.valid {
			t.Errorf("ValidTopicFilter(%q) = %v", f.filter, got)
		}
	}
}

var matchFixtures = []struct {
	filter, topic string
	match         bool
}{
	{"a/b", "a/b", true}, {"a/b", "a/c", false}, {"a/+", "a/b", true}, {"a/+", "a/b/c", false},
	{"a/#", "a", true}, {"a/#", "a/b/c", true}, {"#", "a/b", true}, {"+", "a", true}, {"+", "a/b", false},
	{"+/+", "/", true}, {"/+", "/a", true}, {"+", "", true}, {"a/+/c", "a//c", true},
	{"#", "$SYS/x", false}, {"+/x", "$SYS/x", false}, {"$SYS/#", "$SYS/x", true}, {"$SYS/+", "$SYS/x", true},
	{"$iothub/methods/POST/#", "$iothub/methods/POST/m/?$rid=1", true},
	{"devices/d1/messages/devicebound/#", "devices/d1/messages/devicebound/", true},
	{"devices/d1/messages/devicebound/#", "devices/d2/messages/devicebound/", false},
	{"a/b/#", "a", false}, {"a/b", "a/b/", false}, {"a/b/", "a/b", false},
}

func TestMatch(t *testing.T) {
	for _, f := range matchFixtures {
		if got := Match(f.filter, f.topic); got != f.match {
			t.Errorf("Match(%q, %q) = %v", f.filter, f.topic, got)
		}
		if got := refMatch(f.filter, f.topic); got != f.match {
			t.Errorf("refMatch(%q, %q) = %v", f.filter, f.topic, got)
		}
	}
}

// refMatch is the simple reference matcher for the differential fuzzer: split
// both on "/" and compare level by level, recursively.
func refMatch(filter, topic string) bool {
	if topic != "" && topic[0] == '$' && filter != "" && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	return refLevels(strings.Split(filter, "/"), strings.Split(topic, "/"))
}

func refLevels(f, t []string) bool {
	if len(f) == 0 {
		return len(t) == 0
	}
	if f[0] == "#" {
		return true
	}
	if len(t) == 0 {
		return false
	}
	if f[0] != "+" && f[0] != t[0] {
		return false
	}
	return refLevels(f[1:], t[1:])
}

func TestMatch_NoAllocation(t *testing.T) {
	n := testing.AllocsPerRun(100, func() { Match("a/+/c/#", "a/b/c/d/e") })
	if n != 0 {
		t.Fatalf("Match allocates %v times", n)
	}
}

func FuzzTopicMatch(f *testing.F) {
	for _, m := range matchFixtures {
		f.Add(m.filter, m.topic)
	}
	f.Fuzz(func(t *testing.T, filter, topic string) {
		if !ValidTopicFilter(filter) || !ValidTopicName(topic) {
			return
		}
		if got, want := Match(filter, topic), refMatch(filter, topic); got != want {
			t.Fatalf("Match(%q, %q) = %v, reference says %v", filter, topic, got, want)
		}
	})
}
