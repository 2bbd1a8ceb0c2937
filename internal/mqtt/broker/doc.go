// Package broker is Outpost's MQTT 3.1.1 session layer: it accepts network
// connections (TCP, TLS, WebSocket), runs the CONNECT handshake, keeps
// subscriptions (persisted through a SessionStore for CleanSession=0), enforces
// the protocol and resource limits of RELIABILITY.md D1-D11 and E1-E7, and
// hands authenticated traffic to an application Handler. It has no routing or
// retained-message logic of its own: the application decides what a PUBLISH
// means and calls Conn.Publish to deliver.
//
// # Goroutines
//
// Each connection has two goroutines:
//
//   - the read goroutine runs ServeConn: it performs the TLS handshake (if
//     any), reads CONNECT, authenticates, handles takeover, writes CONNACK,
//     then reads packets and calls the Handler in packet order. It owns the
//     connection: when reading ends, for any reason, it closes the network
//     connection, waits for the write goroutine, calls Handler.Offline, removes
//     the connection from the server and finally closes Conn.Done.
//   - the write goroutine is started by the read goroutine after CONNACK and
//     serialises every outbound packet (acks from the read goroutine first,
//     then QoS 1 and QoS 0 publishes). It stops when the connection is closed.
//
// Server.Serve runs one accept loop per listener. Server.Close closes the
// listeners and every connection and waits for all of these goroutines.
//
// # Limits and policies
//
//   - CONNECT must arrive within Config.ConnectTimeout; a TLS handshake gets
//     the same time (D1, D2).
//   - A client keep-alive of N seconds closes the connection after 1.5 x N
//     seconds without a packet [MQTT-3.1.2-24] (D3); keep-alive 0 disables it.
//   - A remaining length over Config.MaxPacketSize closes the connection before
//     the body is allocated (D6, D7).
//   - QoS 2 PUBLISH and PUBREC/PUBREL/PUBCOMP close the connection; QoS 2
//     SUBSCRIBE is granted QoS 1 (IoT Hub behaviour, IOTEDGE-REFERENCE §1.9, E7).
//   - At most Config.MaxSubscriptions filters per session; further ones get
//     SUBACK 0x80 (D11).
//   - Outbound QoS 1: at most Config.MaxInflight unacknowledged per connection;
//     Conn.Publish blocks (bounded by its ctx) while the window is full (D9).
//   - Outbound QoS 0: queued up to Config.OutboundQueue packets and
//     maxQueuedBytes bytes, then dropped and counted (D5).
//   - Any protocol violation closes the connection [MQTT-4.8.0-1] (E1-E7).
package broker
