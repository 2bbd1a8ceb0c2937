package broker

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/outpost-iot/outpost/internal/mqtt/packet"
)

func TestWebSocket_CoderClient(t *testing.T) {
	ts := startServer(t, Config{})
	url := ts.serveWebSocket(t) + "/$iothub/websocket"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"mqtt"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	nc := websocket.NetConn(ctx, ws, websocket.MessageBinary)
	c := newRawClient(t, nc)
	c.send(connectPacket("ws-dev", true, 30))
	if ack := c.read().(*packet.Connack); ack.ReturnCode != 0 {
		t.Fatalf("CONNACK %d", ack.ReturnCode)
	}
	waitFor(t, 5*time.Second, "online", func() bool { return ts.Lookup("ws-dev") != nil })
	if tr := ts.Lookup("ws-dev").transport; tr != "ws" {
		t.Fatalf("transport %q", tr)
	}
	c.send(&packet.Publish{QoS: 1, PacketID: 4, Topic: "devices/ws-dev/messages/events/", Payload: []byte("hi")})
	if ack := c.read().(*packet.Puback); ack.PacketID != 4 {
		t.Fatalf("PUBACK %d", ack.PacketID)
	}
	c.write([]byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x7f}) // D7 over WebSocket too
	c.expectClosed(5 * time.Second)
}

func TestWebSocket_RequiresMQTTSubprotocol(t *testing.T) {
	ts := startServer(t, Config{})
	url := ts.serveWebSocket(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"chat"}})
	if err == nil {
		t.Fatal("upgrade accepted without the mqtt sub-protocol")
	}
	if resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("response %v", resp)
	}
}

func pahoClient(t *testing.T, broker, id string) paho.Client {
	t.Helper()
	opts := paho.NewClientOptions().AddBroker(broker).SetClientID(id).SetCleanSession(false).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).SetKeepAlive(30 * time.Second)
	cl := paho.NewClient(opts)
	if tok := cl.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("paho connect: %v", tok.Error())
	}
	t.Cleanup(func() { cl.Disconnect(100) })
	return cl
}

// TestPaho_Interop uses eclipse/paho.mqtt.golang as an independent client:
// connect, subscribe, QoS 1 both ways, over TCP and WebSocket.
func TestPaho_Interop(t *testing.T) {
	ts := startServer(t, Config{})
	for name, broker := range map[string]string{"tcp": "tcp://" + ts.addr, "ws": ts.serveWebSocket(t)} {
		t.Run(name, func(t *testing.T) {
			id := "paho-" + name
			cl := pahoClient(t, broker, id)
			got := make(chan paho.Message, 1)
			filter := "devices/" + id + "/messages/devicebound/#"
			tok := cl.Subscribe(filter, 1, func(_ paho.Client, m paho.Message) { got <- m })
			if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				t.Fatalf("subscribe: %v", tok.Error())
			}
			if codes := tok.(*paho.SubscribeToken).Result(); codes[filter] != 1 {
				t.Fatalf("granted %v", codes)
			}
			pt := cl.Publish("devices/"+id+"/messages/events/a=b", 1, false, []byte("up"))
			if !pt.WaitTimeout(10*time.Second) || pt.Error() != nil {
				t.Fatalf("publish: %v", pt.Error())
			}
			waitFor(t, 5*time.Second, "inbound publish", func() bool {
				for _, e := range ts.rec.find("publish") {
					if e.clientID == id && string(e.pub.Payload) == "up" && e.pub.QoS == 1 {
						return true
					}
				}
				return false
			})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			topic := "devices/" + id + "/messages/devicebound/%24.mid=1"
			if err := ts.Lookup(id).Publish(ctx, topic, []byte("down"), 1); err != nil {
				t.Fatalf("server publish: %v", err)
			}
			select {
			case m := <-got:
				if m.Topic() != topic || string(m.Payload()) != "down" || m.Qos() != 1 {
					t.Fatalf("paho got %q %q qos %d", m.Topic(), m.Payload(), m.Qos())
				}
			case <-ctx.Done():
				t.Fatal("paho did not receive the publish")
			}
		})
	}
}
