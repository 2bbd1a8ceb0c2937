package cloud

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/outpost-iot/outpost/internal/cloud/store"
	"github.com/outpost-iot/outpost/internal/iothub"
	"github.com/outpost-iot/outpost/internal/message"
)

// maxRequestBody bounds every REST body (a twin is at most a few hundred KB).
const maxRequestBody = 1 << 20

// apiHandler is an HTTP handler that returns its error to one adapter (IoT Hub error JSON).
type apiHandler func(w http.ResponseWriter, r *http.Request, p *principal) error

// route binds a handler to a pattern behind authentication and a rights check.
func (c *Cloud) route(mux *http.ServeMux, pattern string, allow func(p *principal, r *http.Request) bool, h apiHandler) {
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxRequestBody)
		p, err := c.auth.authenticateHTTP(r.Context(), r.Header.Get("Authorization"))
		if err == nil && !allow(p, r) {
			err = iothub.NewError(iothub.CodeIotHubUnauthorizedAccess, "the credential lacks the rights for %s %s", r.Method, r.URL.Path)
		}
		if err == nil {
			err = h(w, r, p)
		}
		if err != nil {
			iothub.WriteHTTPError(w, c.wireError(r.Method+" "+r.URL.Path, err))
		}
	})
}

func right(name string) func(*principal, *http.Request) bool {
	return func(p *principal, _ *http.Request) bool { return p.has(name) }
}

// ownModules lets a device manage its own modules (aziot-identityd does, IOTEDGE-REFERENCE §5.4).
func ownModules(name string) func(*principal, *http.Request) bool {
	return func(p *principal, r *http.Request) bool {
		return p.has(name) || (p.device.DeviceID != "" && p.device.ModuleID == "" && p.device.DeviceID == r.PathValue("id"))
	}
}

// edgeHubOf lets an edge device's $edgeHub (or a registry reader) call the device-scope API.
func edgeHubOf(p *principal, r *http.Request) bool {
	if p.has(RightRegistryRead) {
		return true
	}
	return p.device.ModuleID == "$edgeHub" && p.device.DeviceID == r.PathValue("id") && r.PathValue("mid") == "$edgeHub"
}

// apiMux is the REST API: the routes below, and IoT Hub errors for everything else.
func (c *Cloud) apiMux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	read, write, svc := right(RightRegistryRead), right(RightRegistryWrite), right(RightServiceConnect)

	c.route(mux, "GET /devices", read, c.handleListDevices)
	c.route(mux, "GET /devices/{$}", read, c.handleListDevices) // Registry.list asks for /devices/
	c.route(mux, "GET /devices/{id}", read, c.handleGetDevice)
	c.route(mux, "PUT /devices/{id}", write, c.handlePutDevice)
	c.route(mux, "DELETE /devices/{id}", write, c.handleDeleteDevice)
	c.route(mux, "GET /devices/{id}/modules", ownModules(RightRegistryRead), c.handleListModules)
	c.route(mux, "GET /devices/{id}/modules/{mid}", ownModules(RightRegistryRead), c.handleGetModule)
	c.route(mux, "PUT /devices/{id}/modules/{mid}", ownModules(RightRegistryWrite), c.handlePutModule)
	c.route(mux, "DELETE /devices/{id}/modules/{mid}", ownModules(RightRegistryWrite), c.handleDeleteModule)
	c.route(mux, "POST /devices/{id}/applyConfigurationContent", write, c.handleApplyConfiguration)

	c.route(mux, "GET /twins/{id}", read, c.handleGetTwin)
	c.route(mux, "PATCH /twins/{id}", write, c.handleWriteTwin(false))
	c.route(mux, "PUT /twins/{id}", write, c.handleWriteTwin(true))
	c.route(mux, "GET /twins/{id}/modules/{mid}", read, c.handleGetTwin)
	c.route(mux, "PATCH /twins/{id}/modules/{mid}", write, c.handleWriteTwin(false))
	c.route(mux, "PUT /twins/{id}/modules/{mid}", write, c.handleWriteTwin(true))
	c.route(mux, "POST /twins/{id}/methods", svc, c.handleInvokeMethod)
	c.route(mux, "POST /twins/{id}/modules/{mid}/methods", svc, c.handleInvokeMethod)

	c.route(mux, "POST /devices/{id}/messages/deviceBound", svc, c.handleSendC2D)
	c.route(mux, "GET /devices/{id}/messages/deviceBound", svc, c.handleListC2D)
	c.route(mux, "GET /events", svc, c.handleEvents)
	c.route(mux, "GET /events/stream", svc, c.handleEventStream)

	c.route(mux, "POST /devices/{id}/modules/{mid}/devicesAndModulesInTargetDeviceScope", edgeHubOf, c.handleTargetScope)
	c.route(mux, "POST /devices/{id}/modules/{mid}/getDeviceAndModuleOnBehalfOf", edgeHubOf, c.handleOnBehalfOf)
	c.route(mux, "GET /devices/{id}/modules/{mid}/devicesAndModulesInDeviceScope", edgeHubOf, c.handleDeviceScope)

	c.route(mux, "GET /certificates", read, c.handleListCertificates)
	c.route(mux, "GET /certificates/{name}", read, c.handleGetCertificate)
	c.route(mux, "PUT /certificates/{name}", write, c.handlePutCertificate)
	c.route(mux, "DELETE /certificates/{name}", write, c.handleDeleteCertificate)
	return iotHubFallback(mux)
}

// iotHubFallback answers what mux has no route for in IoT Hub's error format rather than
// ServeMux's plain text, which the SDKs surface as a bare "Not found": 404 NotFound for an
// unknown path, 405 MethodNotAllowed with ServeMux's Allow header for a known path asked
// with another method.
func iotHubFallback(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r) // (again, so that ServeMux sets the path values)
			return
		}
		// ServeMux's own 404 or 405 handler, run only to learn its status and Allow header.
		var probe headerProbe
		h.ServeHTTP(&probe, r)
		if probe.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", probe.Header().Get("Allow"))
			iothub.WriteHTTPError(w, iothub.NewError(iothub.CodeMethodNotAllowed, "%s is not allowed on %s", r.Method, shortPath(r)))
			return
		}
		iothub.WriteHTTPError(w, iothub.NewError(iothub.CodeNotFound, "no resource at %s", shortPath(r)))
	})
}

// shortPath is the request path cut to a length fit for an error message.
func shortPath(r *http.Request) string {
	const limit = 200
	if p := r.URL.Path; len(p) > limit {
		return p[:limit] + "..."
	}
	return r.URL.Path
}

// headerProbe is a ResponseWriter that keeps the status and headers and drops the body.
type headerProbe struct {
	header http.Header
	status int
}

// Header returns the headers set so far.
func (p *headerProbe) Header() http.Header {
	if p.header == nil {
		p.header = http.Header{}
	}
	return p.header
}

// Write drops b: only the status and headers matter.
func (p *headerProbe) Write(b []byte) (int, error) {
	if p.status == 0 {
		p.status = http.StatusOK
	}
	return len(b), nil
}

// WriteHeader keeps the first status.
func (p *headerProbe) WriteHeader(status int) {
	if p.status == 0 {
		p.status = status
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// readBody reads a request body bounded by maxRequestBody.
func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, iothub.NewError(iothub.CodeRequestEntityTooLarge, "request body too large or unreadable")
	}
	return body, nil
}

func readJSON(r *http.Request, v any) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return iothub.NewError(iothub.CodeArgumentInvalid, "request body is not valid JSON: %v", err)
	}
	return nil
}

func (c *Cloud) handleListDevices(w http.ResponseWriter, r *http.Request, _ *principal) error {
	top, _ := strconv.Atoi(r.URL.Query().Get("top"))
	devs, err := c.reg.listDevices(r.Context(), top)
	if err != nil {
		return err
	}
	c.overlayDevices(r.Context(), devs...)
	return writeJSON(w, http.StatusOK, devs)
}

func (c *Cloud) handleGetDevice(w http.ResponseWriter, r *http.Request, _ *principal) error {
	d, err := c.reg.getDevice(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	c.overlayDevices(r.Context(), d)
	return writeJSON(w, http.StatusOK, d)
}

func (c *Cloud) handlePutDevice(w http.ResponseWriter, r *http.Request, _ *principal) error {
	var d iothub.Device
	if err := readJSON(r, &d); err != nil {
		return err
	}
	id := r.PathValue("id")
	if d.DeviceID == "" {
		d.DeviceID = id
	}
	if d.DeviceID != id {
		return iothub.NewError(iothub.CodeArgumentInvalid, "deviceId %q does not match the path", d.DeviceID)
	}
	var out *iothub.Device
	var err error
	if ifMatch := r.Header.Get("If-Match"); ifMatch != "" {
		out, err = c.reg.updateDevice(r.Context(), &d, ifMatch)
	} else {
		out, err = c.reg.createDevice(r.Context(), &d)
	}
	if err != nil {
		return err
	}
	c.overlayDevices(r.Context(), out)
	return writeJSON(w, http.StatusOK, out)
}

func (c *Cloud) handleDeleteDevice(w http.ResponseWriter, r *http.Request, _ *principal) error {
	if err := c.reg.deleteDevice(r.Context(), r.PathValue("id"), r.Header.Get("If-Match")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (c *Cloud) handleListModules(w http.ResponseWriter, r *http.Request, _ *principal) error {
	mods, err := c.reg.listModules(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	for _, m := range mods {
		c.overlayModule(m)
	}
	return writeJSON(w, http.StatusOK, mods)
}

func (c *Cloud) handleGetModule(w http.ResponseWriter, r *http.Request, _ *principal) error {
	m, err := c.reg.getModule(r.Context(), r.PathValue("id"), r.PathValue("mid"))
	if err != nil {
		return err
	}
	c.overlayModule(m)
	return writeJSON(w, http.StatusOK, m)
}

func (c *Cloud) handlePutModule(w http.ResponseWriter, r *http.Request, _ *principal) error {
	var m iothub.Module
	if err := readJSON(r, &m); err != nil {
		return err
	}
	m.DeviceID, m.ModuleID = r.PathValue("id"), r.PathValue("mid")
	ctx := r.Context()
	if _, err := c.reg.getDevice(ctx, m.DeviceID); err != nil {
		return err
	}
	var out *iothub.Module
	var err error
	if ifMatch := r.Header.Get("If-Match"); ifMatch != "" {
		out, err = c.reg.updateModule(ctx, &m, ifMatch)
	} else {
		out, err = c.reg.createModule(ctx, &m)
		if err == nil {
			err = c.applyPendingDeployment(ctx, store.Key{DeviceID: m.DeviceID, ModuleID: m.ModuleID})
		}
	}
	if err != nil {
		return err
	}
	c.overlayModule(out)
	return writeJSON(w, http.StatusOK, out)
}

func (c *Cloud) handleDeleteModule(w http.ResponseWriter, r *http.Request, _ *principal) error {
	if err := c.reg.deleteModule(r.Context(), r.PathValue("id"), r.PathValue("mid"), r.Header.Get("If-Match")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (c *Cloud) handleApplyConfiguration(w http.ResponseWriter, r *http.Request, _ *principal) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	if err := c.applyConfigurationContent(r.Context(), r.PathValue("id"), body); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func pathKey(r *http.Request) store.Key {
	return store.Key{DeviceID: r.PathValue("id"), ModuleID: r.PathValue("mid")}
}

func (c *Cloud) handleGetTwin(w http.ResponseWriter, r *http.Request, _ *principal) error {
	v, err := c.getTwin(r.Context(), pathKey(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (c *Cloud) handleWriteTwin(replace bool) apiHandler {
	return func(w http.ResponseWriter, r *http.Request, _ *principal) error {
		body, err := readBody(r)
		if err != nil {
			return err
		}
		v, err := c.writeTwin(r.Context(), pathKey(r), body, r.Header.Get("If-Match"), replace)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, v)
	}
}

func (c *Cloud) handleInvokeMethod(w http.ResponseWriter, r *http.Request, _ *principal) error {
	var req iothub.MethodRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	res, err := c.InvokeMethod(r.Context(), pathKey(r), &req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}

func (c *Cloud) handleSendC2D(w http.ResponseWriter, r *http.Request, _ *principal) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	req := &C2DRequest{DeviceID: r.PathValue("id"), Body: body, System: map[string]string{}, Properties: map[string]string{}}
	for name, values := range r.Header {
		lname := strings.ToLower(name)
		if key, ok := iothub.C2DSystemProperty(lname); ok {
			req.System[key] = values[0]
		} else if app, ok := strings.CutPrefix(lname, "iothub-app-"); ok && app != "properties" {
			req.Properties[app] = values[0] // HTTP folds the case of these names
		}
	}
	if bag := r.Header.Get("iothub-app-properties"); bag != "" {
		_, app, err := iothub.ParsePropertyBag(bag)
		if err != nil {
			return iothub.NewError(iothub.CodeArgumentInvalid, "iothub-app-properties is not a property bag: %v", err)
		}
		for k, v := range app {
			req.Properties[k] = v
		}
	}
	if ack := req.System[message.Ack]; ack != "" && ack != "none" && ack != "positive" && ack != "negative" && ack != "full" {
		return iothub.NewError(iothub.CodeArgumentInvalid, "iothub-ack must be none, positive, negative or full")
	}
	if req.TTL, err = c2dTTL(r, c.now()); err != nil {
		return err
	}
	info, err := c.SendC2D(r.Context(), req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, info)
}

func c2dTTL(r *http.Request, now time.Time) (time.Duration, error) {
	if s := r.URL.Query().Get("ttl"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return 0, iothub.NewError(iothub.CodeArgumentInvalid, "ttl must be a positive number of seconds")
		}
		return time.Duration(n) * time.Second, nil
	}
	if s := r.Header.Get("iothub-expiry"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil || !t.After(now) {
			return 0, iothub.NewError(iothub.CodeArgumentInvalid, "iothub-expiry must be a future RFC 3339 time")
		}
		return t.Sub(now), nil
	}
	return 0, nil
}

func (c *Cloud) handleListC2D(w http.ResponseWriter, r *http.Request, _ *principal) error {
	msgs, err := c.ListC2D(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, msgs)
}

func eventFilter(r *http.Request) EventFilter {
	q := r.URL.Query()
	return EventFilter{DeviceID: q.Get("deviceId"), ModuleID: q.Get("moduleId")}
}

func (c *Cloud) handleEvents(w http.ResponseWriter, r *http.Request, _ *principal) error {
	q := r.URL.Query()
	from, _ := strconv.ParseInt(q.Get("from"), 10, 64)
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	evs, err := c.events.Read(r.Context(), max(from-1, 0), eventFilter(r), limit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, evs)
}

// handleEventStream serves events as server-sent events: history from ?from= (a sequence
// number, "start", or "end", the default) or Last-Event-ID, then live ones.
func (c *Cloud) handleEventStream(w http.ResponseWriter, r *http.Request, _ *principal) error {
	after, err := c.streamStart(r)
	if err != nil {
		return err
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		return errors.New("cloud: streaming unsupported by the connection")
	}
	longLived(w, r)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	// Announcing the start position lets a client that drops before the first event resume
	// from here instead of from a later end.
	_, _ = fmt.Fprintf(w, ": outpost event stream\nid: %d\n\n", after)
	flusher.Flush()
	ctx, cancel := context.WithCancel(r.Context())
	var mu sync.Mutex // serialises writes of events and keep-alives
	kaDone := make(chan struct{})
	go func() {
		defer close(kaDone)
		keepAlive(ctx, &mu, w, flusher)
	}()
	// The keep-alive goroutine must stop before the handler returns: the ResponseWriter is
	// not to be used after that.
	defer func() { cancel(); <-kaDone }()
	err = c.events.Follow(ctx, after, eventFilter(r), func(ev *iothub.Event) error {
		data, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if _, err := fmt.Fprintf(w, "id: %d\nevent: message\ndata: %s\n\n", ev.SequenceNumber, data); err != nil {
			return err
		}
		flusher.Flush()
		return nil
	})
	if err != nil && r.Context().Err() == nil {
		c.log.Debug("event stream ended", "err", err)
	}
	return nil
}

func keepAlive(ctx context.Context, mu *sync.Mutex, w io.Writer, f http.Flusher) {
	t := time.NewTicker(15 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			mu.Lock()
			_, _ = io.WriteString(w, ": keep-alive\n\n")
			f.Flush()
			mu.Unlock()
		}
	}
}

func (c *Cloud) streamStart(r *http.Request) (int64, error) {
	from := r.URL.Query().Get("from")
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			return 0, iothub.NewError(iothub.CodeArgumentInvalid, "Last-Event-ID must be a sequence number")
		}
		return n, nil
	}
	switch from {
	case "", "end":
		last, _ := c.events.watch()
		return last, nil
	case "start":
		return 0, nil
	}
	n, err := strconv.ParseInt(from, 10, 64)
	if err != nil || n < 0 {
		return 0, iothub.NewError(iothub.CodeArgumentInvalid, "from must be start, end or a sequence number")
	}
	return max(n-1, 0), nil
}
