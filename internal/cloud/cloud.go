// Package cloud composes the IoT Hub stand-in: the identity registry, twins, the durable D2C
// event store, C2D queues, direct methods, the MQTT device endpoint (TLS and WebSocket) and the
// service REST API. State lives in an embedded SQLite database (internal/cloud/store), D2C
// events in a segment log (internal/store).
package cloud

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/outpost-iot/outpost/internal/cloud/store"
	"github.com/outpost-iot/outpost/internal/connlimit"
	"github.com/outpost-iot/outpost/internal/datadir"
	"github.com/outpost-iot/outpost/internal/iothub"
	"github.com/outpost-iot/outpost/internal/mqtt/broker"
	"github.com/outpost-iot/outpost/internal/pki"
)

// Config configures one cloud instance.
type Config struct {
	DataDir          string        // state, CA and server certificate
	Hostnames        []string      // first is the hub hostname used in connection strings
	MQTTListen       string        // MQTT over TLS, e.g. "0.0.0.0:8883"
	HTTPSListen      string        // HTTPS: REST API and MQTT over WebSocket, e.g. "0.0.0.0:443"
	PlainMQTTListen  string        // plain MQTT, development only; "" disables
	PlainHTTPListen  string        // plain HTTP, development only; "" disables
	MetricsListen    string        // Prometheus metrics; "" disables
	CertFile         string        // optional user-provided server certificate (PEM)
	KeyFile          string        // its key
	EventRetention   time.Duration // D2C event store retention; 0 = 7 days
	C2DQueueDepth    int           // per-device C2D queue limit; 0 = 50
	MaxDeliveryCount int           // C2D deliveries before dead-lettering; 0 = 10
	C2DLockTimeout   time.Duration // how long a delivered C2D message waits for its PUBACK before it is abandoned; 0 = 1 minute
	MaxTokenLifetime time.Duration // longest SAS lifetime accepted; 0 = 366 days
	// MaxClientRate is the most MQTT packets per second one connection may send before the
	// broker slows its reading (RELIABILITY D8); 0 = DefaultMaxClientRate, < 0 = no limit.
	// The limit is the cloud's, not the broker's (which has none by default): it is an IoT
	// Hub quota, which an edge hub's modules do not have.
	MaxClientRate float64
	// MaxConnections caps the authenticated MQTT connections, TLS, plain and WebSocket
	// together (RELIABILITY D4); a CONNECT over the cap is answered CONNACK 0x03. Connections
	// before CONNACK have their own budget (broker.Config.MaxPendingConnects). 0 = the
	// connection budget less its HTTPS share, < 0 = no cap.
	MaxConnections int
	// ConnectionBudget is how many network connections the cloud holds at once, MQTT and
	// HTTPS together, so that a flood on one cannot starve the other of descriptors
	// (RELIABILITY D1, D2, D4; see package connlimit). 0 = broker.DefaultMaxConnections (the
	// open-file limit less a reserve), < 0 = none. A tenth of it is the most HTTPS connections
	// past their first request; MaxConnections defaults to the rest.
	ConnectionBudget int
	// HTTPReadHeaderTimeout bounds the TLS handshake and the request headers, HTTPReadTimeout
	// the body of a request (not event streams or WebSocket upgrades, which are long-lived),
	// HTTPIdleTimeout a keep-alive connection between requests; 0 = 10 s, 30 s and 2 min.
	HTTPReadHeaderTimeout time.Duration
	HTTPReadTimeout       time.Duration
	HTTPIdleTimeout       time.Duration
	// AuthBackoffStep and AuthBackoffMax shape the delay of refusals to a source that keeps
	// failing authentication; 0 = 100 ms per failure beyond the tenth in a minute, at most 2 s.
	AuthBackoffStep time.Duration
	AuthBackoffMax  time.Duration
	// HousekeepingEvery is how often retention and C2D expiry run; 0 = every minute.
	HousekeepingEvery time.Duration
	// OnListening, if set, is called once every listener is bound (before DataDir/ca.pem is
	// written) with the addresses they are bound to, so that a caller may listen on port 0
	// and learn the ports instead of picking free ones and racing other processes for them.
	OnListening func(Addrs)
	Logger      *slog.Logger
	// Now is the clock (tests inject one); nil means time.Now.
	Now func() time.Time
}

// DefaultMaxClientRate is the cloud's inbound rate per MQTT connection, in packets per
// second: IoT Hub throttles device-to-cloud sends per hub (100/s for an S1 unit), so a
// device written for IoT Hub stays far below it, while a flooding client is held to a
// small share of one core.
const DefaultMaxClientRate = 1000.0

// maxClientRate is MaxClientRate for the broker, where 0 means no limit.
func (c *Config) maxClientRate() float64 {
	switch {
	case c.MaxClientRate < 0:
		return 0
	case c.MaxClientRate == 0:
		return DefaultMaxClientRate
	}
	return c.MaxClientRate
}

func (c *Config) c2dQueueDepth() int              { return orDefault(c.C2DQueueDepth, defaultC2DQueue) }
func (c *Config) maxDeliveryCount() int           { return orDefault(c.MaxDeliveryCount, defaultMaxDelivery) }
func (c *Config) operationTimeout() time.Duration { return 10 * time.Second }
func (c *Config) httpReadTimeout() time.Duration  { return orDefault(c.HTTPReadTimeout, 30*time.Second) }

// connectionBudget is ConnectionBudget for connlimit, where 0 means none.
func (c *Config) connectionBudget() int {
	switch {
	case c.ConnectionBudget < 0:
		return 0
	case c.ConnectionBudget == 0:
		return broker.DefaultMaxConnections()
	}
	return c.ConnectionBudget
}

// maxHTTPConnections is the HTTPS share of a connection budget: a tenth, at least one.
func maxHTTPConnections(budget int) int {
	if budget <= 0 {
		return 0
	}
	return max(budget/10, 1)
}

// DefaultMaxConnections is the default cap on authenticated MQTT connections: the
// descriptor budget (broker.DefaultMaxConnections) less its HTTPS share.
func DefaultMaxConnections() int {
	b := broker.DefaultMaxConnections()
	return b - maxHTTPConnections(b)
}

// maxConnections is MaxConnections for the broker, where 0 means no cap.
func (c *Config) maxConnections() int {
	switch {
	case c.MaxConnections < 0:
		return 0
	case c.MaxConnections == 0:
		b := c.connectionBudget()
		return b - maxHTTPConnections(b)
	}
	return c.MaxConnections
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func (c *Config) validate() error {
	var problems []string
	if c.DataDir == "" {
		problems = append(problems, "data directory is required")
	}
	if len(c.Hostnames) == 0 || c.Hostnames[0] == "" {
		problems = append(problems, "at least one hostname is required")
	}
	if c.MQTTListen == "" && c.HTTPSListen == "" && c.PlainMQTTListen == "" {
		problems = append(problems, "no listener configured")
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		problems = append(problems, "a certificate file and a key file go together")
	}
	if len(problems) > 0 {
		return fmt.Errorf("cloud: invalid configuration: %s", strings.Join(problems, "; "))
	}
	return nil
}

// Addrs are the bound addresses of a running cloud's listeners ("" for one not configured).
type Addrs struct {
	MQTT, HTTPS, PlainMQTT, PlainHTTP, Metrics string
}

// Cloud is a running IoT Hub stand-in.
type Cloud struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	st      *store.Store
	lock    *datadir.Lock // held on DataDir for the cloud's life
	reg     *registry
	auth    *authenticator
	events  *eventLog
	broker  *broker.Server
	metrics *cloudMetrics
	calls   methodCalls
	c2dq    c2dQueues

	stopping chan struct{}
	wg       sync.WaitGroup // background goroutines owned by the cloud

	tarpit   *tarpit
	failures failureLog // rate-limits the logs of the cloud's own failures
	caPEM    []byte     // the generated CA, published as DataDir/ca.pem

	lim       *connlimit.Limiter // the connection budget, MQTT and HTTPS together
	httpGroup *connlimit.Group   // HTTPS connections past their first request

	connMu sync.Mutex // guards conns and seen
	conns  map[store.Key]*connState
	seen   map[store.Key]activity // identities whose last connection ended
}

// Run serves until ctx is done. The cloud is ready once DataDir/ca.pem exists and every listener is bound.
func Run(ctx context.Context, cfg Config) error {
	c, err := open(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.close()
	return c.serve(ctx)
}

func open(ctx context.Context, cfg Config) (*Cloud, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	// The lock comes before any file is opened: a second cloud must not touch the first one's state.
	lock, err := datadir.Acquire(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("cloud: %w", err)
	}
	st, err := store.Open(cfg.DataDir)
	if err != nil {
		_ = lock.Release()
		return nil, err
	}
	c := &Cloud{cfg: cfg, log: cfg.Logger.With("component", "cloud"), now: cfg.Now, st: st, lock: lock, metrics: newMetrics(),
		stopping: make(chan struct{}), conns: map[store.Key]*connState{}, seen: map[store.Key]activity{}}
	c.calls.pending = map[string]chan *iothub.MethodResult{}
	c.tarpit = newTarpit(orDefault(cfg.AuthBackoffStep, 100*time.Millisecond), orDefault(cfg.AuthBackoffMax, 2*time.Second))
	c.c2dq.waiters = map[string]chan struct{}{}
	c.reg = &registry{st: st, now: cfg.Now, onChange: c.identityChanged}
	c.loadActivity(ctx)
	policies, err := loadPolicies(ctx, st)
	if err != nil {
		c.closeState()
		return nil, err
	}
	c.auth = &authenticator{hostnames: cfg.Hostnames, policies: policies, reg: c.reg, st: st, now: cfg.Now,
		maxLifetime: orDefault(cfg.MaxTokenLifetime, 366*24*time.Hour),
		failures:    func(reason string) { c.metrics.authFailures.WithLabelValues(reason).Inc() }}
	if err := putIfChanged(ctx, st, hostnameKey, []byte(cfg.Hostnames[0])); err != nil {
		c.closeState()
		return nil, err
	}
	c.events, err = openEventLog(filepath.Join(cfg.DataDir, "events"), orDefault(cfg.EventRetention, 7*24*time.Hour), cfg.Now, cfg.Logger.With("component", "events"), c.metrics.observeCommit)
	if err != nil {
		c.closeState()
		return nil, err
	}
	budget := cfg.connectionBudget()
	c.lim = connlimit.New(connlimit.Config{Max: budget, MaxPending: broker.DefaultMaxPendingConnects,
		MaxPendingPerSource: broker.DefaultMaxPendingPerSource})
	c.httpGroup = c.lim.Group(maxHTTPConnections(budget))
	c.metrics.registerConnections(c.lim)
	c.broker = broker.New(broker.Config{Auth: c, Sessions: &sessionStore{st: st}, Logger: cfg.Logger,
		Metrics: newBrokerMetrics(c.metrics.registry), MaxInboundRate: cfg.maxClientRate(),
		MaxConnections: cfg.maxConnections(), Limiter: c.lim})
	return c, nil
}

// putIfChanged stores a setting unless it already holds value. Start-up writes only what
// changed, so that a cloud restarted on a full disk still starts and serves what needs no
// space (reads, connects of known devices), its writes failing with 503 until space returns.
func putIfChanged(ctx context.Context, st *store.Store, key string, value []byte) error {
	if old, err := st.GetKV(ctx, key); err == nil && bytes.Equal(old, value) {
		return nil
	}
	return st.PutKV(ctx, key, value)
}

func (c *Cloud) close() {
	close(c.stopping)
	_ = c.broker.Close()
	c.wg.Wait()
	_ = c.events.Close()
	c.closeState()
}

// closeState closes the database and then releases the data directory, in that order, so that
// the next holder never sees a database still open here.
func (c *Cloud) closeState() {
	_ = c.st.Close()
	_ = c.lock.Release()
}

// serve binds every listener, writes nothing until all are bound, and serves until ctx ends.
func (c *Cloud) serve(ctx context.Context) error {
	tlsCfg, err := c.tlsConfig()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		listeners []net.Listener
		servers   []*http.Server
		errs      = make(chan error, 8)
		addrs     Addrs
	)
	defer func() {
		cancel() // ends event streams and the background loops before the servers drain
		for _, s := range servers {
			sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = s.Shutdown(sctx)
			scancel()
		}
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	listen := func(addr string) (net.Listener, error) {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("cloud: listen on %s: %w", addr, err)
		}
		listeners = append(listeners, l)
		return l, nil
	}
	api := c.apiMux()
	httpsHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			c.broker.WebSocketHandler().ServeHTTP(w, r)
			return
		}
		// A declared body must arrive within HTTPReadTimeout (slowloris, D1); net/http
		// clears the deadline once the body is read. http.Server's own ReadTimeout would also
		// end event streams and WebSocket connections.
		if r.ContentLength != 0 {
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(c.cfg.httpReadTimeout()))
		}
		api.ServeHTTP(w, r)
	})
	if c.cfg.MQTTListen != "" {
		l, err := listen(c.cfg.MQTTListen)
		if err != nil {
			return err
		}
		c.goServe(errs, func() error { return c.broker.Serve(tls.NewListener(l, tlsCfg)) })
		addrs.MQTT = l.Addr().String()
		c.log.Info("listening", "transport", "mqtts", "addr", addrs.MQTT)
	}
	if c.cfg.PlainMQTTListen != "" {
		l, err := listen(c.cfg.PlainMQTTListen)
		if err != nil {
			return err
		}
		c.goServe(errs, func() error { return c.broker.Serve(l) })
		addrs.PlainMQTT = l.Addr().String()
		c.log.Warn("listening without TLS (development only)", "transport", "mqtt", "addr", addrs.PlainMQTT)
	}
	httpServer := func(addr string, h http.Handler, tlsOn, budgeted bool, what string, bound *string) error {
		l, err := listen(addr)
		if err != nil {
			return err
		}
		s := c.httpServer(ctx, h)
		servers = append(servers, s)
		if budgeted {
			l = connlimit.Listener(l, c.httpGroup, connlimit.Hooks{
				Refused: func() { c.metrics.httpRejected.WithLabelValues("max_descriptors").Inc() },
				Evicted: func() { c.metrics.httpRejected.WithLabelValues("pending_evicted").Inc() },
			})
		}
		if tlsOn {
			l = tls.NewListener(l, tlsCfg)
		}
		c.goServe(errs, func() error { return s.Serve(l) })
		*bound = l.Addr().String()
		c.log.Info("listening", "transport", what, "addr", *bound)
		return nil
	}
	if c.cfg.HTTPSListen != "" {
		if err := httpServer(c.cfg.HTTPSListen, httpsHandler, true, true, "https", &addrs.HTTPS); err != nil {
			return err
		}
	}
	if c.cfg.PlainHTTPListen != "" {
		if err := httpServer(c.cfg.PlainHTTPListen, httpsHandler, false, true, "http (development only)", &addrs.PlainHTTP); err != nil {
			return err
		}
	}
	if c.cfg.MetricsListen != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(c.metrics.registry, promhttp.HandlerOpts{}))
		if err := httpServer(c.cfg.MetricsListen, mux, false, false, "metrics", &addrs.Metrics); err != nil {
			return err
		}
	}
	c.wg.Add(1)
	go func() { defer c.wg.Done(); c.housekeeping(ctx) }()
	if c.cfg.OnListening != nil {
		c.cfg.OnListening(addrs)
	}
	if err := c.writeReadyCA(); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		c.log.Info("shutting down")
		return nil
	case err := <-errs:
		return err
	}
}

func (c *Cloud) goServe(errs chan<- error, serve func() error) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if err := serve(); err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, http.ErrServerClosed) {
			errs <- err
		}
	}()
}

// tlsConfig loads the user's certificate or the generated one, creating the CA on first start.
func (c *Cloud) tlsConfig() (*tls.Config, error) {
	if c.cfg.CertFile != "" {
		cert, err := pki.LoadKeyPair(c.cfg.CertFile, c.cfg.KeyFile)
		if err != nil {
			return nil, err
		}
		return pki.ServerTLSConfig(cert), nil
	}
	ca, err := pki.LoadOrCreateAuthority(filepath.Join(c.cfg.DataDir, "pki"), "Outpost cloud CA "+c.cfg.Hostnames[0], c.now())
	if err != nil {
		return nil, err
	}
	// The generated certificate renews itself during a handshake once it nears expiry, so a
	// long-running cloud never serves an expired certificate (RELIABILITY C4, SEC-04).
	cert, err := pki.NewRenewingServerCert(filepath.Join(c.cfg.DataDir, "pki"), ca, certHosts(c.cfg.Hostnames), c.now)
	if err != nil {
		return nil, err
	}
	c.caPEM = ca.CertPEM
	return cert.TLSConfig(), nil
}

// writeReadyCA publishes DataDir/ca.pem, the signal that the cloud is listening. With a
// user-provided certificate there is no CA of ours; the file then holds the user's certificate chain.
func (c *Cloud) writeReadyCA() error {
	data := c.caPEM
	if data == nil {
		var err error
		if data, err = os.ReadFile(c.cfg.CertFile); err != nil {
			return fmt.Errorf("cloud: read certificate: %w", err)
		}
	}
	path := filepath.Join(c.cfg.DataDir, "ca.pem")
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil // already published: no write, which a full disk would refuse
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("cloud: write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("cloud: publish %s: %w", path, err)
	}
	return nil
}

// housekeeping trims expired events and C2D messages.
func (c *Cloud) housekeeping(ctx context.Context) {
	t := time.NewTicker(orDefault(c.cfg.HousekeepingEvery, time.Minute))
	defer t.Stop()
	for {
		if n, err := c.events.trim(); err == nil {
			c.metrics.eventsTrimmed.Add(float64(n))
		} else {
			c.log.Warn("event retention", "err", err)
		}
		if expired, err := c.st.PurgeExpiredC2D(ctx, c.now()); err == nil {
			c.metrics.c2d.WithLabelValues("expired").Add(float64(expired))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ServiceConnectionString returns the connection string of a shared access policy
// (e.g. "iothubowner") persisted in dataDir. The hub hostname is the one the cloud was last
// started with.
func ServiceConnectionString(dataDir, policy string) (string, error) {
	if _, err := os.Stat(filepath.Join(dataDir, "outpost.db")); err != nil {
		return "", fmt.Errorf("cloud: no cloud state in %s (start `outpost cloud serve --data %s` first): %w", dataDir, dataDir, err)
	}
	// Read-only: this runs beside a serving cloud (which holds the data directory's lock) and
	// must work on a full disk.
	st, err := store.OpenReadOnly(dataDir)
	if err != nil {
		return "", err
	}
	defer st.Close()
	ctx := context.Background()
	doc, err := st.GetKV(ctx, policiesKey)
	if err != nil {
		return "", fmt.Errorf("cloud: no policies in %s yet: %w", dataDir, err)
	}
	policies := map[string]*Policy{}
	if err := json.Unmarshal(doc, &policies); err != nil {
		return "", fmt.Errorf("cloud: decode policies: %w", err)
	}
	p, ok := policies[policy]
	if !ok {
		return "", fmt.Errorf("cloud: unknown policy %q", policy)
	}
	host, err := st.GetKV(ctx, hostnameKey)
	if err != nil {
		return "", fmt.Errorf("cloud: hub hostname unknown: %w", err)
	}
	return iothub.ConnectionString{HostName: string(host), SharedAccessKeyName: p.KeyName, SharedAccessKey: p.PrimaryKey}.String(), nil
}

const hostnameKey = "hostname"

// certHosts are the names the generated server certificate covers: the configured hostnames plus
// the loopback names, so that local tools can dial 127.0.0.1 and still verify the server.
func certHosts(hostnames []string) []string {
	out := append([]string{}, hostnames...)
	for _, h := range []string{"localhost", "127.0.0.1", "::1"} {
		if !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}
