package cloud_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/outpost-iot/outpost/internal/hubclient"
	"github.com/outpost-iot/outpost/internal/iothub"
	"github.com/outpost-iot/outpost/internal/testutil"
)

func TestUserProvidedCertificate(t *testing.T) {
	ca := testutil.TempCA(t)
	cert, err := ca.IssueServer([]string{"localhost"}, 24*time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
	writeKeyPair(t, cert, ca.CertPEM, certFile, keyFile)
	tc := startCloud(t, func(c *cloudConfig) { c.CertFile, c.KeyFile = certFile, keyFile })
	// The cloud generated no CA of its own and the user's chain verifies.
	if _, err := os.Stat(filepath.Join(tc.dir, "pki", "ca.pem")); err == nil {
		t.Fatal("a CA was generated although a certificate was given")
	}
	tc.pool.AppendCertsFromPEM(ca.CertPEM)
	// The service client dials 127.0.0.1 and verifies the certificate against the hub name.
	d, err := tc.svc.CreateDevice(tc.ctx(), &hubclient.Device{DeviceID: "d"})
	if err != nil {
		t.Fatal(err)
	}
	tc.mustConnect("d", "", d.Authentication.SymmetricKey.PrimaryKey, clientOpts{}).Disconnect(0)
}

func TestStateSurvivesRestart(t *testing.T) {
	tc := startCloud(t)
	key := tc.createDevice("d")
	ctx := tc.ctx()
	if _, err := tc.svc.PatchTwin(ctx, "d", "", json.RawMessage(`{"tags":{"room":"b12"},"properties":{"desired":{"x":1}}}`), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.svc.SendC2D(ctx, "d", hubclient.C2DMessage{Body: []byte("queued")}); err != nil {
		t.Fatal(err)
	}
	tc.restart()
	tw, err := tc.svc.GetTwin(tc.ctx(), "d", "")
	if err != nil || tw.Tags["room"] != "b12" || tw.Properties.Desired["x"] != float64(1) {
		t.Fatalf("twin after restart: %v %+v", err, tw)
	}
	rec := newReceived()
	c := tc.mustConnect("d", "", key, clientOpts{})
	subscribe(t, c, "devices/d/messages/devicebound/#", rec.handler)
	if m := rec.next(t, 10*time.Second); string(m.Payload()) != "queued" {
		t.Fatalf("c2d after restart: %s", m.Payload())
	}
}

// TestC2DMaxDeliveryCount: a message that is never acknowledged is abandoned after the lock
// timeout, delivered again, and dead-lettered after the maximum delivery count.
func TestC2DMaxDeliveryCount(t *testing.T) {
	tc := startCloud(t, func(c *cloudConfig) { c.MaxDeliveryCount, c.C2DLockTimeout = 2, 300*time.Millisecond })
	key := tc.createDevice("d")
	var deliveries atomic.Int32
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	c := tc.mustConnect("d", "", key, clientOpts{})
	subscribe(t, c, "devices/d/messages/devicebound/#", func(mqtt.Client, mqtt.Message) {
		deliveries.Add(1)
		<-block // never PUBACK while the test runs
	})
	if _, err := tc.svc.SendC2D(tc.ctx(), "d", hubclient.C2DMessage{Body: []byte("poison")}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 15*time.Second, func() bool {
		q, err := tc.svc.ListC2D(tc.ctx(), "d")
		return err == nil && len(q) == 0
	}, "message never dead-lettered")
	if n := deliveries.Load(); n != 2 {
		t.Fatalf("%d deliveries, want 2", n)
	}
	if v := scrape(t, tc, `outpost_cloud_c2d_messages_total{outcome="dead_lettered"}`); v != "1" {
		t.Fatalf("dead-letter counter %q", v)
	}
}

func TestApplyConfigurationContent(t *testing.T) {
	tc := startCloud(t)
	ctx := tc.ctx()
	if _, err := tc.svc.CreateDevice(ctx, &hubclient.Device{DeviceID: "edge", Capabilities: &iothub.Capabilities{IoTEdge: true}}); err != nil {
		t.Fatal(err)
	}
	manifest := `{"modulesContent":{
		"$edgeAgent":{"properties.desired":{"schemaVersion":"1.1","modules":{"sensor":{"type":"docker"}}}},
		"$edgeHub":{"properties.desired":{"schemaVersion":"1.1","routes":{"r":"FROM /messages/* INTO $upstream"}}},
		"sensor":{"properties.desired":{"interval":5}}}}`
	if err := tc.svc.ApplyConfigurationContent(ctx, "edge", json.RawMessage(manifest)); err != nil {
		t.Fatal(err)
	}
	agent, err := tc.svc.GetTwin(ctx, "edge", "$edgeAgent")
	if err != nil || agent.Properties.Desired["schemaVersion"] != "1.1" || agent.Properties.Desired["modules"] == nil {
		t.Fatalf("$edgeAgent twin: %v %+v", err, agent)
	}
	hub, err := tc.svc.GetTwin(ctx, "edge", "$edgeHub")
	if err != nil || hub.Properties.Desired["routes"] == nil {
		t.Fatalf("$edgeHub twin: %v %+v", err, hub)
	}
	// The module identity the agent creates later picks up its desired properties.
	if _, err := tc.svc.CreateModule(ctx, &hubclient.Module{DeviceID: "edge", ModuleID: "sensor", ManagedBy: "IotEdge"}); err != nil {
		t.Fatal(err)
	}
	sensor, err := tc.svc.GetTwin(ctx, "edge", "sensor")
	if err != nil || sensor.Properties.Desired["interval"] != float64(5) {
		t.Fatalf("sensor twin: %v %+v", err, sensor)
	}
	// A second deployment replaces, not merges, the desired properties.
	if err := tc.svc.ApplyConfigurationContent(ctx, "edge", json.RawMessage(`{"modulesContent":{"$edgeAgent":{"properties.desired":{"schemaVersion":"1.0"}}}}`)); err != nil {
		t.Fatal(err)
	}
	agent, _ = tc.svc.GetTwin(ctx, "edge", "$edgeAgent")
	if agent.Properties.Desired["modules"] != nil {
		t.Fatalf("deployment merged instead of replacing: %+v", agent.Properties.Desired)
	}
	tc.createDevice("plain")
	if err := tc.svc.ApplyConfigurationContent(ctx, "plain", json.RawMessage(manifest)); !hubclient.IsStatus(err, http.StatusBadRequest) {
		t.Fatalf("configuration on a non-edge device: %v", err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+tc.cfg.HTTPSListen+"/devices/edge/applyConfigurationContent", strings.NewReader(`{"nope":1}`))
	req.Header.Set("Authorization", serviceToken(t, tc))
	if s := doStatus(t, tc, req); s != http.StatusBadRequest {
		t.Fatalf("content without modulesContent: %d", s)
	}
}

// TestEdgeHubActsOnBehalfOfChildren: the edge hub's upstream link connects as a child identity
// with the edge's own $edgeHub token (IOTEDGE-REFERENCE §3.6); devices outside its scope refuse it.
func TestEdgeHubActsOnBehalfOfChildren(t *testing.T) {
	tc := startCloud(t)
	ctx := tc.ctx()
	edge, err := tc.svc.CreateDevice(ctx, &hubclient.Device{DeviceID: "edge", Capabilities: &iothub.Capabilities{IoTEdge: true}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tc.svc.CreateDevice(ctx, &hubclient.Device{DeviceID: "leaf", DeviceScope: edge.DeviceScope}); err != nil {
		t.Fatal(err)
	}
	tc.createDevice("stranger")
	tc.createModule("edge", "filter")
	hub, err := tc.svc.GetModule(ctx, "edge", "$edgeHub")
	if err != nil {
		t.Fatal(err)
	}
	tok := sasFor(t, "edge", "$edgeHub", hub.Authentication.SymmetricKey.PrimaryKey, time.Hour)
	for _, id := range [][2]string{{"leaf", ""}, {"edge", "filter"}, {"edge", "$edgeHub"}} {
		c := tc.mustConnect(id[0], id[1], "", clientOpts{password: &tok})
		topic := "devices/" + id[0] + "/messages/events/"
		if id[1] != "" {
			topic = "devices/" + id[0] + "/modules/" + id[1] + "/messages/events/"
		}
		wait(t, c.Publish(topic, 1, false, "via-edge"))
		c.Disconnect(0)
	}
	if _, err := tc.connect("stranger", "", "", clientOpts{password: &tok}); refusedCode(err) != "0x05" {
		t.Fatalf("edge token accepted for a device outside its scope: %v", err)
	}
	evs, err := tc.svc.Events(ctx, hubclient.EventFilter{DeviceID: "leaf"}, 0, 10)
	if err != nil || len(evs) != 1 || evs[0].SystemProperties["iothub-connection-device-id"] != "leaf" {
		t.Fatalf("leaf telemetry via the edge: %v %+v", err, evs)
	}
	// getDeviceAndModuleOnBehalfOf returns one identity of the scope.
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+tc.cfg.HTTPSListen+"/devices/edge/modules/$edgeHub/getDeviceAndModuleOnBehalfOf",
		strings.NewReader(`{"targetDeviceId":"leaf","authChain":"leaf;edge"}`))
	req.Header.Set("Authorization", tok)
	body := doJSON(t, tc, req)
	if !strings.Contains(string(body), `"deviceId":"leaf"`) || strings.Contains(string(body), "stranger") {
		t.Fatalf("on behalf of: %s", body)
	}
	// A module of an edge device in the scope comes with its device, and only that module.
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, "https://"+tc.cfg.HTTPSListen+"/devices/edge/modules/$edgeHub/getDeviceAndModuleOnBehalfOf",
		strings.NewReader(`{"targetDeviceId":"edge","targetModuleId":"filter","authChain":"edge"}`))
	req.Header.Set("Authorization", tok)
	var mod struct {
		Devices []hubclient.Device `json:"devices"`
		Modules []hubclient.Module `json:"modules"`
	}
	if body := doJSON(t, tc, req); json.Unmarshal(body, &mod) != nil || len(mod.Devices) != 1 || mod.Devices[0].DeviceID != "edge" ||
		len(mod.Modules) != 1 || mod.Modules[0].ModuleID != "filter" {
		t.Fatalf("module on behalf of: %s", body)
	}
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, "https://"+tc.cfg.HTTPSListen+"/devices/edge/modules/$edgeHub/getDeviceAndModuleOnBehalfOf",
		strings.NewReader(`{"targetDeviceId":"stranger","authChain":"stranger;edge"}`))
	req.Header.Set("Authorization", tok)
	if s := doStatus(t, tc, req); s != http.StatusNotFound {
		t.Fatalf("out-of-scope identity: %d", s)
	}
}

// TestTwinIntegerRange: integers beyond ±2^52 are refused from devices and services alike
// (IOTEDGE-REFERENCE §1.7), which needs the numbers checked before they become float64.
func TestTwinIntegerRange(t *testing.T) {
	tc := startCloud(t)
	key := tc.createDevice("d")
	rec := newReceived()
	c := tc.mustConnect("d", "", key, clientOpts{})
	subscribe(t, c, "$iothub/twin/res/#", rec.handler)
	wait(t, c.Publish("$iothub/twin/PATCH/properties/reported/?$rid=1", 0, false, `{"big":9007199254740993}`))
	if m := rec.next(t, 10*time.Second); !strings.HasPrefix(m.Topic(), "$iothub/twin/res/400/") {
		t.Fatalf("reported integer out of range: %s", m.Topic())
	}
	if _, err := tc.svc.PatchTwin(tc.ctx(), "d", "", json.RawMessage(`{"properties":{"desired":{"big":9007199254740993}}}`), ""); !hubclient.IsStatus(err, http.StatusBadRequest) {
		t.Fatalf("desired integer out of range: %v", err)
	}
}

// TestTwinNumberBeyondFloat64: a number no float64 holds ({"big":1e400}) is refused with 400
// ArgumentInvalid on every path that writes a twin; once stored it made every read of the twin
// (outpost twin show, the SDKs) fail to decode it.
func TestTwinNumberBeyondFloat64(t *testing.T) {
	tc := startCloud(t)
	ctx := tc.ctx()
	key := tc.createDevice("d")
	rec := newReceived()
	c := tc.mustConnect("d", "", key, clientOpts{})
	subscribe(t, c, "$iothub/twin/res/#", rec.handler)
	wait(t, c.Publish("$iothub/twin/PATCH/properties/reported/?$rid=1", 0, false, `{"big":1e400}`))
	if m := rec.next(t, 10*time.Second); !strings.HasPrefix(m.Topic(), "$iothub/twin/res/400/") {
		t.Errorf("MQTT reported patch beyond float64: %s", m.Topic())
	}
	writes := []struct {
		what string
		do   func() error
	}{
		{"PATCH desired", func() error {
			_, err := tc.svc.PatchTwin(ctx, "d", "", json.RawMessage(`{"properties":{"desired":{"big":1e400}}}`), "")
			return err
		}},
		{"PATCH tags", func() error {
			_, err := tc.svc.PatchTwin(ctx, "d", "", json.RawMessage(`{"tags":{"t":{"big":-1e400}}}`), "")
			return err
		}},
		{"PUT desired", func() error {
			_, err := tc.svc.ReplaceTwin(ctx, "d", "", json.RawMessage(`{"properties":{"desired":{"a":[1e309]}}}`), "*")
			return err
		}},
		{"PUT tags", func() error {
			_, err := tc.svc.ReplaceTwin(ctx, "d", "", json.RawMessage(`{"tags":{"big":1e400}}`), "*")
			return err
		}},
	}
	for _, w := range writes {
		var he *hubclient.Error
		if err := w.do(); !errors.As(err, &he) || he.Status != http.StatusBadRequest || he.Code != iothub.CodeArgumentInvalid {
			t.Errorf("%s beyond float64: %v, want 400 %s", w.what, err, iothub.CodeArgumentInvalid)
		}
	}
	if _, err := tc.svc.GetTwin(ctx, "d", ""); err != nil {
		t.Errorf("device twin no longer readable: %v", err)
	}

	if _, err := tc.svc.CreateDevice(ctx, &hubclient.Device{DeviceID: "edge", Capabilities: &iothub.Capabilities{IoTEdge: true}}); err != nil {
		t.Fatal(err)
	}
	err := tc.svc.ApplyConfigurationContent(ctx, "edge", json.RawMessage(
		`{"modulesContent":{"$edgeAgent":{"properties.desired":{"schemaVersion":"1.1","big":1e400}}}}`))
	var he *hubclient.Error
	if !errors.As(err, &he) || he.Status != http.StatusBadRequest || he.Code != iothub.CodeArgumentInvalid {
		t.Errorf("deployment beyond float64: %v, want 400 %s", err, iothub.CodeArgumentInvalid)
	}
	if _, err := tc.svc.GetTwin(ctx, "edge", "$edgeAgent"); err != nil {
		t.Errorf("$edgeAgent twin no longer readable: %v", err)
	}
}
