package broker

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/mqtt/packet"
)

// FuzzConnInput feeds arbitrary bytes after a valid CONNECT into a connection:
// the server never panics, and the connection always ends once the client goes away.
func FuzzConnInput(f *testing.F) {
	for _, tc := range closeCases {
		f.Add(tc.raw)
	}
	for _, tc := range firstPacketCases {
		f.Add(tc.raw)
	}
	sub, _ := packet.Encode(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a/#", QoS: 2}}})
	pub, _ := packet.Encode(&packet.Publish{QoS: 1, PacketID: 2, Topic: "a/b", Payload: []byte("x")})
	f.Add(append(sub, pub...))
	rec := &recorder{}
	s := New(Config{Auth: rec, ConnectTimeout: time.Second, MaxPacketSize: 4096})
	defer s.Close()
	connect, _ := packet.Encode(connectPacket("fuzz", false, 0))
	f.Fuzz(func(t *testing.T, in []byte) {
		client, server := net.Pipe()
		ended := make(chan struct{})
		go func() {
			defer close(ended)
			s.ServeConn(server, "tcp")
		}()
		go func() { _, _ = io.Copy(io.Discard, client) }()
		_ = client.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = client.Write(append(append([]byte(nil), connect...), in...))
		_ = client.Close()
		select {
		case <-ended:
		case <-time.After(5 * time.Second):
			t.Fatal("connection did not end after the client closed")
		}
	})
}
