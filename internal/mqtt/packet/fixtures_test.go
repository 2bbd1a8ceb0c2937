package packet

// One fixture table per packet type, shared by the encode tests, the decode
// tests and the FuzzDecode seed corpus. A fixture with pkt != nil is valid:
// Decode(raw) == pkt and Encode(pkt) == raw. A fixture with err != nil must be
// refused with an error wrapping err (RELIABILITY.md E1-E7).

type fixture struct {
	name string
	raw  []byte
	pkt  Packet
	err  error
}

// raw builds a packet from its first byte and body parts, computing the remaining length.
func raw(first byte, parts ...[]byte) []byte {
	var body []byte
	for _, p := range parts {
		body = append(body, p...)
	}
	out, err := appendHeader(nil, first, len(body))
	if err != nil {
		panic(err) // test helper on constant input
	}
	return append(out, body...)
}

// s is a length-prefixed string or byte field.
func s(v string) []byte { return append([]byte{byte(len(v) >> 8), byte(len(v))}, v...) }

func b(v ...byte) []byte { return v }

var connectFixtures = []fixture{
	{name: "minimal", raw: raw(0x10, s("MQTT"), b(4, 0x02, 0, 60), s("dev1")),
		pkt: &Connect{ProtocolName: "MQTT", ProtocolLevel: 4, CleanSession: true, KeepAlive: 60, ClientID: "dev1"}},
	{name: "empty client id", raw: raw(0x10, s("MQTT"), b(4, 0x02, 0, 0), s("")),
		pkt: &Connect{ProtocolName: "MQTT", ProtocolLevel: 4, CleanSession: true, ClientID: ""}},
	{name: "iothub user and password", raw: raw(0x10, s("MQTT"), b(4, 0xc0, 0, 180), s("d1"),
		s("hub.example/d1/?api-version=2021-04-12"), s("SharedAccessSignature sr=x")),
		pkt: &Connect{ProtocolName: "MQTT", ProtocolLevel: 4, KeepAlive: 180, ClientID: "d1", HasUsername: true,
			Username: "hub.example/d1/?api-version=2021-04-12", HasPassword: true, Password: []byte("SharedAccessSignature sr=x")}},
	{name: "will qos1 retain", raw: raw(0x10, s("MQTT"), b(4, 0x2e, 0, 10), s("c"), s("devices/c/messages/events/"), s("bye")),
		pkt: &Connect{ProtocolName: "MQTT", ProtocolLevel: 4, CleanSession: true, KeepAlive: 10, ClientID: "c",
			Will: &Will{Topic: "devices/c/messages/events/", Message: []byte("bye"), QoS: 1, Retain: true}}},
	{name: "username without password", raw: raw(0x10, s("MQTT"), b(4, 0x80, 0, 0), s("c"), s("u")),
		pkt: &Connect{ProtocolName: "MQTT", ProtocolLevel: 4, ClientID: "c", HasUsername: true, Username: "u"}},
	{name: "E6 level 3", raw: raw(0x10, s("MQTT"), b(3, 0x02, 0, 0), s("c")), err: ErrProtocolLevel},
	{name: "E6 level 5", raw: raw(0x10, s("MQTT"), b(5, 0x02, 0, 0), b(0), s("c")), err: ErrProtocolLevel},
	{name: "E6 MQIsdp level 3", raw: raw(0x10, s("MQIsdp"), b(3, 0x02, 0, 0), s("c")), err: ErrProtocolLevel},
	{name: "bad protocol name", raw: raw(0x10, s("MQTX"), b(4, 0x02, 0, 0), s("c")), err: ErrProtocol},
	{name: "E5 reserved connect flag", raw: raw(0x10, s("MQTT"), b(4, 0x03, 0, 0), s("c")), err: ErrMalformed},
	{name: "E5 flags 0001", raw: raw(0x11, s("MQTT"), b(4, 0x02, 0, 0), s("c")), err: ErrMalformed},
	{name: "will qos without will flag", raw: raw(0x10, s("MQTT"), b(4, 0x0a, 0, 0), s("c")), err: ErrMalformed},
	{name: "will retain without will flag", raw: raw(0x10, s("MQTT"), b(4, 0x22, 0, 0), s("c")), err: ErrMalformed},
	{name: "will qos 3", raw: raw(0x10, s("MQTT"), b(4, 0x1e, 0, 0), s("c"), s("t"), s("m")), err: ErrMalformed},
	{name: "password without username", raw: raw(0x10, s("MQTT"), b(4, 0x42, 0, 0), s("c"), s("p")), err: ErrMalformed},
	{name: "E1 client id U+0000", raw: raw(0x10, s("MQTT"), b(4, 0x02, 0, 0), s("a\x00b")), err: ErrMalformed},
	{name: "E1 client id surrogate", raw: raw(0x10, s("MQTT"), b(4, 0x02, 0, 0), s("a\xed\xa0\x80")), err: ErrMalformed},
	{name: "E1 client id overlong", raw: raw(0x10, s("MQTT"), b(4, 0x02, 0, 0), s("\xc0\xaf")), err: ErrMalformed},
	{name: "E1 client id truncated utf8", raw: raw(0x10, s("MQTT"), b(4, 0x02, 0, 0), s("\xe2\x82")), err: ErrMalformed},
	{name: "E1 username invalid utf8", raw: raw(0x10, s("MQTT"), b(4, 0x82, 0, 0), s("c"), s("\xff")), err: ErrMalformed},
	{name: "E1 will topic U+0000", raw: raw(0x10, s("MQTT"), b(4, 0x06, 0, 0), s("c"), s("t\x00"), s("m")), err: ErrMalformed},
	{name: "E2 will topic wildcard", raw: raw(0x10, s("MQTT"), b(4, 0x06, 0, 0), s("c"), s("a/#"), s("m")), err: ErrProtocol},
	{name: "truncated client id", raw: raw(0x10, s("MQTT"), b(4, 0x02, 0, 0), b(0, 5, 'a')), err: ErrMalformed},
	{name: "missing password", raw: raw(0x10, s("MQTT"), b(4, 0xc2, 0, 0), s("c"), s("u")), err: ErrMalformed},
	{name: "trailing bytes", raw: raw(0x10, s("MQTT"), b(4, 0x02, 0, 0), s("c"), b(1)), err: ErrMalformed},
}

var connackFixtures = []fixture{
	{name: "accepted", raw: b(0x20, 2, 0, 0), pkt: &Connack{}},
	{name: "session present", raw: b(0x20, 2, 1, 0), pkt: &Connack{SessionPresent: true}},
	{name: "refused 5", raw: b(0x20, 2, 0, 5), pkt: &Connack{ReturnCode: RefusedNotAuthorized}},
	{name: "reserved ack flags", raw: b(0x20, 2, 2, 0), err: ErrMalformed},
	{name: "return code 6", raw: b(0x20, 2, 0, 6), err: ErrMalformed},
	{name: "session present with refusal", raw: b(0x20, 2, 1, 4), err: ErrMalformed},
	{name: "E5 flags", raw: b(0x21, 2, 0, 0), err: ErrMalformed},
	{name: "short", raw: b(0x20, 1, 0), err: ErrMalformed},
}

var publishFixtures = []fixture{
	{name: "qos0", raw: raw(0x30, s("a/b"), b('h', 'i')), pkt: &Publish{Topic: "a/b", Payload: []byte("hi")}},
	{name: "qos0 empty payload", raw: raw(0x30, s("a")), pkt: &Publish{Topic: "a"}},
	{name: "qos1", raw: raw(0x32, s("devices/d/messages/events/"), b(0, 7), b('x')),
		pkt: &Publish{QoS: 1, Topic: "devices/d/messages/events/", PacketID: 7, Payload: []byte("x")}},
	{name: "qos1 dup retain", raw: raw(0x3b, s("t"), b(1, 0)), pkt: &Publish{Dup: true, QoS: 1, Retain: true, Topic: "t", PacketID: 256}},
	{name: "qos2", raw: raw(0x34, s("t"), b(0, 1)), pkt: &Publish{QoS: 2, Topic: "t", PacketID: 1}},
	{name: "dollar topic", raw: raw(0x30, s("$iothub/twin/GET/?$rid=1")), pkt: &Publish{Topic: "$iothub/twin/GET/?$rid=1"}},
	{name: "E5 qos3", raw: raw(0x36, s("t"), b(0, 1)), err: ErrMalformed},
	{name: "E5 dup on qos0", raw: raw(0x38, s("t")), err: ErrMalformed},
	{name: "E5 packet id 0", raw: raw(0x32, s("t"), b(0, 0)), err: ErrMalformed},
	{name: "E2 plus", raw: raw(0x30, s("a/+")), err: ErrProtocol},
	{name: "E2 hash", raw: raw(0x30, s("#")), err: ErrProtocol},
	{name: "empty topic", raw: raw(0x30, s("")), err: ErrProtocol},
	{name: "E1 topic U+0000", raw: raw(0x30, s("a\x00")), err: ErrMalformed},
	{name: "E1 topic surrogate", raw: raw(0x30, s("\xed\xbf\xbf")), err: ErrMalformed},
	{name: "E1 topic overlong", raw: raw(0x30, s("\xe0\x80\xaf")), err: ErrMalformed},
	{name: "topic length beyond body", raw: raw(0x30, b(0, 9, 'a')), err: ErrMalformed},
	{name: "qos1 missing packet id", raw: raw(0x32, s("t")), err: ErrMalformed},
}

var ackFixtures = []fixture{
	{name: "puback", raw: b(0x40, 2, 0, 1), pkt: &Puback{PacketID: 1}},
	{name: "pubrec", raw: b(0x50, 2, 0xff, 0xff), pkt: &Pubrec{PacketID: 0xffff}},
	{name: "pubrel", raw: b(0x62, 2, 0, 3), pkt: &Pubrel{PacketID: 3}},
	{name: "pubcomp", raw: b(0x70, 2, 0, 4), pkt: &Pubcomp{PacketID: 4}},
	{name: "unsuback", raw: b(0xb0, 2, 0, 5), pkt: &Unsuback{PacketID: 5}},
	{name: "E5 puback id 0", raw: b(0x40, 2, 0, 0), err: ErrMalformed},
	{name: "E5 puback flags", raw: b(0x42, 2, 0, 1), err: ErrMalformed},
	{name: "E5 pubrel flags 0000", raw: b(0x60, 2, 0, 1), err: ErrMalformed},
	{name: "puback long", raw: b(0x40, 3, 0, 1, 0), err: ErrMalformed},
	{name: "puback short", raw: b(0x40, 1, 0), err: ErrMalformed},
}

var subscribeFixtures = []fixture{
	{name: "one", raw: raw(0x82, b(0, 1), s("a/+/c"), b(1)), pkt: &Subscribe{PacketID: 1, Subscriptions: []Subscription{{"a/+/c", 1}}}},
	{name: "several", raw: raw(0x82, b(0, 2), s("#"), b(0), s("$iothub/methods/POST/#"), b(2), s("+"), b(1)),
		pkt: &Subscribe{PacketID: 2, Subscriptions: []Subscription{{"#", 0}, {"$iothub/methods/POST/#", 2}, {"+", 1}}}},
	{name: "E5 no filters", raw: raw(0x82, b(0, 1)), err: ErrProtocol},
	{name: "E5 flags 0000", raw: raw(0x80, b(0, 1), s("a"), b(0)), err: ErrMalformed},
	{name: "E5 packet id 0", raw: raw(0x82, b(0, 0), s("a"), b(0)), err: ErrMalformed},
	{name: "qos 3", raw: raw(0x82, b(0, 1), s("a"), b(3)), err: ErrMalformed},
	{name: "qos reserved bits", raw: raw(0x82, b(0, 1), s("a"), b(0x41)), err: ErrMalformed},
	{name: "missing qos", raw: raw(0x82, b(0, 1), s("a")), err: ErrMalformed},
	{name: "E3 hash not last", raw: raw(0x82, b(0, 1), s("a/#/b"), b(0)), err: ErrProtocol},
	{name: "E3 plus in level", raw: raw(0x82, b(0, 1), s("a+"), b(0)), err: ErrProtocol},
	{name: "E3 hash in level", raw: raw(0x82, b(0, 1), s("#a"), b(0)), err: ErrProtocol},
	{name: "E3 empty", raw: raw(0x82, b(0, 1), s(""), b(0)), err: ErrProtocol},
	{name: "E1 filter invalid utf8", raw: raw(0x82, b(0, 1), s("\xc3"), b(0)), err: ErrMalformed},
}

var subackFixtures = []fixture{
	{name: "granted", raw: b(0x90, 5, 0, 9, 0, 1, 0x80), pkt: &Suback{PacketID: 9, ReturnCodes: []byte{0, 1, 0x80}}},
	{name: "bad code", raw: b(0x90, 3, 0, 9, 3), err: ErrMalformed},
	{name: "no codes", raw: b(0x90, 2, 0, 9), err: ErrMalformed},
}

var unsubscribeFixtures = []fixture{
	{name: "two", raw: raw(0xa2, b(0, 3), s("a/#"), s("b")), pkt: &Unsubscribe{PacketID: 3, Filters: []string{"a/#", "b"}}},
	{name: "no filters", raw: raw(0xa2, b(0, 3)), err: ErrProtocol},
	{name: "E5 flags", raw: raw(0xa0, b(0, 3), s("a")), err: ErrMalformed},
	{name: "E3 invalid filter", raw: raw(0xa2, b(0, 3), s("a/#/")), err: ErrProtocol},
}

var emptyFixtures = []fixture{
	{name: "pingreq", raw: b(0xc0, 0), pkt: &Pingreq{}},
	{name: "pingresp", raw: b(0xd0, 0), pkt: &Pingresp{}},
	{name: "disconnect", raw: b(0xe0, 0), pkt: &Disconnect{}},
	{name: "E5 pingreq flags", raw: b(0xc1, 0), err: ErrMalformed},
	{name: "E5 disconnect flags", raw: b(0xe2, 0), err: ErrMalformed},
	{name: "pingreq with body", raw: b(0xc0, 1, 0), err: ErrMalformed},
}

// headerFixtures cover the fixed header itself (D6, D7, E5 types 0 and 15).
var headerFixtures = []fixture{
	{name: "E5 type 0", raw: b(0x00, 0), err: ErrMalformed},
	{name: "E5 type 15", raw: b(0xf0, 0), err: ErrMalformed},
	{name: "D7 remaining length 5 bytes", raw: b(0x30, 0xff, 0xff, 0xff, 0xff, 0x7f), err: ErrMalformed},
	{name: "D7 remaining length continuation never cleared", raw: b(0x30, 0x80, 0x80, 0x80, 0x80, 0x80), err: ErrMalformed},
	{name: "D6 max remaining length no body", raw: b(0x30, 0xff, 0xff, 0xff, 0x7f), err: ErrTooLarge},
	{name: "D6 just over test max", raw: b(0x30, 0x81, 0x08), err: ErrTooLarge},
	{name: "truncated header", raw: b(0x30), err: ErrMalformed},
}

// testMax is the maximum remaining length used by the decode tests and the fuzzer.
const testMax = 1024

func allFixtures() map[string][]fixture {
	return map[string][]fixture{
		"CONNECT": connectFixtures, "CONNACK": connackFixtures, "PUBLISH": publishFixtures,
		"ACK": ackFixtures, "SUBSCRIBE": subscribeFixtures, "SUBACK": subackFixtures,
		"UNSUBSCRIBE": unsubscribeFixtures, "EMPTY": emptyFixtures, "HEADER": headerFixtures,
	}
}
