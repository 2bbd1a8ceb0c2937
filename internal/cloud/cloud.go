// Package cloud composes the IoT Hub stand-in: registry, twins, events, C2D, methods, the MQTT
// device endpoint and the service REST API.
package cloud

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Config configures one cloud instance.
type Config struct {
	DataDir         string        // state, CA and server certificate
	Hostnames       []string      // first is the hub hostname used in connection strings
	MQTTListen      string        // MQTT over TLS, e.g. "0.0.0.0:8883"
	HTTPSListen     string        // HTTPS: REST API and MQTT over WebSocket, e.g. "0.0.0.0:443"
	PlainMQTTListen string        // plain MQTT, development only; "" disables
	PlainHTTPListen string        // plain HTTP, development only; "" disables
	MetricsListen   string        // Prometheus metrics; "" disables
	CertFile        string        // optional user-provided server certificate (PEM)
	KeyFile         string        // its key
	EventRetention  time.Duration // D2C event store retention; 0 = default (7 days)
	Logger          *slog.Logger
}

// Run serves until ctx is done. The cloud is ready once DataDir/ca.pem exists and every listener is bound.
func Run(ctx context.Context, cfg Config) error {
	return errors.New("cloud: not implemented yet")
}

// ServiceConnectionString returns the connection string of a shared access policy
// (e.g. "iothubowner") persisted in dataDir.
func ServiceConnectionString(dataDir, policy string) (string, error) {
	return "", errors.New("cloud: not implemented yet")
}
