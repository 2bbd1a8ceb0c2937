package cloud

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/outpost-iot/outpost/internal/cloud/store"
	"github.com/outpost-iot/outpost/internal/iothub"
	"github.com/outpost-iot/outpost/internal/message"
	"github.com/outpost-iot/outpost/internal/mqtt/broker"
	seglog "github.com/outpost-iot/outpost/internal/store"
)

// Connect implements broker.Authenticator with IoT Hub's rules (IOTEDGE-REFERENCE §1.3, §1.4).
// Refusals to a source that keeps failing are slowed down (see tarpit).
func (c *Cloud) Connect(ctx context.Context, req *broker.ConnectRequest) (broker.Handler, error) {
	h, err := c.connect(ctx, req)
	var refusal *broker.ConnectError
	if errors.As(err, &refusal) && req.RemoteAddr != nil { // the cloud's own failures are not the source's
		if d := c.tarpit.delay(req.RemoteAddr, c.now()); d > 0 {
			c.metrics.authDelayed.Inc()
			hold(ctx, d)
		}
	}
	return h, err
}

func (c *Cloud) connect(ctx context.Context, req *broker.ConnectRequest) (broker.Handler, error) {
	u, err := iothub.ParseUsername(req.Username)
	if err != nil {
		c.metrics.authFailures.WithLabelValues("bad_username").Inc()
		return nil, &broker.ConnectError{Code: broker.CodeBadCredentials, Reason: "malformed username"}
	}
	k := store.Key{DeviceID: u.DeviceID, ModuleID: u.ModuleID}
	if req.ClientID != k.String() {
		c.metrics.authFailures.WithLabelValues("client_id_mismatch").Inc()
		return nil, &broker.ConnectError{Code: broker.CodeIdentifierRejected, Reason: "client id does not match the username"}
	}
	if !c.auth.isHubHost(u.HostName) {
		c.metrics.authFailures.WithLabelValues("wrong_host").Inc()
		return nil, &broker.ConnectError{Code: broker.CodeNotAuthorized, Reason: "username names another hub"}
	}
	id, err := c.reg.lookup(ctx, k)
	if err != nil && !isRefusal(err) {
		// The registry failed, not the device: CONNACK 3 (any error that is not a
		// *broker.ConnectError), which SDKs retry, where 5 would tell them their key is wrong.
		c.failures.log(c, "connect", err)
		return nil, fmt.Errorf("cloud: look up %s: %w", k, err)
	}
	if err != nil {
		c.metrics.authFailures.WithLabelValues("unknown_identity").Inc()
		return nil, &broker.ConnectError{Code: broker.CodeNotAuthorized, Reason: "unknown identity"}
	}
	method, expiry, err := c.authenticateConnect(ctx, req, id)
	if err != nil {
		return nil, err // a *broker.ConnectError with the CONNACK code
	}
	return &session{c: c, key: k, generationID: id.GenerationID, authStamp: authStamp(k, method), expiry: expiry,
		deviceETag: id.DeviceETag, moduleETag: id.ModuleETag, appender: c.events.newAppender()}, nil
}

func (c *Cloud) authenticateConnect(ctx context.Context, req *broker.ConnectRequest, id *identity) (string, time.Time, error) {
	if req.HasPassword {
		expiry, err := c.auth.authenticateSAS(ctx, string(req.Password), id)
		return iothub.AuthSAS, expiry, err
	}
	var chain []*x509.Certificate
	if req.TLS != nil {
		chain = req.TLS.PeerCertificates
	}
	method, err := c.auth.authenticateX509(ctx, chain, id)
	if err != nil {
		return "", time.Time{}, err
	}
	return method, chain[0].NotAfter, nil
}

// session is one authenticated device or module connection.
type session struct {
	c            *Cloud
	key          store.Key
	generationID string
	authStamp    string // iothub-connection-auth-method, the same on every message
	expiry       time.Time
	deviceETag   string // the identity as authenticated, to notice changes before Online
	moduleETag   string
	// appender is this connection's source of event appends, so that devices with one message in
	// flight share group commits (store.Appender).
	appender *seglog.Appender

	mu       sync.Mutex // guards the following
	conn     *broker.Conn
	pumping  bool
	expiryTm *time.Timer
}

var _ broker.Handler = (*session)(nil)

// Subscribe admits only the identity's own IoT Hub topics (RELIABILITY E4, F3).
func (s *session) Subscribe(filter string, qos byte) byte {
	kind, dev, mod := iothub.ParseSubscription(filter)
	granted := min(qos, 1)
	switch kind {
	case iothub.SubC2D:
		if s.key.ModuleID != "" || dev != s.key.DeviceID {
			return s.refuse(filter)
		}
		s.startC2D()
		return granted
	case iothub.SubModuleInputs:
		if dev != s.key.DeviceID || mod != s.key.ModuleID || mod == "" {
			return s.refuse(filter)
		}
		return granted
	case iothub.SubTwinResponses, iothub.SubDesired, iothub.SubMethods:
		return granted
	}
	return s.refuse(filter)
}

func (s *session) refuse(filter string) byte {
	s.c.metrics.refusedSubscriptions.Inc()
	s.c.log.Debug("subscription refused", "client", s.key.String(), "filter", filter)
	return 0x80
}

// Unsubscribe needs no work: the broker forgets the filter.
func (s *session) Unsubscribe(string) {}

// PublishAsync hands telemetry to the event store's group commit without holding up the
// connection's next packets (the broker PUBACKs in order once each is durable); twin requests
// and method responses are handled at once.
func (s *session) PublishAsync(ctx context.Context, p *broker.Publish, done func(error)) {
	t, err := iothub.ParsePublishTopic(p.Topic)
	if err != nil {
		s.c.metrics.protocolErrors.WithLabelValues("bad_topic").Inc()
		done(fmt.Errorf("cloud: %s published on an invalid topic: %w", s.key, err))
		return
	}
	s.c.touch(s.key)
	switch t.Kind {
	case iothub.TopicTelemetry:
		m, err := s.telemetryMessage(t, p)
		if err != nil {
			done(err)
			return
		}
		s.c.ingestAsync(ctx, s.appender, m, done)
		return
	case iothub.TopicTwinGet:
		s.twinGet(ctx, t.RequestID)
	case iothub.TopicTwinPatchReported:
		s.twinPatch(ctx, t.RequestID, p.Payload)
	case iothub.TopicMethodResponse:
		s.c.methodResponse(s.key.String(), t.Status, t.RequestID, p.Payload)
	default:
		done(fmt.Errorf("cloud: %s published on unsupported topic %q", s.key, p.Topic))
		return
	}
	done(nil)
}

// telemetryMessage checks a telemetry publish against the identity and builds the stamped message.
func (s *session) telemetryMessage(t iothub.PublishTopic, p *broker.Publish) (*message.Message, error) {
	if t.DeviceID != s.key.DeviceID || t.ModuleID != s.key.ModuleID {
		s.c.metrics.protocolErrors.WithLabelValues("foreign_topic").Inc()
		return nil, fmt.Errorf("cloud: %s published as %s/%s", s.key.String(), t.DeviceID, t.ModuleID)
	}
	sys, app, err := iothub.ParsePropertyBag(t.Bag)
	if err != nil {
		s.c.metrics.protocolErrors.WithLabelValues("bad_properties").Inc()
		return nil, fmt.Errorf("cloud: %s sent a malformed property bag: %w", s.key.String(), err)
	}
	if p.Retain {
		app["mqtt-retain"] = "true"
	}
	return s.stamp(&message.Message{Body: p.Payload, System: sys, Properties: app}), nil
}

// stampedAuthType names an authentication method as iothub-connection-auth-method does.
var stampedAuthType = map[string]string{iothub.AuthSAS: "sas", iothub.AuthSelfSigned: "x509Certificate", iothub.AuthCertificateAuthority: "x509CA"}

// authStamp is the iothub-connection-auth-method value of an identity authenticated by method.
func authStamp(k store.Key, method string) string {
	scope := "device"
	if k.ModuleID != "" {
		scope = "module"
	}
	return fmt.Sprintf(`{"scope":%q,"type":%q,"issuer":"iothub","acceptingIpFilterRule":null}`, scope, stampedAuthType[method])
}

// stamp adds IoT Hub's non-spoofable properties (IOTEDGE-REFERENCE §1.6).
func (s *session) stamp(m *message.Message) *message.Message {
	if m.System == nil {
		m.System = map[string]string{}
	}
	if m.Properties == nil {
		m.Properties = map[string]string{}
	}
	m.System[message.ConnectionDeviceID] = s.key.DeviceID
	if s.key.ModuleID != "" {
		m.System[message.ConnectionModuleID] = s.key.ModuleID
	} else {
		delete(m.System, message.ConnectionModuleID)
	}
	m.System["iothub-connection-auth-method"] = s.authStamp
	m.System["iothub-connection-auth-generation-id"] = s.generationID
	m.System["iothub-message-source"] = "Telemetry"
	return m
}

// ingest appends a stamped D2C message to the event store; it returns after the commit, so
// that the PUBACK follows durability.
func (c *Cloud) ingest(ctx context.Context, m *message.Message) error {
	result := make(chan error, 1)
	c.ingestAsync(ctx, nil, m, func(err error) { result <- err })
	return <-result
}

// ingestAsync queues a stamped D2C message for the event store's group commit and calls done
// once it is durable (or failed). src is the publishing connection's appender, nil for none.
func (c *Cloud) ingestAsync(ctx context.Context, src *seglog.Appender, m *message.Message, done func(error)) {
	if m.Size() > message.MaxSize {
		c.metrics.protocolErrors.WithLabelValues("message_too_large").Inc()
		done(fmt.Errorf("cloud: message of %d bytes exceeds %d", m.Size(), message.MaxSize))
		return
	}
	now := c.now().UTC()
	m.System["iothub-enqueuedtime"] = now.Format(time.RFC3339Nano)
	err := c.events.AppendAsync(src, m.System[message.ConnectionDeviceID], m.System[message.ConnectionModuleID], m, now, func(err error) {
		if err != nil {
			c.log.Error("telemetry not stored", "err", err)
			done(fmt.Errorf("cloud: store telemetry: %w", err))
			return
		}
		c.metrics.messagesIn.Inc()
		done(nil)
	})
	if err != nil {
		done(fmt.Errorf("cloud: queue telemetry: %w", err))
	}
}

func (s *session) respond(status int, rid string, version int64, body []byte) {
	conn := s.currentConn()
	if conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.c.cfg.operationTimeout())
	defer cancel()
	_ = conn.Publish(ctx, iothub.TwinResponseTopic(status, rid, version), body, 0)
}

func (s *session) twinGet(ctx context.Context, rid string) {
	t, err := s.c.loadTwin(ctx, s.key)
	if err != nil {
		s.respondError(rid, s.c.wireError("twin get", err))
		return
	}
	s.c.metrics.twinOps.WithLabelValues("device_get").Inc()
	s.respond(http.StatusOK, rid, 0, t.PropertiesJSON())
}

func (s *session) twinPatch(ctx context.Context, rid string, body []byte) {
	v, err := s.c.patchReported(ctx, s.key, body)
	if err != nil {
		s.respondError(rid, s.c.wireError("twin reported patch", err))
		return
	}
	s.respond(http.StatusNoContent, rid, v, nil)
}

// respondError answers a twin request with e as IoT Hub does: its status in the topic and a
// body with errorCode, without which the Node SDK does not fail the request (IOTEDGE-REFERENCE
// §1.7). The message is e's, never an internal error's text (wireError made e).
func (s *session) respondError(rid string, e *iothub.Error) {
	b, _ := json.Marshal(map[string]any{"errorCode": e.Status*1000 + 1, "message": e.Message})
	s.respond(e.Status, rid, 0, b)
}

// Online records the connection and resumes C2D delivery for restored subscriptions.
func (s *session) Online(conn *broker.Conn, sessionPresent bool) {
	s.mu.Lock()
	s.conn = conn
	if !s.expiry.IsZero() {
		d := s.expiry.Add(iothub.SASClockSkew).Sub(s.c.now())
		s.expiryTm = time.AfterFunc(max(d, 0), func() { conn.Close(errors.New("cloud: credentials expired")) })
	}
	s.mu.Unlock()
	s.c.online(s.key)
	if !s.stillValid() {
		conn.Close(errors.New("cloud: identity changed while connecting"))
		return
	}
	if _, ok := conn.Subscribed(iothub.C2DTopic(s.key.DeviceID, message.New(nil))); ok && s.key.ModuleID == "" {
		s.startC2D()
	}
}

// Offline records the disconnection and publishes the will as IoT Hub does.
func (s *session) Offline(conn *broker.Conn, err error, will *broker.Will) {
	s.mu.Lock()
	if s.expiryTm != nil {
		s.expiryTm.Stop()
	}
	s.mu.Unlock()
	s.c.offline(s.key, conn, s.generationID)
	if will == nil {
		return
	}
	t, perr := iothub.ParsePublishTopic(will.Topic)
	if perr != nil || t.Kind != iothub.TopicTelemetry || t.DeviceID != s.key.DeviceID || t.ModuleID != s.key.ModuleID {
		return
	}
	sys, app, perr := iothub.ParsePropertyBag(t.Bag)
	if perr != nil {
		return
	}
	app["iothub-MessageType"] = "Will"
	ctx, cancel := context.WithTimeout(context.Background(), s.c.cfg.operationTimeout())
	defer cancel()
	if err := s.c.ingest(ctx, s.stamp(&message.Message{Body: will.Payload, System: sys, Properties: app})); err != nil {
		s.c.log.Warn("will message not stored", "client", s.key.String(), "err", err)
	}
}

func (s *session) currentConn() *broker.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn
}

func (s *session) startC2D() {
	s.mu.Lock()
	conn, start := s.conn, !s.pumping && s.conn != nil
	s.pumping = s.pumping || start
	s.mu.Unlock()
	if start {
		s.c.wg.Add(1)
		go func() {
			defer s.c.wg.Done()
			s.c.pumpC2D(conn, s.key.DeviceID)
		}()
	}
}

// connState is the live view of a connected identity.
type connState struct {
	since        time.Time
	lastActivity time.Time
}

func (c *Cloud) online(k store.Key) {
	now := c.now().UTC()
	c.connMu.Lock()
	c.conns[k] = &connState{since: now, lastActivity: now}
	n := len(c.conns)
	c.connMu.Unlock()
	c.metrics.connected.Set(float64(n))
}

// offline ends the live view of an identity's connection (unless a newer one took over) and
// keeps its activity, which IoT Hub reports after the disconnect.
func (c *Cloud) offline(k store.Key, conn *broker.Conn, generationID string) {
	now := c.now().UTC()
	c.connMu.Lock()
	ended := c.conns[k] // nil when there is no live view
	if cur := c.broker.Lookup(k.String()); cur != nil && cur != conn {
		ended = nil // a newer connection took over
	}
	var a activity
	if ended != nil {
		delete(c.conns, k)
		a = activity{GenerationID: generationID, LastActivity: ended.lastActivity, Disconnected: now}
		c.seen[k] = a
	}
	n := len(c.conns)
	c.connMu.Unlock()
	c.metrics.connected.Set(float64(n))
	if ended != nil {
		c.saveActivity(k, a)
	}
}

func (c *Cloud) touch(k store.Key) {
	now := c.now().UTC()
	c.connMu.Lock()
	if st, ok := c.conns[k]; ok {
		st.lastActivity = now
	}
	c.connMu.Unlock()
}

// overlayDevices fills devices' live fields: connection state, activity and C2D queue depth
// (one query for all of them).
func (c *Cloud) overlayDevices(ctx context.Context, devs ...*iothub.Device) {
	counts, err := c.st.CountC2DByDevice(ctx, c.now())
	if err != nil {
		c.log.Warn("c2d queue depths unavailable", "err", err)
	}
	c.connMu.Lock()
	defer c.connMu.Unlock()
	for _, d := range devs {
		d.CloudToDeviceMessageCount = counts[d.DeviceID]
		k := store.Key{DeviceID: d.DeviceID}
		if st, ok := c.conns[k]; ok {
			d.ConnectionState, d.ConnectionStateUpdatedTime, d.LastActivityTime = "Connected", st.since, st.lastActivity
			continue
		}
		d.ConnectionState = "Disconnected"
		if a, ok := c.seenLocked(k, d.GenerationID); ok {
			d.ConnectionStateUpdatedTime, d.LastActivityTime = a.Disconnected, a.LastActivity
		}
	}
}

func (c *Cloud) overlayModule(m *iothub.Module) {
	c.connMu.Lock()
	defer c.connMu.Unlock()
	k := store.Key{DeviceID: m.DeviceID, ModuleID: m.ModuleID}
	if st, ok := c.conns[k]; ok {
		m.ConnectionState, m.ConnectionStateUpdatedTime, m.LastActivityTime = "Connected", st.since, st.lastActivity
		return
	}
	m.ConnectionState = "Disconnected"
	if a, ok := c.seenLocked(k, m.GenerationID); ok {
		m.ConnectionStateUpdatedTime, m.LastActivityTime = a.Disconnected, a.LastActivity
	}
}

// identityChanged disconnects live connections of a changed identity so that they
// re-authenticate with its new status and keys (RELIABILITY G8).
func (c *Cloud) identityChanged(k store.Key) {
	var victims []string
	c.connMu.Lock()
	for ck := range c.conns {
		if ck.DeviceID == k.DeviceID && (k.ModuleID == "" || ck.ModuleID == k.ModuleID) {
			victims = append(victims, ck.String())
		}
	}
	c.connMu.Unlock()
	for _, id := range victims {
		if conn := c.broker.Lookup(id); conn != nil {
			conn.Close(errors.New("cloud: identity changed"))
		}
	}
}

// stillValid re-reads the identity once the connection is registered: a change made between
// authentication and registration was not seen by identityChanged, and is caught here; a
// change after registration is caught there.
func (s *session) stillValid() bool {
	ctx, cancel := context.WithTimeout(context.Background(), s.c.cfg.operationTimeout())
	defer cancel()
	id, err := s.c.reg.lookup(ctx, s.key)
	return err == nil && id.Enabled && id.DeviceETag == s.deviceETag && id.ModuleETag == s.moduleETag
}
