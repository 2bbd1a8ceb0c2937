package testutil

import (
	"net"
	"sync/atomic"
	"time"

	"github.com/outpost-iot/outpost/internal/mqtt/packet"
)

// BurstQoS1 writes QoS 1 PUBLISHes number 1 to n (payload(seq) each) to topic over nc and
// returns at the first write error (the server closed the connection) or after the last.
// Packet identifiers cycle through 1..65535. It does not fail the test, so it may run on
// any goroutine.
func BurstQoS1(nc net.Conn, topic string, n int, payload func(seq int) []byte) {
	for seq := 1; seq <= n; seq++ {
		b, _ := packet.Encode(&packet.Publish{Topic: topic, QoS: 1, PacketID: uint16(seq%65535 + 1), Payload: payload(seq)})
		if _, err := nc.Write(b); err != nil {
			return
		}
	}
}

// CountPubacks reads packets from r (over nc) and adds one to acks for each PUBACK until a
// read fails: the server closed the connection, or 30 s passed without a packet. It does
// not fail the test, so it may run on any goroutine.
func CountPubacks(nc net.Conn, r *packet.Reader, acks *atomic.Int64) {
	for {
		_ = nc.SetReadDeadline(time.Now().Add(30 * time.Second))
		p, err := r.ReadPacket()
		if err != nil {
			return
		}
		if _, ok := p.(*packet.Puback); ok {
			acks.Add(1)
		}
	}
}
