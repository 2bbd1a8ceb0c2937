package iothub

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/outpost-iot/outpost/internal/message"
)

func describeTopic(in string) string {
	p, err := ParsePublishTopic(in)
	if err != nil {
		return fmt.Sprintf("kind=%d error: %v", p.Kind, err)
	}
	return fmt.Sprintf("kind=%s device=%q module=%q bag=%q rid=%q status=%d version=%d",
		p.Kind, p.DeviceID, p.ModuleID, p.Bag, p.RequestID, p.Status, p.Version)
}

// TestPublishTopicGolden covers §1.5 client->server topics.
func TestPublishTopicGolden(t *testing.T) {
	runGolden(t, "publishtopic.golden", describeTopic)
}

// TestSubscriptionGolden covers §1.5 / edgeHub SessionStateParser rules.
func TestSubscriptionGolden(t *testing.T) {
	runGolden(t, "subscription.golden", func(in string) string {
		k, d, m := ParseSubscription(in)
		return fmt.Sprintf("kind=%s device=%q module=%q", k, d, m)
	})
}

func TestOutboundTopics(t *testing.T) {
	empty := message.New(nil)
	m := message.New(nil)
	m.System[message.MessageID] = "m1"
	m.System[message.To] = "/devices/d1/messages/deviceBound"
	m.System[message.ConnectionDeviceID] = "edge1"
	m.Properties["k"] = "v/w"
	cases := []struct{ got, want string }{
		{C2DTopic("d1", empty), "devices/d1/messages/devicebound/"},
		{C2DTopic("d1", m), "devices/d1/messages/devicebound/%24.cdid=edge1&%24.mid=m1&%24.to=%2Fdevices%2Fd1%2Fmessages%2FdeviceBound&k=v%2Fw"},
		{InputTopic("edge1", "filter", "input1", empty), "devices/edge1/modules/filter/inputs/input1/"},
		{InputTopic("edge1", "filter", "input1", m), "devices/edge1/modules/filter/inputs/input1/%24.cdid=edge1&%24.mid=m1&%24.to=%2Fdevices%2Fd1%2Fmessages%2FdeviceBound&k=v%2Fw"},
		{TelemetryTopic("d1", "", empty), "devices/d1/messages/events/"},
		{TelemetryTopic("d1", "m1", empty), "devices/d1/modules/m1/messages/events/"},
		{TwinResponseTopic(200, "abc-1", 0), "$iothub/twin/res/200/?$rid=abc-1"},
		{TwinResponseTopic(204, "7", 12), "$iothub/twin/res/204/?$rid=7&$version=12"},
		{TwinResponseTopic(400, "a&b", 0), "$iothub/twin/res/400/?$rid=a%26b"},
		{DesiredPatchTopic(3), "$iothub/twin/PATCH/properties/desired/?$version=3"},
		{MethodRequestTopic("reboot", "1f"), "$iothub/methods/POST/reboot/?$rid=1f"},
	}
	for i, c := range cases {
		if c.got != c.want {
			t.Errorf("case %d: got %q want %q", i, c.got, c.want)
		}
	}
}

// TestOutboundTopics_NodeDispatch checks the Node SDK's dispatch regexps and
// segment indexes (§1.5 compatibility trap) against our builders.
func TestOutboundTopics_NodeDispatch(t *testing.T) {
	m := message.New(nil)
	c2d := C2DTopic("d1", m)
	in := InputTopic("e", "mod", "in1", m)
	if !regexp.MustCompile(`^devices/.*/messages/devicebound/.*$`).MatchString(c2d) {
		t.Errorf("Node would not dispatch C2D topic %q", c2d)
	}
	if !regexp.MustCompile(`^devices/.*/modules/.*/inputs/.*/.*$`).MatchString(in) {
		t.Errorf("Node would not dispatch input topic %q", in)
	}
}

func TestTelemetryTopicRoundTrip(t *testing.T) {
	m := message.New(nil)
	m.System[message.OutputName] = "out1"
	m.Properties["a"] = "b"
	p, err := ParsePublishTopic(TelemetryTopic("e", "mod", m))
	if err != nil || p.Kind != TopicTelemetry || p.DeviceID != "e" || p.ModuleID != "mod" {
		t.Fatalf("%+v %v", p, err)
	}
	sys, app, err := ParsePropertyBag(p.Bag)
	if err != nil || sys[message.OutputName] != "out1" || app["a"] != "b" {
		t.Fatalf("bag %q: %v %v %v", p.Bag, sys, app, err)
	}
}

// TestIdentityFromTopics_F3: the identity named in a publish topic or a
// subscription filter is returned verbatim so the caller can compare it with
// the authenticated identity (device A publishing or subscribing as B).
func TestIdentityFromTopics_F3(t *testing.T) {
	p, err := ParsePublishTopic("devices/B/messages/events/")
	if err != nil || p.DeviceID != "B" || p.ModuleID != "" {
		t.Fatalf("publish: %+v %v", p, err)
	}
	p, err = ParsePublishTopic("devices/A/modules/m2/messages/events/")
	if err != nil || p.DeviceID != "A" || p.ModuleID != "m2" {
		t.Fatalf("publish module: %+v %v", p, err)
	}
	cases := []struct {
		filter   string
		kind     SubscriptionKind
		dev, mod string
	}{
		{"devices/B/messages/devicebound/#", SubC2D, "B", ""},
		{"devices/+/messages/devicebound/#", SubC2D, "+", ""},
		{"devices/#/messages/devicebound/#", SubC2D, "#", ""},
		{"devices/B/modules/m/#", SubModuleInputs, "B", "m"},
		{"devices/A/modules/+/inputs/#", SubModuleInputs, "A", "+"},
	}
	for _, c := range cases {
		k, d, m := ParseSubscription(c.filter)
		if k != c.kind || d != c.dev || m != c.mod {
			t.Errorf("ParseSubscription(%q) = %v %q %q", c.filter, k, d, m)
		}
	}
}

// TestOutboundTopicGolden: each input is a property bag; the expected part
// lists the server->client topics built for the parsed message.
func TestOutboundTopicGolden(t *testing.T) {
	runGolden(t, "outboundtopic.golden", func(in string) string {
		sys, app, err := ParsePropertyBag(in)
		if err != nil {
			return "error: " + err.Error()
		}
		m := &message.Message{System: sys, Properties: app}
		return "c2d: " + C2DTopic("dev1", m) + "\ninput: " + InputTopic("edge1", "filter", "input1", m) +
			"\ntelemetry: " + TelemetryTopic("edge1", "filter", m)
	})
}

func TestKindStrings(t *testing.T) {
	if TopicTwinGet.String() != "twin-get" || SubMethods.String() != "methods" || TopicKind(99).String() != "TopicKind(99)" {
		t.Fatal("kind strings")
	}
}
