// Package broker is Outpost's MQTT 3.1.1 session layer: it accepts network
// connections (TCP, TLS, WebSocket), runs the CONNECT handshake, keeps
// subscriptions (persisted through a SessionStore for CleanSession=0), enforces
// the protocol and resource limits of RELIABILITY.md D1-D11 and E1-E7, and
// hands authenticated traffic to an application Handler. It has no routing or
// retained-message logic of its own: the application decides what a PUBLISH
// means and calls Conn.PublishAsync (or Conn.Publish, which waits) to deliver.
//
// # Inbound and outbound publishes
//
// Both directions are asynchronous, ordered and pipelined, with a completion callback
// called exactly once. Inbound, Handler.PublishAsync gets each PUBLISH in arrival order
// without the read goroutine waiting; its done gives the verdict, and PUBACKs go out in
// arrival order [MQTT-4.6.0-2], at most Config.MaxInboundInflight awaited per connection
// before reading stops. Outbound, Conn.PublishAsync queues a PUBLISH without blocking;
// the write goroutine assigns its packet id as it enters the inflight window
// (Config.MaxInflight written and unacknowledged, D9) and writes publishes of one QoS in
// call order; done comes on the PUBACK (QoS 1), once written (QoS 0), or with an error:
// ErrQueueFull at once when Config.OutboundQueue publishes of that QoS wait unwritten
// (D5), ctx's error when ctx ends before the PUBLISH was written (it is withdrawn and
// never sent), ErrConnClosed when the connection ends first. Once written, a publish
// holds its packet id until its PUBACK or the end of the connection, whatever its ctx.
// The broker keeps no undelivered messages across connections: the application owns
// them (a C2D queue, the edge hub's store) and sends them again to a resumed session
// with Publish.Dup set [MQTT-4.4.0-1, MQTT-3.3.1-1], under new packet ids (the ids are
// per connection; QoS 1 receivers do not deduplicate by id). Conn.Context ends when the
// connection starts to close, for work tied to it.
//
// # Goroutines
//
// Each connection has one goroutine while idle, two while it has something to write:
//
//   - the read goroutine runs ServeConn: it performs the TLS handshake (if
//     any), reads CONNECT, authenticates, handles takeover, writes CONNACK,
//     then reads packets and calls the Handler in packet order. It owns the
//     connection: when reading ends, for any reason, it closes the network
//     connection, waits for the write goroutine, ends the outstanding outbound
//     publishes (their done gets ErrConnClosed), calls Handler.Offline, removes
//     the connection from the server and finally closes Conn.Done.
//   - the write goroutine is started by the first packet queued on an idle
//     connection and serialises every outbound packet (acks first, then QoS 1,
//     then QoS 0 publishes) through a pooled write buffer; it returns, with the
//     buffer, once nothing is writable (QoS 1 publishes may wait for the window: the
//     PUBACK that frees a slot starts it again) or the connection is closed.
//
// Inbound verdicts need no goroutine: the done callback queues the PUBACKs that are
// next in arrival order. A plain TCP connection waits for its next
// packet without a read buffer and takes one from a pool while bytes are buffered;
// TLS and WebSocket connections keep a 4 KiB buffer of their own. So an idle
// connection costs one goroutine, its socket (and TLS state) and a few hundred bytes
// of structures (D4).
//
// Server.Serve runs one accept loop per listener. Server.Close closes the
// listeners, drains every authenticated connection and waits for all of these
// goroutines. Draining (RELIABILITY A10) stops the read goroutine at its next
// read (a read deadline of now), lets the publishes already handed to the
// Handler get their verdicts, has the write goroutine write the PUBACKs owed,
// half-closes the connection and discards what the client still sends for a
// moment (closing a socket with unread data would reset it and lose the last
// PUBACKs), then closes; Config.DrainTimeout (default 5 s) bounds it all.
//
// # Limits and policies
//
//   - CONNECT must arrive within Config.ConnectTimeout; a TLS handshake gets
//     the same time (D1, D2).
//   - Connections before CONNACK have a budget of their own (D1):
//     Config.MaxPendingConnects in all and Config.MaxPendingPerSource per remote
//     IP. When a cap is full, a new connection evicts the OLDEST pending one (of
//     its own source for the per-source cap, else of any source) and is counted
//     as ConnectionRejected("pending_evicted"); so a newcomer always gets its
//     ConnectTimeout to authenticate, and an attacker who holds idle connections
//     or reconnects in a loop cannot keep a device with valid credentials out.
//   - At most Config.MaxConnections authenticated connections (D4): a CONNECT
//     over the cap is answered CONNACK 0x03. All connections, pending or not,
//     hold a ticket of Config.Limiter, the process's descriptor budget, shared
//     with the cloud's HTTPS listener (package connlimit); when it is full of
//     authenticated connections a new one is answered CONNACK 0x03 if its
//     CONNECT arrives within 2 s, else closed; the answering is bounded (64 at a
//     time), so neither it nor the cap ever holds up the accept loop, which only
//     accepts and starts a goroutine.
//   - A client keep-alive of N seconds closes the connection after 1.5 x N
//     seconds without a packet [MQTT-3.1.2-24] (D3). N is capped at
//     Config.MaxKeepAlive (default 1177 s, IoT Hub's client maximum:
//     IOTEDGE-REFERENCE §1.9), and keep-alive 0 is held to it too. MQTT 3.1.1
//     cannot tell the client (it has no Server Keep Alive), so the cap does not
//     make clients ping more often; it bounds how long a dead connection is kept.
//   - A CONNECT with a client id in use closes the id's connection and waits,
//     at most Config.TakeoverTimeout (default 10 s), until the id's previous
//     connection has ended and its Handler.Offline returned [MQTT-3.1.4-2]
//     (D10); so Offline and Online alternate per client id, also along a chain
//     of takeovers. On timeout the CONNECT is refused with CONNACK 0x03 and a
//     warning is logged; the id stays blocked, each CONNECT refused in turn,
//     until that Offline returns.
//   - Inbound packets may be rate-limited per connection (D8): a token bucket of
//     Config.InboundBurst (default 200) refilled at Config.MaxInboundRate
//     packets per second (default 0, no limit: the limit is the role's, IoT Hub's
//     1,000/s is the cloud's). A client over the rate is slowed, not
//     dropped: the read goroutine waits for a token before it handles the
//     packet, so QoS 1 semantics hold, TCP flow control pushes back on the
//     client, and other connections, each with its own goroutines, keep their
//     latency. PUBACKs for the server's own deliveries are not counted.
//   - A remaining length over Config.MaxPacketSize closes the connection before
//     the body is allocated (D6, D7).
//   - QoS 2 PUBLISH and PUBREC/PUBREL/PUBCOMP close the connection; QoS 2
//     SUBSCRIBE is granted QoS 1 (IoT Hub behaviour, IOTEDGE-REFERENCE §1.9, E7).
//   - At most Config.MaxSubscriptions filters per session; further ones get
//     SUBACK 0x80 (D11).
//   - Outbound QoS 1: at most Config.MaxInflight unacknowledged per connection;
//     further ones wait unwritten, at most Config.OutboundQueue and maxQueuedBytes,
//     then they are refused with ErrQueueFull (D9); Conn.Publish waits (bounded by its
//     ctx) for the PUBACK.
//   - Outbound QoS 0: queued up to Config.OutboundQueue packets and
//     maxQueuedBytes bytes, then dropped and counted (D5).
//   - Logs are rate-limited twice: each connection has a budget of its own (1 record/s,
//     bursts of 5) within the server's (10/s, bursts of 50), so one noisy client cannot
//     silence the others, and a flood of connections still cannot flood the log.
//   - Any protocol violation closes the connection [MQTT-4.8.0-1] (E1-E7).
package broker
