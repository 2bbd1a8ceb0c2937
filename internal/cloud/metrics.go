package cloud

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/outpost-iot/outpost/internal/connlimit"
	"github.com/outpost-iot/outpost/internal/mqtt/broker"
	seglog "github.com/outpost-iot/outpost/internal/store"
)

// Metric names live here, in one place. IoT Hub's Azure Monitor metrics have no Prometheus
// names, so ours follow Prometheus conventions under the outpost_cloud_ prefix.
const (
	metricConnected            = "outpost_cloud_connected_devices"
	metricMessagesIn           = "outpost_cloud_d2c_messages_total"
	metricC2D                  = "outpost_cloud_c2d_messages_total"
	metricMethods              = "outpost_cloud_direct_methods_total"
	metricTwinOps              = "outpost_cloud_twin_operations_total"
	metricAuthFailures         = "outpost_cloud_auth_failures_total"
	metricProtocolErrors       = "outpost_cloud_protocol_errors_total"
	metricRefusedSubscriptions = "outpost_cloud_refused_subscriptions_total"
	metricEventsTrimmed        = "outpost_cloud_events_trimmed_total"
	metricAuthDelayed          = "outpost_cloud_auth_refusals_delayed_total"
	metricCommitRecords        = "outpost_cloud_event_commit_records"
	metricCommitSync           = "outpost_cloud_event_commit_sync_seconds"
	metricNetworkConns         = "outpost_cloud_network_connections"
	metricPendingConns         = "outpost_cloud_pending_connections"
	metricHTTPRejected         = "outpost_cloud_http_rejected_connections_total"
)

// cloudMetrics are the cloud's Prometheus collectors.
type cloudMetrics struct {
	registry             *prometheus.Registry
	connected            prometheus.Gauge
	messagesIn           prometheus.Counter
	c2d                  *prometheus.CounterVec
	methods              *prometheus.CounterVec
	twinOps              *prometheus.CounterVec
	authFailures         *prometheus.CounterVec
	protocolErrors       *prometheus.CounterVec
	refusedSubscriptions prometheus.Counter
	eventsTrimmed        prometheus.Counter
	authDelayed          prometheus.Counter
	commitRecords        prometheus.Histogram
	commitSync           prometheus.Histogram
	httpRejected         *prometheus.CounterVec
}

func newMetrics() *cloudMetrics {
	m := &cloudMetrics{
		registry:   prometheus.NewRegistry(),
		connected:  prometheus.NewGauge(prometheus.GaugeOpts{Name: metricConnected, Help: "Devices and modules connected over MQTT."}),
		messagesIn: prometheus.NewCounter(prometheus.CounterOpts{Name: metricMessagesIn, Help: "Device-to-cloud messages stored."}),
		c2d: prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricC2D,
			Help: "Cloud-to-device messages by outcome (enqueued, completed, abandoned, expired, dead_lettered, rejected_queue_full)."}, []string{"outcome"}),
		methods: prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricMethods,
			Help: "Direct method invocations by result (invoked, answered, not_online, timeout)."}, []string{"result"}),
		twinOps: prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricTwinOps,
			Help: "Twin operations by kind."}, []string{"operation"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricAuthFailures,
			Help: "Refused authentications by reason."}, []string{"reason"}),
		protocolErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricProtocolErrors,
			Help: "Connections closed for breaking the IoT Hub dialect, by reason."}, []string{"reason"}),
		refusedSubscriptions: prometheus.NewCounter(prometheus.CounterOpts{Name: metricRefusedSubscriptions, Help: "Subscriptions refused (SUBACK 0x80)."}),
		eventsTrimmed:        prometheus.NewCounter(prometheus.CounterOpts{Name: metricEventsTrimmed, Help: "D2C events deleted by retention."}),
		authDelayed:          prometheus.NewCounter(prometheus.CounterOpts{Name: metricAuthDelayed, Help: "Authentication refusals held back because their source keeps failing."}),
		commitRecords: prometheus.NewHistogram(prometheus.HistogramOpts{Name: metricCommitRecords,
			Help:    "D2C events per group commit of the event log (one write and one fdatasync each).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12)}),
		commitSync: prometheus.NewHistogram(prometheus.HistogramOpts{Name: metricCommitSync,
			Help:    "Write and fdatasync latency of one group commit of the event log.",
			Buckets: prometheus.ExponentialBuckets(25e-6, 2, 14)}),
		httpRejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricHTTPRejected,
			Help: "HTTP connections closed by the connection budget, by reason (pending_evicted, max_descriptors)."}, []string{"reason"}),
	}
	m.registry.MustRegister(m.connected, m.messagesIn, m.c2d, m.methods, m.twinOps, m.authFailures,
		m.protocolErrors, m.refusedSubscriptions, m.eventsTrimmed, m.authDelayed, m.httpRejected, m.commitRecords, m.commitSync,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observeCommit records one group commit of the event log (called on its writer goroutine).
func (m *cloudMetrics) observeCommit(c seglog.Commit) {
	m.commitRecords.Observe(float64(c.Records))
	m.commitSync.Observe(c.Sync.Seconds())
}

// Metric names of the MQTT layer.
const (
	metricMQTTConnections = "outpost_mqtt_connections_total"
	metricMQTTOpen        = "outpost_mqtt_open_connections"
	metricMQTTRefused     = "outpost_mqtt_connect_refused_total"
	metricMQTTProtocol    = "outpost_mqtt_protocol_errors_total"
	metricMQTTOversize    = "outpost_mqtt_oversize_packets_total"
	metricMQTTDropped     = "outpost_mqtt_dropped_qos0_total"
	metricMQTTRejected    = "outpost_mqtt_rejected_connections_total"
	metricMQTTThrottled   = "outpost_mqtt_inbound_throttled_total"
)

// brokerMetrics implements broker.Metrics with Prometheus collectors.
type brokerMetrics struct {
	opened    *prometheus.CounterVec
	open      *prometheus.GaugeVec
	refused   *prometheus.CounterVec
	protocol  *prometheus.CounterVec
	oversize  prometheus.Counter
	dropped   prometheus.Counter
	rejected  *prometheus.CounterVec
	throttled prometheus.Counter
}

var (
	_ broker.Metrics         = (*brokerMetrics)(nil)
	_ broker.ThrottleMetrics = (*brokerMetrics)(nil)
)

func newBrokerMetrics(reg *prometheus.Registry) *brokerMetrics {
	m := &brokerMetrics{
		opened:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricMQTTConnections, Help: "Network connections accepted, by transport."}, []string{"transport"}),
		open:      prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: metricMQTTOpen, Help: "Open network connections, by transport."}, []string{"transport"}),
		refused:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricMQTTRefused, Help: "CONNACKs with a non-zero return code, by code."}, []string{"code"}),
		protocol:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricMQTTProtocol, Help: "Connections closed for a protocol violation or timeout, by reason."}, []string{"reason"}),
		oversize:  prometheus.NewCounter(prometheus.CounterOpts{Name: metricMQTTOversize, Help: "Packets refused for exceeding the maximum size."}),
		dropped:   prometheus.NewCounter(prometheus.CounterOpts{Name: metricMQTTDropped, Help: "Outbound QoS 0 messages dropped on a full queue."}),
		rejected:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricMQTTRejected, Help: "Connections refused because of a limit, by reason (max_connections: CONNECT over the cap, answered CONNACK 0x03; max_descriptors: connection budget full, answered CONNACK 0x03 or closed; pending_evicted: closed before CONNACK to make room for a newer connection)."}, []string{"reason"}),
		throttled: prometheus.NewCounter(prometheus.CounterOpts{Name: metricMQTTThrottled, Help: "Times a connection's reading was slowed by the per-connection rate limit."}),
	}
	reg.MustRegister(m.opened, m.open, m.refused, m.protocol, m.oversize, m.dropped, m.rejected, m.throttled)
	return m
}

func (m *brokerMetrics) ConnectionOpened(transport string) {
	m.opened.WithLabelValues(transport).Inc()
	m.open.WithLabelValues(transport).Inc()
}
func (m *brokerMetrics) ConnectionClosed(transport string) { m.open.WithLabelValues(transport).Dec() }
func (m *brokerMetrics) ConnectRefused(code byte) {
	m.refused.WithLabelValues(strconv.Itoa(int(code))).Inc()
}
func (m *brokerMetrics) ProtocolError(reason string)      { m.protocol.WithLabelValues(reason).Inc() }
func (m *brokerMetrics) OversizePacket()                  { m.oversize.Inc() }
func (m *brokerMetrics) DroppedQoS0()                     { m.dropped.Inc() }
func (m *brokerMetrics) ConnectionRejected(reason string) { m.rejected.WithLabelValues(reason).Inc() }

func (m *brokerMetrics) InboundThrottled() { m.throttled.Inc() }

// registerConnections exports the connection budget's counts.
func (m *cloudMetrics) registerConnections(l *connlimit.Limiter) {
	m.registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: metricNetworkConns,
			Help: "Network connections held, MQTT and HTTPS together (the connection budget's use)."},
			func() float64 { return float64(l.Stats().Live) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: metricPendingConns,
			Help: "Network connections not authenticated yet (evictable by newcomers)."},
			func() float64 { return float64(l.Stats().Pending) }))
}
