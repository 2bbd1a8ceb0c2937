package broker

import (
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/mqtt/packet"
)

// rawPkt builds a packet from its first byte and body parts (any bytes, valid or not).
func rawPkt(first byte, parts ...[]byte) []byte {
	var body []byte
	for _, p := range parts {
		body = append(body, p...)
	}
	out := []byte{first}
	n := len(body)
	for {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		out = append(out, b)
		if n == 0 {
			return append(out, body...)
		}
	}
}

func str(v string) []byte { return append([]byte{byte(len(v) >> 8), byte(len(v))}, v...) }

func bs(v ...byte) []byte { return v }

func connectRaw(flags byte, payload ...[]byte) []byte {
	return rawPkt(0x10, append([][]byte{str("MQTT"), bs(4, flags, 0, 0)}, payload...)...)
}

// closeCases are raw packets sent after a successful CONNECT; each must close the
// connection with no response (RELIABILITY.md E1-E7, D7).
var closeCases = []struct {
	name   string
	raw    []byte
	reason string // Metrics.ProtocolError label
}{
	{"E1 topic U+0000", rawPkt(0x30, str("a\x00b")), "malformed"},
	{"E1 topic surrogate", rawPkt(0x30, str("a\xed\xa0\x80")), "malformed"},
	{"E1 topic overlong", rawPkt(0x30, str("\xc0\xaf")), "malformed"},
	{"E1 topic truncated utf8", rawPkt(0x30, str("\xe2\x82")), "malformed"},
	{"E1 filter invalid utf8", rawPkt(0x82, bs(0, 1), str("\xff"), bs(0)), "malformed"},
	{"E2 publish plus", rawPkt(0x30, str("a/+")), "protocol"},
	{"E2 publish hash", rawPkt(0x32, str("#"), bs(0, 1)), "protocol"},
	{"E3 filter a/#/b", rawPkt(0x82, bs(0, 1), str("a/#/b"), bs(0)), "protocol"},
	{"E3 filter a+", rawPkt(0x82, bs(0, 1), str("a+"), bs(0)), "protocol"},
	{"E3 filter #a", rawPkt(0x82, bs(0, 1), str("#a"), bs(0)), "protocol"},
	{"E3 filter empty", rawPkt(0x82, bs(0, 1), str(""), bs(0)), "protocol"},
	{"E3 unsubscribe invalid", rawPkt(0xa2, bs(0, 1), str("a/#/b")), "protocol"},
	{"E5 subscribe reserved flags", rawPkt(0x80, bs(0, 1), str("a"), bs(0)), "malformed"},
	{"E5 unsubscribe reserved flags", rawPkt(0xa0, bs(0, 1), str("a")), "malformed"},
	{"E5 pingreq flags", bs(0xc1, 0), "malformed"},
	{"E5 disconnect flags", bs(0xe4, 0), "malformed"},
	{"E5 puback flags", bs(0x41, 2, 0, 1), "malformed"},
	{"E5 qos 3", rawPkt(0x36, str("t"), bs(0, 1)), "malformed"},
	{"E5 dup on qos 0", rawPkt(0x38, str("t")), "malformed"},
	{"E5 publish packet id 0", rawPkt(0x32, str("t"), bs(0, 0)), "malformed"},
	{"E5 subscribe packet id 0", rawPkt(0x82, bs(0, 0), str("a"), bs(0)), "malformed"},
	{"E5 subscribe no filters", rawPkt(0x82, bs(0, 1)), "protocol"},
	{"E5 subscribe qos 3", rawPkt(0x82, bs(0, 1), str("a"), bs(3)), "malformed"},
	{"E5 second CONNECT", connectRaw(0x02, str("again")), "second_connect"},
	{"E5 type 0", bs(0x00, 0), "malformed"},
	{"E5 type 15", bs(0xf0, 0), "malformed"},
	{"E5 server-only CONNACK", bs(0x20, 2, 0, 0), "server_only_packet"},
	{"E5 server-only SUBACK", bs(0x90, 3, 0, 1, 0), "server_only_packet"},
	{"E5 server-only UNSUBACK", bs(0xb0, 2, 0, 1), "server_only_packet"},
	{"E5 server-only PINGRESP", bs(0xd0, 0), "server_only_packet"},
	{"E7 qos 2 publish", rawPkt(0x34, str("devices/d/messages/events/"), bs(0, 1)), "qos2"},
	{"E7 pubrel", bs(0x62, 2, 0, 1), "qos2"},
	{"E7 pubrec", bs(0x50, 2, 0, 1), "qos2"},
	{"E7 pubcomp", bs(0x70, 2, 0, 1), "qos2"},
	{"D7 remaining length 5 bytes", bs(0x30, 0xff, 0xff, 0xff, 0xff, 0x7f), "malformed"},
	{"D6 remaining length max, no body", bs(0x30, 0xff, 0xff, 0xff, 0x7f), "too_large"},
	{"D6 over MaxPacketSize", bs(0x30, 0x81, 0x40), "too_large"},
	{"trailing bytes in PINGREQ", bs(0xc0, 1, 0), "malformed"},
}

func TestProtocol_E1toE7_CloseAfterConnect(t *testing.T) {
	ts := startServer(t, Config{MaxPacketSize: 8 << 10})
	for _, tc := range closeCases {
		t.Run(tc.name, func(t *testing.T) {
			before := ts.metrics.reason(tc.reason)
			c := mustConnect(t, ts, "c-"+tc.name)
			c.write(tc.raw)
			if got := c.expectClosed(5 * time.Second); len(got) != 0 {
				t.Fatalf("server answered %v before closing", got[0].Type())
			}
			waitFor(t, 5*time.Second, "metric "+tc.reason, func() bool { return ts.metrics.reason(tc.reason) > before })
			if pubs := ts.rec.find("publish"); len(pubs) != 0 {
				t.Fatalf("nothing may be routed; got %d publishes", len(pubs))
			}
		})
	}
	if ts.metrics.oversize.Load() != 2 {
		t.Errorf("oversize counter = %d, want 2", ts.metrics.oversize.Load())
	}
}

// firstPacketCases are sent as the first packet of a connection.
var firstPacketCases = []struct {
	name    string
	raw     []byte
	connack int // expected CONNACK return code before close, -1 for none
	reason  string
}{
	{"E5 PUBLISH before CONNECT", rawPkt(0x30, str("t")), -1, "before_connect"},
	{"E5 PINGREQ before CONNECT", bs(0xc0, 0), -1, "before_connect"},
	{"E5 SUBSCRIBE before CONNECT", rawPkt(0x82, bs(0, 1), str("a"), bs(0)), -1, "before_connect"},
	{"E6 level 3", rawPkt(0x10, str("MQTT"), bs(3, 2, 0, 0), str("c")), 1, "protocol_level"},
	{"E6 level 5", rawPkt(0x10, str("MQTT"), bs(5, 2, 0, 0), bs(0), str("c")), 1, "protocol_level"},
	{"E6 MQIsdp level 3", rawPkt(0x10, str("MQIsdp"), bs(3, 2, 0, 0), str("c")), 1, "protocol_level"},
	{"bad protocol name", rawPkt(0x10, str("HTTP"), bs(4, 2, 0, 0), str("c")), -1, "protocol"},
	{"E5 reserved connect flag", connectRaw(0x03, str("c")), -1, "malformed"},
	{"E5 CONNECT flags 0001", rawPkt(0x11, str("MQTT"), bs(4, 2, 0, 0), str("c")), -1, "malformed"},
	{"password without username", connectRaw(0x42, str("c"), str("p")), -1, "malformed"},
	{"will qos without will flag", connectRaw(0x0a, str("c")), -1, "malformed"},
	{"E1 client id U+0000", connectRaw(0x02, str("a\x00")), -1, "malformed"},
	{"E1 client id surrogate", connectRaw(0x02, str("\xed\xb0\x80")), -1, "malformed"},
	{"E1 username overlong", connectRaw(0x82, str("c"), str("\xe0\x80\x80")), -1, "malformed"},
	{"E1 will topic invalid", connectRaw(0x06, str("c"), str("\xff"), str("m")), -1, "malformed"},
	{"E2 will topic wildcard", connectRaw(0x06, str("c"), str("a/+"), str("m")), -1, "protocol"},
	{"empty client id with CleanSession=0", connectRaw(0x00, str("")), 2, ""},
}

func TestProtocol_E5_E6_FirstPacket(t *testing.T) {
	ts := startServer(t, Config{})
	for _, tc := range firstPacketCases {
		t.Run(tc.name, func(t *testing.T) {
			before := ts.metrics.reason(tc.reason)
			c := dial(t, ts.addr)
			c.write(tc.raw)
			got := c.expectClosed(5 * time.Second)
			switch {
			case tc.connack < 0 && len(got) != 0:
				t.Fatalf("server answered %v", got[0].Type())
			case tc.connack >= 0 && (len(got) != 1 || got[0].(*packet.Connack).ReturnCode != byte(tc.connack)):
				t.Fatalf("got %#v, want one CONNACK %d", got, tc.connack)
			}
			if tc.reason != "" {
				waitFor(t, 5*time.Second, "metric "+tc.reason, func() bool { return ts.metrics.reason(tc.reason) > before })
			}
		})
	}
	if n := len(ts.rec.find("online")); n != 0 {
		t.Fatalf("%d connections went online", n)
	}
}

func TestProtocol_PingAndDisconnect(t *testing.T) {
	ts := startServer(t, Config{})
	c := mustConnect(t, ts, "p")
	c.send(&packet.Pingreq{})
	if _, ok := c.read().(*packet.Pingresp); !ok {
		t.Fatal("expected PINGRESP")
	}
	c.send(&packet.Disconnect{})
	c.expectClosed(5 * time.Second)
	waitFor(t, 5*time.Second, "offline", func() bool { return len(ts.rec.find("offline")) == 1 })
	if off := ts.rec.find("offline")[0]; off.err != nil || off.will != nil {
		t.Fatalf("offline after DISCONNECT: err=%v will=%v", off.err, off.will)
	}
}

func TestProtocol_AuthRefused(t *testing.T) {
	ts := startServer(t, Config{})
	ts.rec.refuse = func(req *ConnectRequest) error {
		if req.Username != "good" {
			return &ConnectError{Code: CodeNotAuthorized, Reason: "bad sas"}
		}
		return nil
	}
	cp := connectPacket("d", true, 0)
	cp.HasUsername, cp.Username, cp.HasPassword, cp.Password = true, "bad", true, []byte("secret")
	c, ack := connect(t, ts.addr, cp)
	if ack.ReturnCode != CodeNotAuthorized {
		t.Fatalf("CONNACK %d, want 5", ack.ReturnCode)
	}
	c.expectClosed(5 * time.Second)
	cp.Username = "good"
	_, ack = connect(t, ts.addr, cp)
	if ack.ReturnCode != 0 {
		t.Fatalf("CONNACK %d, want 0", ack.ReturnCode)
	}
}
