// Package client is Outpost's MQTT 3.1.1 client session layer, built on the
// same codec as the broker (internal/mqtt/packet). It exists for the edge
// hub's upstream link, the product's core path towards the cloud: every
// message a module or leaf device hands the edge hub while the internet is
// down leaves through this client once it returns.
//
// # Why it is written by hand
//
// The upstream link needs what general-purpose clients (paho, used by our
// interop tests) do not give together:
//
//   - many QoS 1 publishes in flight at once (a window, pipelined on one
//     connection) with completion callbacks called in publish order, so the
//     store's delivery checkpoint moves forward monotonically, exactly once
//     per message, and never past a message the server has not acknowledged
//     (RELIABILITY B6: an ack lost with the connection means a redelivery,
//     never a loss);
//   - exact control of reconnects: no hidden reconnect loop and no hidden
//     resend queue. When the connection ends, every pending publish fails and
//     the caller, which owns the durable copy, resends it on the next
//     connection with DUP set [MQTT-4.4.0-1];
//   - fast detection of a dead link, including the half-open case where
//     packets vanish without a reset (RELIABILITY B2);
//   - inbound QoS 1 acknowledged only when the application says the message
//     is safe (durable), and in arrival order [MQTT-4.6.0-2];
//   - the strict codec the broker already trusts, fuzzed once for both sides.
//
// # Connections and reconnects
//
// A Client is one network connection: Connect (on a net.Conn the caller
// dialled), Dial (TCP or TLS) or DialWebSocket. It never reconnects. When it
// ends, for whatever reason, Done is closed after every pending PublishAsync
// callback has been called and every goroutine has returned; Err says why
// (errors.Is(err, ErrConnectionLost) for anything but the caller's own Close
// or Disconnect). Reconnecting is creating a new Client with the same
// Options: a Client holds nothing the next one needs (packet identifiers,
// windows and buffers start afresh), so the layer above (the upstream link)
// owns reconnects, back-off and resending.
//
// # Goroutines
//
// Each Client runs five goroutines, all started by Connect and all stopped
// before Done is closed:
//
//   - read: reads packets, completes PUBACK/SUBACK/UNSUBACK, calls
//     Options.OnPublish (which therefore must not block);
//   - write: the only writer of the connection; it writes what the other
//     goroutines queue, in queue order, batching into one flush;
//   - keep-alive (only with Options.KeepAlive > 0): sends PINGREQ when the
//     link has been quiet for the keep-alive in either direction, and ends the
//     connection with ErrKeepAliveTimeout when nothing at all has been
//     received for 1.5 x the keep-alive;
//   - callbacks: calls the done functions of PublishAsync, one at a time, in
//     the order of the PublishAsync calls;
//   - supervisor: waits for the end, closes the connection, waits for read,
//     write and keep-alive, fails what is pending, waits for callbacks, closes
//     Done.
//
// # Lock order
//
// Client.mu guards the session state (pending publishes, packet identifiers,
// the write queue). It is never held while calling user code, and it is the
// only lock.
package client
