package cloud

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
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
	}
	m.registry.MustRegister(m.connected, m.messagesIn, m.c2d, m.methods, m.twinOps, m.authFailures,
		m.protocolErrors, m.refusedSubscriptions, m.eventsTrimmed,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
