package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/outpost-iot/outpost/internal/cloud"
)

// Defaults of `outpost cloud serve`.
const (
	DefaultDataDir       = "./outpost-data"
	DefaultHostname      = "localhost"
	DefaultMQTTListen    = "0.0.0.0:8883"
	DefaultHTTPSListen   = "0.0.0.0:443"
	DefaultMetricsListen = "127.0.0.1:9600"
	DefaultRetention     = 7 * 24 * time.Hour
)

func newCloudCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "cloud", Short: "Run and administer the IoT Hub stand-in", RunE: needSubcommand}
	cmd.AddCommand(newCloudServeCmd(e), newCloudConnStrCmd(e))
	return cmd
}

func newCloudServeCmd(e *env) *cobra.Command {
	var (
		cfg        cloud.Config
		hostnames  []string
		level      string
		format     string
		clientRate float64
		maxConns   int
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the cloud: MQTT device endpoint, service REST API, metrics",
		Args:  exactArgs(),
		RunE: func(c *cobra.Command, _ []string) error {
			log, err := newLogger(e.stderr, level, format)
			if err != nil {
				return err
			}
			cfg.Hostnames = splitList(hostnames)
			if len(cfg.Hostnames) == 0 {
				return usagef("--hostname: give at least one host name")
			}
			if (cfg.CertFile == "") != (cfg.KeyFile == "") {
				return usagef("--cert and --key go together")
			}
			if cfg.EventRetention < 0 {
				return usagef("--event-retention must not be negative")
			}
			if cfg.MaxClientRate, err = limitFlag("--max-client-rate", clientRate); err != nil {
				return err
			}
			if cfg.MaxConnections, err = limitFlag("--max-connections", maxConns); err != nil {
				return err
			}
			cfg.Logger = log
			err = e.runCloud(c.Context(), cfg)
			if errors.Is(err, context.Canceled) && c.Context().Err() != nil {
				return nil // stopped by a signal
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data", DefaultDataDir, "state directory (database, CA, server certificate)")
	f.StringSliceVar(&hostnames, "hostname", []string{DefaultHostname}, "hub host name(s), repeatable or comma-separated; the first goes into connection strings")
	f.StringVar(&cfg.MQTTListen, "mqtt-listen", DefaultMQTTListen, "MQTT over TLS listen address")
	f.StringVar(&cfg.HTTPSListen, "https-listen", DefaultHTTPSListen, "HTTPS listen address (REST API, MQTT over WebSocket)")
	f.StringVar(&cfg.MetricsListen, "metrics-listen", DefaultMetricsListen, `Prometheus metrics listen address ("" disables)`)
	f.StringVar(&cfg.PlainMQTTListen, "dev-plain-mqtt", "", "plain MQTT listen address (development only)")
	f.StringVar(&cfg.PlainHTTPListen, "dev-plain-http", "", "plain HTTP listen address (development only)")
	f.StringVar(&cfg.CertFile, "cert", "", "server certificate PEM (default: issued by the cloud's own CA)")
	f.StringVar(&cfg.KeyFile, "key", "", "server certificate key PEM")
	f.DurationVar(&cfg.EventRetention, "event-retention", DefaultRetention, "how long D2C events are kept")
	f.Float64Var(&clientRate, "max-client-rate", cloud.DefaultMaxClientRate, "MQTT packets per second one connection may send before it is slowed down (0: no limit)")
	f.IntVar(&maxConns, "max-connections", cloud.DefaultMaxConnections(), "authenticated MQTT connections at once over all listeners; one more CONNECT is answered CONNACK 0x03; connections before CONNACK have their own budget; the default is the connection budget (the open-file limit less a tenth, at least 256, kept for other files) less its HTTPS tenth (0: no limit)")
	f.StringVar(&level, "log-level", "info", "log level: debug, info, warn, error")
	f.StringVar(&format, "log-format", "text", "log format: text or json")
	return cmd
}

// newLogger builds the slog logger of a daemon command, writing to w (stderr).
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usagef("--log-format %q: want text or json", format)
}

// splitList flattens repeated and comma-separated values, dropping blanks.
func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func newCloudConnStrCmd(e *env) *cobra.Command {
	var dataDir, policy string
	cmd := &cobra.Command{
		Use:   "connection-string",
		Short: "Print the service connection string of a shared access policy",
		Args:  exactArgs(),
		RunE: func(c *cobra.Command, _ []string) error {
			cs, err := e.serviceCS(dataDir, policy)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(e.stdout, cs)
			return err
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", DefaultDataDir, "the cloud's state directory")
	cmd.Flags().StringVar(&policy, "policy", "iothubowner", "shared access policy name")
	return cmd
}

// limitFlag maps a limit flag to its Config value: the flag's 0 means "no limit", which Config
// spells -1 (its 0 means "the default"); negative flags are refused.
func limitFlag[T int | float64](name string, v T) (T, error) {
	switch {
	case v < 0:
		return 0, usagef("%s must not be negative", name)
	case v == 0:
		return -1, nil
	}
	return v, nil
}
