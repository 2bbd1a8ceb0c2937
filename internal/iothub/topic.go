package iothub

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/outpost-iot/outpost/internal/message"
)

// TopicKind classifies a client-to-server PUBLISH topic (§1.5).
type TopicKind int

// Publish topic kinds.
const (
	TopicInvalid           TopicKind = iota
	TopicTelemetry                   // devices/{d}/messages/events/[bag] or devices/{d}/modules/{m}/messages/events/[bag]
	TopicTwinGet                     // $iothub/twin/GET/?$rid=
	TopicTwinPatchReported           // $iothub/twin/PATCH/properties/reported/?$rid=[&$version=]
	TopicMethodResponse              // $iothub/methods/res/{status}/?$rid=
)

// PublishTopic is a parsed client->server topic.
type PublishTopic struct {
	Kind      TopicKind
	DeviceID  string // from the topic (telemetry only)
	ModuleID  string
	Bag       string // raw property bag (telemetry)
	RequestID string // $rid
	Status    int    // method response
	Version   int64  // $version if present, else 0
}

const (
	twinGetPrefix     = "$iothub/twin/GET/"
	twinReportedPref  = "$iothub/twin/PATCH/properties/reported/"
	methodResPrefix   = "$iothub/methods/res/"
	twinResPrefix     = "$iothub/twin/res/"
	desiredPrefix     = "$iothub/twin/PATCH/properties/desired/"
	methodPostPrefix  = "$iothub/methods/POST/"
	devicesPrefix     = "devices/"
	eventsSuffix      = "messages/events"
	deviceboundSuffix = "messages/devicebound/#"
)

// ParsePublishTopic parses a client->server topic. Telemetry is accepted with
// or without the trailing "/" and bag (edgeHub's templates); the bag may
// itself contain "/", and one "/" after it is dropped (the Node SDK sends
// it). Anything else is TopicInvalid with an error.
func ParsePublishTopic(topic string) (PublishTopic, error) {
	var (
		p   PublishTopic
		err error
	)
	switch {
	case strings.HasPrefix(topic, devicesPrefix):
		p, err = parseTelemetry(topic)
	case strings.HasPrefix(topic, twinGetPrefix):
		p, err = parseRIDQuery(TopicTwinGet, topic[len(twinGetPrefix):], false)
	case strings.HasPrefix(topic, twinReportedPref):
		p, err = parseRIDQuery(TopicTwinPatchReported, topic[len(twinReportedPref):], true)
	case strings.HasPrefix(topic, methodResPrefix):
		p, err = parseMethodResponse(topic[len(methodResPrefix):])
	default:
		err = errors.New("unknown topic")
	}
	if err != nil {
		return PublishTopic{}, fmt.Errorf("iothub: parse publish topic %q: %w", truncate(topic), err)
	}
	return p, nil
}

func parseTelemetry(topic string) (PublishTopic, error) {
	p := PublishTopic{Kind: TopicTelemetry}
	rest := topic[len(devicesPrefix):]
	var ok bool
	if p.DeviceID, rest, ok = strings.Cut(rest, "/"); !ok || p.DeviceID == "" {
		return PublishTopic{}, errors.New("missing device id")
	}
	if r, isModule := strings.CutPrefix(rest, "modules/"); isModule {
		if p.ModuleID, rest, ok = strings.Cut(r, "/"); !ok || p.ModuleID == "" {
			return PublishTopic{}, errors.New("missing module id")
		}
	}
	tail, ok := strings.CutPrefix(rest, eventsSuffix)
	if !ok {
		return PublishTopic{}, errors.New("not a telemetry topic")
	}
	if tail != "" {
		if tail[0] != '/' {
			return PublishTopic{}, errors.New("not a telemetry topic")
		}
		// The Node SDK's sendOutputEvent and sendEvent end the bag with
		// "/" (".../events/$.on=out1/"); IoT Hub ignores it, so must we,
		// or the output name arrives as "out1/".
		p.Bag = strings.TrimSuffix(tail[1:], "/")
	}
	return p, nil
}

// parseRIDQuery reads "?$rid=..[&$version=..]"; $rid is required.
func parseRIDQuery(kind TopicKind, rest string, allowVersion bool) (PublishTopic, error) {
	q, ok := strings.CutPrefix(rest, "?")
	if !ok {
		return PublishTopic{}, errors.New("missing ?$rid=")
	}
	vals := parseQuery(q)
	rid, ok := vals["$rid"]
	if !ok || rid == "" {
		return PublishTopic{}, errors.New("missing $rid")
	}
	p := PublishTopic{Kind: kind, RequestID: rid}
	if v, ok := vals["$version"]; ok && allowVersion {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return PublishTopic{}, fmt.Errorf("$version %q is not an integer", truncate(v))
		}
		p.Version = n
	}
	return p, nil
}

func parseMethodResponse(rest string) (PublishTopic, error) {
	status, q, ok := strings.Cut(rest, "/")
	if !ok {
		return PublishTopic{}, errors.New("missing status")
	}
	n, err := strconv.Atoi(status)
	if err != nil || n < -1<<31 || n > 1<<31-1 {
		return PublishTopic{}, fmt.Errorf("status %q is not an integer", truncate(status))
	}
	p, err := parseRIDQuery(TopicMethodResponse, q, false)
	p.Status = n
	return p, err
}

// SubscriptionKind classifies a SUBSCRIBE topic filter.
type SubscriptionKind int

// Subscription kinds.
const (
	SubInvalid       SubscriptionKind = iota
	SubC2D                            // devices/{d}/messages/devicebound/#
	SubModuleInputs                   // devices/{d}/modules/{m}/# or devices/{d}/modules/{m}/inputs/#
	SubTwinResponses                  // $iothub/twin/res/#
	SubDesired                        // $iothub/twin/PATCH/properties/desired/#
	SubMethods                        // $iothub/methods/POST/#
)

// ParseSubscription classifies a filter with edgeHub's SessionStateParser
// rules: prefix $iothub/methods/POST/ -> methods; prefix
// $iothub/twin/PATCH/properties/desired/ -> desired; suffix
// messages/devicebound/# -> C2D (the filter must be
// devices/{d}/messages/devicebound/#); exactly $iothub/twin/res/# -> twin
// responses; devices/{d}/modules/{m}/.../# -> module inputs. deviceID/moduleID
// are those named in the filter (C2D, inputs) and may be wildcards: the
// caller compares them with the authenticated identity (RELIABILITY F3).
func ParseSubscription(filter string) (kind SubscriptionKind, deviceID, moduleID string) {
	switch {
	case strings.HasPrefix(filter, methodPostPrefix):
		return SubMethods, "", ""
	case strings.HasPrefix(filter, desiredPrefix):
		return SubDesired, "", ""
	case strings.HasSuffix(filter, deviceboundSuffix):
		segs := strings.Split(filter, "/")
		if len(segs) == 5 && segs[0] == "devices" && segs[1] != "" {
			return SubC2D, segs[1], ""
		}
		return SubInvalid, "", ""
	case filter == twinResPrefix+"#":
		return SubTwinResponses, "", ""
	}
	segs := strings.Split(filter, "/")
	if len(segs) >= 5 && segs[0] == "devices" && segs[2] == "modules" && segs[len(segs)-1] == "#" &&
		segs[1] != "" && segs[3] != "" {
		return SubModuleInputs, segs[1], segs[3]
	}
	return SubInvalid, "", ""
}

// withBag appends "/" and the message's property bag to base; the "/" is
// always present (Node only dispatches C2D and inputs with it, §1.5).
func withBag(base string, m *message.Message) string {
	return base + "/" + EncodePropertyBag(m)
}

// TelemetryTopic is the client-side telemetry topic with trailing "/" + bag.
func TelemetryTopic(deviceID, moduleID string, m *message.Message) string {
	if moduleID == "" {
		return withBag(devicesPrefix+deviceID+"/"+eventsSuffix, m)
	}
	return withBag(devicesPrefix+deviceID+"/modules/"+moduleID+"/"+eventsSuffix, m)
}

// C2DTopic is ALWAYS "devices/{d}/messages/devicebound/" + bag.
func C2DTopic(deviceID string, m *message.Message) string {
	return withBag(devicesPrefix+deviceID+"/messages/devicebound", m)
}

// InputTopic is "devices/{d}/modules/{m}/inputs/{input}/" + bag.
func InputTopic(deviceID, moduleID, input string, m *message.Message) string {
	return withBag(devicesPrefix+deviceID+"/modules/"+moduleID+"/inputs/"+input, m)
}

// TwinResponseTopic is "$iothub/twin/res/{status}/?$rid={rid}[&$version={v}]";
// version 0 is omitted. rid is percent-encoded (a no-op for UUIDs and hex).
func TwinResponseTopic(status int, rid string, version int64) string {
	t := twinResPrefix + strconv.Itoa(status) + "/?$rid=" + EncodeResource(rid)
	if version != 0 {
		t += "&$version=" + strconv.FormatInt(version, 10)
	}
	return t
}

// DesiredPatchTopic is "$iothub/twin/PATCH/properties/desired/?$version={v}".
func DesiredPatchTopic(version int64) string {
	return desiredPrefix + "?$version=" + strconv.FormatInt(version, 10)
}

// MethodRequestTopic is "$iothub/methods/POST/{method}/?$rid={rid}"; rid is
// percent-encoded, the method name is written as is.
func MethodRequestTopic(method, rid string) string {
	return methodPostPrefix + method + "/?$rid=" + EncodeResource(rid)
}

// String names the kind for logs.
func (k TopicKind) String() string {
	names := [...]string{"invalid", "telemetry", "twin-get", "twin-patch-reported", "method-response"}
	if k < 0 || int(k) >= len(names) {
		return "TopicKind(" + strconv.Itoa(int(k)) + ")"
	}
	return names[k]
}

// String names the kind for logs.
func (k SubscriptionKind) String() string {
	names := [...]string{"invalid", "c2d", "module-inputs", "twin-responses", "desired", "methods"}
	if k < 0 || int(k) >= len(names) {
		return "SubscriptionKind(" + strconv.Itoa(int(k)) + ")"
	}
	return names[k]
}
