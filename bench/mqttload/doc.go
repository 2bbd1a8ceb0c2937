// Package mqttload drives N MQTT 3.1.1 devices publishing QoS 1 telemetry against one broker
// and measures publish-to-PUBACK latency and throughput. It is the engine of bench/ingest.
//
// # Model
//
// Every device has its own connection (clean session 0, like the Azure SDKs). Run connects all
// devices (bounded concurrency), runs an unmeasured warm-up, then starts the measured phase for all
// devices at once. Each device keeps at most Config.Window PUBLISHes unacknowledged: Window 1 is a
// pure request/response latency measurement, larger windows measure pipelined throughput (and
// their latency includes the time spent queued behind the window). Latency is taken from just
// before the PUBLISH is written to the socket until its PUBACK has been parsed. Throughput is
// acknowledged messages over the wall time of the measured phase. The phase ends when every
// device has sent Config.Messages, or when Config.Duration expires (then outstanding PUBACKs are
// still awaited and Result.Truncated is set).
//
// # Steady rate (open loop)
//
// With Config.Rate the measured phase is open-loop instead: each device has a Schedule (message k
// due at start + k/Rate, devices staggered by 1/(Rate·N) so the aggregate is even) and runs for
// Config.Duration. A message is written when it is due and the window has a free slot; its
// latency runs from its scheduled time, not from the write, so a broker stall that keeps the
// window full shows in every message it delayed (no coordinated omission). Messages due but
// never written by the end, for want of a slot, are counted in Result.Behind, and how late each
// write was against its schedule in Result.SendLag. The last 2 ms before a due time are slept in
// nanosleep(2) rather than on a Go timer: the runtime's timers fire on the netpoller's
// millisecond timeout, which measured 0.5 ms of lateness at the median (against about 75 µs),
// more than mosquitto's whole round trip. Only ClientRaw has this mode.
//
// # Client choice: hand-rolled, not paho
//
// The default client (ClientRaw) is a minimal MQTT 3.1.1 client written here: CONNECT/CONNACK,
// QoS 1 PUBLISH from one prebuilt buffer (only the packet identifier is patched), PUBACK, and
// DISCONNECT; one reader goroutine per connection stamps PUBACKs on arrival; packet identifiers
// come from a free list so out-of-order PUBACKs are handled. github.com/eclipse/paho.mqtt.golang
// stays available as ClientPaho for comparison.
//
// The choice was measured against Debian's mosquitto 2.0.11 on loopback (2 vCPUs, shared machine,
// median of 3 rounds, 128-byte payload):
//
//	                                raw                 paho
//	1 device,  inflight 1   p50   20-22 µs            70-87 µs
//	                        p99   45-52 µs            160-1500 µs
//	10 devices, inflight 1  msg/s 57-60 k, p50 100-174 µs   30-37 k, p50 540-560 µs
//	10 devices, inflight 16 msg/s 80-87 k             32-44 k
//
// With paho the client costs more than the broker does: it halves the measured throughput and
// triples the median latency, so a broker-to-broker ratio would mostly compare paho with itself.
// The raw client keeps the client's share small enough for the ratios to reflect the brokers.
package mqttload
