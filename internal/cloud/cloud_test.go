package cloud_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/outpost-iot/outpost/internal/hubclient"
	"github.com/outpost-iot/outpost/internal/iothub"
	"github.com/outpost-iot/outpost/internal/message"
	"github.com/outpost-iot/outpost/internal/testutil"
)

func TestRegistryCRUD(t *testing.T) {
	tc := startCloud(t)
	ctx := tc.ctx()
	d, err := tc.svc.CreateDevice(ctx, &hubclient.Device{DeviceID: "dev-1"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Authentication == nil || d.Authentication.Type != "sas" || len(d.Authentication.SymmetricKey.PrimaryKey) < 40 {
		t.Fatalf("keys not generated: %+v", d.Authentication)
	}
	if d.GenerationID == "" || d.ETag == "" || d.Status != "enabled" || d.ConnectionState != "Disconnected" {
		t.Fatalf("missing fields: %+v", d)
	}
	if _, err := tc.svc.CreateDevice(ctx, &hubclient.Device{DeviceID: "dev-1"}); !hubclient.IsCode(err, "DeviceAlreadyExists") || !hubclient.IsStatus(err, http.StatusConflict) {
		t.Fatalf("duplicate create: %v", err)
	}
	if _, err := tc.svc.GetDevice(ctx, "nope"); !hubclient.IsCode(err, "DeviceNotFound") {
		t.Fatalf("missing device: %v", err)
	}
	got, err := tc.svc.GetDevice(ctx, "dev-1")
	if err != nil || got.Authentication.SymmetricKey.PrimaryKey != d.Authentication.SymmetricKey.PrimaryKey {
		t.Fatalf("get: %v %+v", err, got)
	}
	stale := *got
	got.Status = "disabled"
	upd, err := tc.svc.UpdateDevice(ctx, got)
	if err != nil || upd.Status != "disabled" || upd.ETag == got.ETag {
		t.Fatalf("update: %v %+v", err, upd)
	}
	if upd.Authentication.SymmetricKey.PrimaryKey != d.Authentication.SymmetricKey.PrimaryKey {
		t.Fatal("update rotated keys it was given")
	}
	if _, err := tc.svc.UpdateDevice(ctx, &stale); !hubclient.IsStatus(err, http.StatusPreconditionFailed) {
		t.Fatalf("stale etag accepted: %v", err)
	}
	if _, err := tc.svc.CreateDevice(ctx, &hubclient.Device{DeviceID: "bad/id"}); !hubclient.IsStatus(err, http.StatusBadRequest) && !hubclient.IsStatus(err, http.StatusNotFound) {
		t.Fatalf("invalid id accepted: %v", err)
	}
	list, err := tc.svc.ListDevices(ctx, 0)
	if err != nil || len(list) != 1 {
		t.Fatalf("list: %v %d", err, len(list))
	}
	m, err := tc.svc.CreateModule(ctx, &hubclient.Module{DeviceID: "dev-1", ModuleID: "mod-a"})
	if err != nil || m.Authentication.SymmetricKey.PrimaryKey == "" {
		t.Fatalf("module: %v", err)
	}
	if _, err := tc.svc.CreateModule(ctx, &hubclient.Module{DeviceID: "ghost", ModuleID: "m"}); !hubclient.IsCode(err, "DeviceNotFound") {
		t.Fatalf("module on missing device: %v", err)
	}
	mods, err := tc.svc.ListModules(ctx, "dev-1")
	if err != nil || len(mods) != 1 {
		t.Fatalf("list modules: %v %d", err, len(mods))
	}
	if err := tc.svc.DeleteDevice(ctx, "dev-1", "*"); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.svc.GetModule(ctx, "dev-1", "mod-a"); err == nil {
		t.Fatal("module survived its device")
	}
}

func TestEdgeDeviceAndScopes(t *testing.T) {
	tc := startCloud(t)
	ctx := tc.ctx()
	edge, err := tc.svc.CreateDevice(ctx, &hubclient.Device{DeviceID: "edge1", Capabilities: &iothub.Capabilities{IoTEdge: true}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(edge.DeviceScope, "ms-azure-iot-edge://edge1-") {
		t.Fatalf("edge scope %q", edge.DeviceScope)
	}
	mods, err := tc.svc.ListModules(ctx, "edge1")
	if err != nil || len(mods) != 2 || mods[0].ModuleID != "$edgeAgent" || mods[1].ModuleID != "$edgeHub" {
		t.Fatalf("system modules: %v %+v", err, mods)
	}
	leaf, err := tc.svc.CreateDevice(ctx, &hubclient.Device{DeviceID: "leaf1", DeviceScope: edge.DeviceScope})
	if err != nil {
		t.Fatal(err)
	}
	if leaf.DeviceScope != edge.DeviceScope || len(leaf.ParentScopes) != 1 || leaf.ParentScopes[0] != edge.DeviceScope {
		t.Fatalf("leaf scopes: %+v", leaf)
	}
	child, err := tc.svc.CreateDevice(ctx, &hubclient.Device{DeviceID: "edge2", Capabilities: &iothub.Capabilities{IoTEdge: true}, ParentScopes: []string{edge.DeviceScope}})
	if err != nil {
		t.Fatal(err)
	}
	if child.DeviceScope == edge.DeviceScope || len(child.ParentScopes) != 1 {
		t.Fatalf("child edge scopes: %+v", child)
	}
	if _, err := tc.svc.CreateDevice(ctx, &hubclient.Device{DeviceID: "orphan", DeviceScope: "ms-azure-iot-edge://nobody-1"}); !hubclient.IsStatus(err, http.StatusBadRequest) {
		t.Fatalf("scope of a missing edge accepted: %v", err)
	}
	// The edge's $edgeHub reads its scope with its own token (IOTEDGE-REFERENCE §3.5).
	hubKey := mods[1].Authentication.SymmetricKey.PrimaryKey
	tok := sasFor(t, "edge1", "$edgeHub", hubKey, time.Hour)
	body := strings.NewReader(`{"pageSize":10,"continuationLink":null,"authChain":"edge1"}`)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+tc.cfg.HTTPSListen+"/devices/edge1/modules/$edgeHub/devicesAndModulesInTargetDeviceScope?api-version=2020-06-30-preview", body)
	req.Header.Set("Authorization", tok)
	res := doJSON(t, tc, req)
	var scope struct {
		Devices []struct{ DeviceID string } `json:"devices"`
		Modules []struct{ ModuleID string } `json:"modules"`
	}
	if err := json.Unmarshal(res, &scope); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, d := range scope.Devices {
		ids[d.DeviceID] = true
	}
	if !ids["edge1"] || !ids["leaf1"] || !ids["edge2"] || len(scope.Modules) < 4 {
		t.Fatalf("scope: %s", res)
	}
	// A device token of another device must not read the scope.
	other := tc.createDevice("other")
	req2, _ := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+tc.cfg.HTTPSListen+"/devices/edge1/modules/$edgeHub/devicesAndModulesInTargetDeviceScope", strings.NewReader(`{}`))
	req2.Header.Set("Authorization", sasFor(t, "other", "", other, time.Hour))
	if status := doStatus(t, tc, req2); status != http.StatusUnauthorized {
		t.Fatalf("foreign token got %d", status)
	}
}

func TestTelemetryStoredWithStamps(t *testing.T) {
	tc := startCloud(t)
	key := tc.createDevice("sensor")
	c := tc.mustConnect("sensor", "", key, clientOpts{})
	topic := "devices/sensor/messages/events/%24.mid=m-1&%24.ct=application%2Fjson&%24.ce=utf-8&temp=high"
	wait(t, c.Publish(topic, 1, false, `{"t":21.5}`))
	evs, err := tc.svc.Events(tc.ctx(), hubclient.EventFilter{DeviceID: "sensor"}, 0, 10)
	if err != nil || len(evs) != 1 {
		t.Fatalf("events: %v %d", err, len(evs))
	}
	ev := evs[0]
	if ev.Properties["temp"] != "high" || ev.SystemProperties["message-id"] != "m-1" ||
		ev.SystemProperties["iothub-connection-device-id"] != "sensor" || ev.SystemProperties["content-type"] != "application/json" {
		t.Fatalf("event properties: %+v", ev)
	}
	if !strings.Contains(ev.SystemProperties["iothub-connection-auth-method"], `"sas"`) || ev.SequenceNumber == 0 {
		t.Fatalf("stamps: %+v", ev)
	}
	if string(ev.Body) != `{"t":21.5}` {
		t.Fatalf("body %s", ev.Body)
	}
}

func TestTelemetryModuleAndTrailingSlashForms(t *testing.T) {
	tc := startCloud(t)
	tc.createDevice("d")
	mkey := tc.createModule("d", "m")
	c := tc.mustConnect("d", "m", mkey, clientOpts{})
	for _, topic := range []string{"devices/d/modules/m/messages/events", "devices/d/modules/m/messages/events/", "devices/d/modules/m/messages/events/a=1"} {
		wait(t, c.Publish(topic, 1, false, "x"))
	}
	evs, err := tc.svc.Events(tc.ctx(), hubclient.EventFilter{DeviceID: "d", ModuleID: "m"}, 0, 10)
	if err != nil || len(evs) != 3 || evs[2].SystemProperties["iothub-connection-module-id"] != "m" {
		t.Fatalf("module events: %v %+v", err, evs)
	}
}

// TestModuleOutputTrailingSlash: the Node SDK's sendOutputEvent ends the bag with "/"
// (".../events/$.on=out1/"); the stored event must name output out1, not "out1/".
func TestModuleOutputTrailingSlash(t *testing.T) {
	tc := startCloud(t)
	tc.createDevice("d")
	mkey := tc.createModule("d", "m")
	c := tc.mustConnect("d", "m", mkey, clientOpts{})
	wait(t, c.Publish("devices/d/modules/m/messages/events/k=v&%24.on=out1/", 1, false, "x"))
	wait(t, c.Publish("devices/d/modules/m/messages/events/$.on=out1&k=v/", 1, false, "y"))
	evs, err := tc.svc.Events(tc.ctx(), hubclient.EventFilter{DeviceID: "d", ModuleID: "m"}, 0, 10)
	if err != nil || len(evs) != 2 {
		t.Fatalf("module events: %v %d", err, len(evs))
	}
	for i, ev := range evs {
		if ev.SystemProperties[message.OutputName] != "out1" || ev.Properties["k"] != "v" {
			t.Errorf("event %d: output %q, k %q, want out1 and v", i, ev.SystemProperties[message.OutputName], ev.Properties["k"])
		}
	}
}

func TestEventsSurviveRestart(t *testing.T) {
	tc := startCloud(t)
	key := tc.createDevice("d1")
	c := tc.mustConnect("d1", "", key, clientOpts{})
	for i := 0; i < 20; i++ {
		wait(t, c.Publish("devices/d1/messages/events/", 1, false, "m"))
	}
	c.Disconnect(0)
	tc.restart()
	evs, err := tc.svc.Events(tc.ctx(), hubclient.EventFilter{DeviceID: "d1"}, 0, 100)
	if err != nil || len(evs) != 20 {
		t.Fatalf("after restart: %v %d", err, len(evs))
	}
	if _, err := tc.svc.GetDevice(tc.ctx(), "d1"); err != nil {
		t.Fatalf("registry lost: %v", err)
	}
}

func TestC2DDeliveredAndCompleted(t *testing.T) {
	tc := startCloud(t)
	key := tc.createDevice("d")
	ctx := tc.ctx()
	// Queued while offline, delivered on subscribe.
	if _, err := tc.svc.SendC2D(ctx, "d", hubclient.C2DMessage{Body: []byte("hello"), MessageID: "c-1", Properties: map[string]string{"color": "red", "Room Name": "B/12"}}); err != nil {
		t.Fatal(err)
	}
	rec := newReceived()
	c := tc.mustConnect("d", "", key, clientOpts{})
	subscribe(t, c, "devices/d/messages/devicebound/#", rec.handler)
	m := rec.next(t, 10*time.Second)
	if string(m.Payload()) != "hello" || !strings.HasPrefix(m.Topic(), "devices/d/messages/devicebound/") {
		t.Fatalf("c2d: %s %s", m.Topic(), m.Payload())
	}
	if !strings.Contains(m.Topic(), "%24.mid=c-1") || !strings.Contains(m.Topic(), "color=red") || !strings.Contains(m.Topic(), "Room%20Name=B%2F12") ||
		!strings.Contains(m.Topic(), "%24.to=%2Fdevices%2Fd%2Fmessages%2FdeviceBound") {
		t.Fatalf("c2d topic %s", m.Topic())
	}
	testutil.Eventually(t, 10*time.Second, func() bool {
		q, err := tc.svc.ListC2D(ctx, "d")
		return err == nil && len(q) == 0
	}, "message not completed by PUBACK")
	// Sent while online.
	if _, err := tc.svc.SendC2D(ctx, "d", hubclient.C2DMessage{Body: []byte("again")}); err != nil {
		t.Fatal(err)
	}
	if m := rec.next(t, 10*time.Second); string(m.Payload()) != "again" {
		t.Fatalf("second: %s", m.Payload())
	}
}

func TestC2DLimits(t *testing.T) {
	tc := startCloud(t, func(c *cloudConfig) { c.C2DQueueDepth = 2 })
	tc.createDevice("d")
	ctx := tc.ctx()
	for i := 0; i < 2; i++ {
		if _, err := tc.svc.SendC2D(ctx, "d", hubclient.C2DMessage{Body: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tc.svc.SendC2D(ctx, "d", hubclient.C2DMessage{Body: []byte("x")}); !hubclient.IsCode(err, "DeviceMaximumQueueDepthExceeded") {
		t.Fatalf("queue depth: %v", err)
	}
	if d, err := tc.svc.GetDevice(ctx, "d"); err != nil || d.CloudToDeviceMessageCount != 2 {
		t.Fatalf("device shows %v queued: %v", d, err)
	}
	tc.createDevice("empty")
	if list, err := tc.svc.ListDevices(ctx, 0); err != nil || len(list) != 2 || list[0].CloudToDeviceMessageCount != 2 || list[1].CloudToDeviceMessageCount != 0 {
		t.Fatalf("list shows %+v: %v", list, err)
	}
	if _, err := tc.svc.SendC2D(ctx, "ghost", hubclient.C2DMessage{Body: []byte("x")}); !hubclient.IsCode(err, "DeviceNotFound") {
		t.Fatalf("unknown device: %v", err)
	}
	if _, err := tc.svc.SendC2D(ctx, "d", hubclient.C2DMessage{Body: []byte("x"), TTL: 49 * time.Hour}); !hubclient.IsStatus(err, http.StatusBadRequest) {
		t.Fatalf("ttl over 48 h: %v", err)
	}
}

func TestC2DExpiry(t *testing.T) {
	clock := newFakeClock()
	tc := startCloud(t, func(c *cloudConfig) { c.Now = clock.Now })
	key := tc.createDevice("d")
	ctx := tc.ctx()
	if _, err := tc.svc.SendC2D(ctx, "d", hubclient.C2DMessage{Body: []byte("stale"), TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.svc.SendC2D(ctx, "d", hubclient.C2DMessage{Body: []byte("fresh"), TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute)
	rec := newReceived()
	c := tc.mustConnect("d", "", key, clientOpts{})
	subscribe(t, c, "devices/d/messages/devicebound/#", rec.handler)
	if m := rec.next(t, 10*time.Second); string(m.Payload()) != "fresh" {
		t.Fatalf("expired message delivered: %s", m.Payload())
	}
}

func TestTwinOverMQTTAndService(t *testing.T) {
	tc := startCloud(t)
	key := tc.createDevice("d")
	ctx := tc.ctx()
	rec := newReceived()
	c := tc.mustConnect("d", "", key, clientOpts{})
	subscribe(t, c, "$iothub/twin/res/#", rec.handler)
	desired := newReceived()
	subscribe(t, c, "$iothub/twin/PATCH/properties/desired/#", desired.handler)

	wait(t, c.Publish("$iothub/twin/GET/?$rid=1", 0, false, " "))
	m := rec.next(t, 10*time.Second)
	if m.Topic() != "$iothub/twin/res/200/?$rid=1" {
		t.Fatalf("get topic %s", m.Topic())
	}
	var props map[string]map[string]any
	if err := json.Unmarshal(m.Payload(), &props); err != nil || props["desired"]["$version"] == nil || props["reported"]["$version"] == nil {
		t.Fatalf("get body %s", m.Payload())
	}

	wait(t, c.Publish("$iothub/twin/PATCH/properties/reported/?$rid=2", 0, false, `{"fw":"1.0","nested":{"a":1}}`))
	m = rec.next(t, 10*time.Second)
	if !strings.HasPrefix(m.Topic(), "$iothub/twin/res/204/?$rid=2&$version=") {
		t.Fatalf("patch topic %s", m.Topic())
	}
	wait(t, c.Publish("$iothub/twin/PATCH/properties/reported/?$rid=3", 0, false, `{"bad.name":1}`))
	if m = rec.next(t, 10*time.Second); !strings.HasPrefix(m.Topic(), "$iothub/twin/res/400/?$rid=3") || !strings.Contains(string(m.Payload()), "errorCode") {
		t.Fatalf("invalid patch: %s %s", m.Topic(), m.Payload())
	}

	tw, err := tc.svc.GetTwin(ctx, "d", "")
	if err != nil || tw.Properties.Reported["fw"] != "1.0" {
		t.Fatalf("service twin: %v %+v", err, tw)
	}
	if _, err := tc.svc.PatchTwin(ctx, "d", "", json.RawMessage(`{"properties":{"desired":{"rate":5}}}`), "\"not-the-etag\""); !hubclient.IsStatus(err, http.StatusPreconditionFailed) {
		t.Fatalf("If-Match ignored: %v", err)
	}
	tw2, err := tc.svc.PatchTwin(ctx, "d", "", json.RawMessage(`{"tags":{"site":"a"},"properties":{"desired":{"rate":5}}}`), tw.ETag)
	if err != nil || tw2.Tags["site"] != "a" || tw2.ETag == tw.ETag {
		t.Fatalf("patch: %v %+v", err, tw2)
	}
	n := desired.next(t, 10*time.Second)
	var patch map[string]any
	if err := json.Unmarshal(n.Payload(), &patch); err != nil || patch["rate"] != float64(5) || patch["$version"] == nil {
		t.Fatalf("desired notification %s %s", n.Topic(), n.Payload())
	}
	if !strings.HasPrefix(n.Topic(), "$iothub/twin/PATCH/properties/desired/?$version=") {
		t.Fatalf("desired topic %s", n.Topic())
	}
	// Desired and reported versions move independently.
	wait(t, c.Publish("$iothub/twin/GET/?$rid=4", 0, false, ""))
	m = rec.next(t, 10*time.Second)
	_ = json.Unmarshal(m.Payload(), &props)
	if props["desired"]["rate"] != float64(5) || props["reported"]["fw"] != "1.0" {
		t.Fatalf("after update: %s", m.Payload())
	}
}

func TestMethods(t *testing.T) {
	tc := startCloud(t)
	key := tc.createDevice("d")
	ctx := tc.ctx()
	sec := 1
	if _, err := tc.svc.InvokeMethod(ctx, "d", "", iothub.MethodRequest{MethodName: "reboot", ResponseTimeoutInSeconds: new(sec)}); !hubclient.IsStatus(err, http.StatusNotFound) {
		t.Fatalf("offline device: %v", err)
	}
	c := tc.mustConnect("d", "", key, clientOpts{})
	subscribe(t, c, "$iothub/methods/POST/#", func(cl mqtt.Client, m mqtt.Message) {
		rid := m.Topic()[strings.Index(m.Topic(), "$rid=")+5:]
		if strings.Contains(m.Topic(), "/slow/") {
			return
		}
		cl.Publish("$iothub/methods/res/201/?$rid="+rid, 0, false, `{"echo":`+string(m.Payload())+`}`)
	})
	res, err := tc.svc.InvokeMethod(ctx, "d", "", iothub.MethodRequest{MethodName: "reboot", Payload: json.RawMessage(`{"delay":3}`)})
	if err != nil || res.Status != 201 || !strings.Contains(string(res.Payload), `"delay":3`) {
		t.Fatalf("invoke: %v %+v", err, res)
	}
	if _, err := tc.svc.InvokeMethod(ctx, "d", "", iothub.MethodRequest{MethodName: "slow", ResponseTimeoutInSeconds: new(sec)}); !hubclient.IsStatus(err, http.StatusGatewayTimeout) {
		t.Fatalf("timeout: %v", err)
	}
	big := json.RawMessage(`"` + strings.Repeat("a", 130*1024) + `"`)
	if _, err := tc.svc.InvokeMethod(ctx, "d", "", iothub.MethodRequest{MethodName: "big", Payload: big}); !hubclient.IsStatus(err, http.StatusRequestEntityTooLarge) {
		t.Fatalf("oversize payload: %v", err)
	}
}

func TestSessionSurvivesReconnectAndRestart(t *testing.T) {
	tc := startCloud(t)
	key := tc.createDevice("d")
	got := make(chan string, 10)
	handler := func(cl mqtt.Client, m mqtt.Message) {
		rid := m.Topic()[strings.Index(m.Topic(), "$rid=")+5:]
		got <- m.Topic()
		cl.Publish("$iothub/methods/res/200/?$rid="+rid, 0, false, `{}`)
	}
	c := tc.mustConnect("d", "", key, clientOpts{onMessage: handler})
	subscribe(t, c, "$iothub/methods/POST/#", handler)
	c.Disconnect(50)
	tc.restart()
	// The Node SDK does not subscribe again after a token-renewal reconnect (IOTEDGE-REFERENCE §1.4).
	tc.mustConnect("d", "", key, clientOpts{onMessage: handler})
	res, err := tc.svc.InvokeMethod(tc.ctx(), "d", "", iothub.MethodRequest{MethodName: "ping", ConnectTimeoutInSeconds: new(5)})
	if err != nil || res.Status != 200 {
		t.Fatalf("method after reconnect: %v %+v", err, res)
	}
}

// TestC2DResumesOnRestoredSession: a device that subscribed once gets C2D after reconnecting
// without subscribing again, as the Node SDK does after renewing its token.
func TestC2DResumesOnRestoredSession(t *testing.T) {
	tc := startCloud(t)
	key := tc.createDevice("d")
	rec := newReceived()
	c := tc.mustConnect("d", "", key, clientOpts{onMessage: rec.handler})
	subscribe(t, c, "devices/d/messages/devicebound/#", rec.handler)
	c.Disconnect(50)
	tc.mustConnect("d", "", key, clientOpts{onMessage: rec.handler})
	if _, err := tc.svc.SendC2D(tc.ctx(), "d", hubclient.C2DMessage{Body: []byte("after renewal")}); err != nil {
		t.Fatal(err)
	}
	if m := rec.next(t, 10*time.Second); string(m.Payload()) != "after renewal" {
		t.Fatalf("got %s", m.Payload())
	}
}

// TestDeletedIdentityLosesItsSession: re-creating a device does not restore the old subscriptions.
func TestDeletedIdentityLosesItsSession(t *testing.T) {
	tc := startCloud(t)
	key := tc.createDevice("d")
	c := tc.mustConnect("d", "", key, clientOpts{})
	subscribe(t, c, "$iothub/methods/POST/#", nil)
	c.Disconnect(50)
	if err := tc.svc.DeleteDevice(tc.ctx(), "d", ""); err != nil {
		t.Fatal(err)
	}
	key = tc.createDevice("d")
	tc.mustConnect("d", "", key, clientOpts{})
	if _, err := tc.svc.InvokeMethod(tc.ctx(), "d", "", iothub.MethodRequest{MethodName: "ping", ResponseTimeoutInSeconds: new(5)}); !hubclient.IsStatus(err, http.StatusNotFound) {
		t.Fatalf("old subscription restored for a new identity: %v", err)
	}
}

func TestWebSocketTransport(t *testing.T) {
	tc := startCloud(t)
	key := tc.createDevice("ws")
	c := tc.mustConnect("ws", "", key, clientOpts{transport: "wss"})
	wait(t, c.Publish("devices/ws/messages/events/", 1, false, "over-ws"))
	evs, err := tc.svc.Events(tc.ctx(), hubclient.EventFilter{DeviceID: "ws"}, 0, 10)
	if err != nil || len(evs) != 1 {
		t.Fatalf("ws events: %v %d", err, len(evs))
	}
}

func TestWillPublishedOnAbnormalClose(t *testing.T) {
	tc := startCloud(t)
	key := tc.createDevice("w")
	c := tc.mustConnect("w", "", key, clientOpts{will: &[2]string{"devices/w/messages/events/", "gone"}})
	// Closing the device's live connection from the server side is an abnormal end.
	d, err := tc.svc.GetDevice(tc.ctx(), "w")
	if err != nil {
		t.Fatal(err)
	}
	d.Status = "disabled"
	if _, err := tc.svc.UpdateDevice(tc.ctx(), d); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return !c.IsConnectionOpen() }, "disabled device still connected")
	var evs []iothub.Event
	testutil.Eventually(t, 10*time.Second, func() bool {
		evs, _ = tc.svc.Events(tc.ctx(), hubclient.EventFilter{DeviceID: "w"}, 0, 10)
		return len(evs) == 1
	}, "will not stored")
	if evs[0].Properties["iothub-MessageType"] != "Will" {
		t.Fatalf("will: %+v", evs[0])
	}
}
