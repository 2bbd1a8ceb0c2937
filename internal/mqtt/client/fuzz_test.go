package client_test

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/mqtt/client"
	"github.com/outpost-iot/outpost/internal/mqtt/packet"
)

// FuzzServerStream feeds arbitrary bytes from the server after CONNACK to a
// client with three QoS 1 publishes pending. The codec is fuzzed on its own;
// this covers the client's session state machine above it (PUBACK and SUBACK
// matching, inbound acks, violations): whatever arrives, the client must not
// panic, must end when the server closes, and must call every done exactly once,
// in order.
func FuzzServerStream(f *testing.F) {
	enc := func(ps ...packet.Packet) []byte {
		var b []byte
		for _, p := range ps {
			var err error
			if b, err = p.Append(b); err != nil {
				f.Fatal(err)
			}
		}
		return b
	}
	f.Add(enc(&packet.Puback{PacketID: 1}, &packet.Puback{PacketID: 2}, &packet.Puback{PacketID: 3}))
	f.Add(enc(&packet.Puback{PacketID: 3}, &packet.Puback{PacketID: 1}))
	f.Add(enc(&packet.Publish{QoS: 1, Topic: "a/b", PacketID: 1, Payload: []byte("x")}, &packet.Pingresp{}))
	f.Add(enc(&packet.Publish{Topic: "a"}, &packet.Puback{PacketID: 1}, &packet.Puback{PacketID: 1}))
	f.Add(enc(&packet.Suback{PacketID: 1, ReturnCodes: []byte{0x80}}, &packet.Unsuback{PacketID: 2}))
	f.Add(enc(&packet.Connack{}, &packet.Disconnect{}))
	f.Add([]byte{0x40, 0x02, 0x00})
	f.Fuzz(func(t *testing.T, stream []byte) {
		cliConn, srvConn := net.Pipe()
		var wg sync.WaitGroup
		defer wg.Wait()
		defer func() { _ = srvConn.Close() }()
		start := make(chan struct{})
		wg.Add(1)
		go func() { // the fake server; ends when srvConn is closed
			defer wg.Done()
			r := packet.NewReader(srvConn, 0)
			if _, err := r.ReadPacket(); err != nil {
				return
			}
			if _, err := srvConn.Write([]byte{0x20, 2, 0, 0}); err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); _, _ = io.Copy(io.Discard, srvConn) }()
			<-start
			_, _ = srvConn.Write(stream)
			_ = srvConn.Close()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		c, err := client.Connect(ctx, cliConn, client.Options{ClientID: "fuzz", OnPublish: func(_ *packet.Publish, ack func()) {
			ack()
		}})
		if err != nil {
			close(start)
			t.Fatalf("connect: %v", err)
		}
		d := newDoneRecorder()
		for i := range 3 {
			if err := c.PublishAsync(ctx, &packet.Publish{QoS: 1, Topic: "t"}, d.done(i)); err != nil {
				close(start)
				t.Fatalf("publish %d: %v", i, err)
			}
		}
		close(start)
		select {
		case <-c.Done():
		case <-time.After(wait):
			t.Fatal("client still up after the server closed")
		}
		d.check(t, 3)
	})
}
