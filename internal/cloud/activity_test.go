package cloud_test

import (
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/hubclient"
	"github.com/outpost-iot/outpost/internal/testutil"
)

// IoT Hub keeps lastActivityTime when a device disconnects; `outpost device list` showed
// nothing once it had (issue 5, item 11c). It must survive the disconnect and a restart, and
// not pass to a new device that reuses the id.
func TestLastActivitySurvivesDisconnectAndRestart(t *testing.T) {
	tc := startCloud(t)
	key := tc.createDevice("d1")
	modKey := tc.createModule("d1", "m1")
	before := time.Now().UTC().Add(-time.Second)
	dev := tc.mustConnect("d1", "", key, clientOpts{})
	mod := tc.mustConnect("d1", "m1", modKey, clientOpts{})
	wait(t, dev.Publish("devices/d1/messages/events/", 1, false, "x"))
	wait(t, mod.Publish("devices/d1/modules/m1/messages/events/", 1, false, "x"))
	live, err := tc.svc.GetDevice(tc.ctx(), "d1")
	if err != nil {
		t.Fatal(err)
	}
	dev.Disconnect(0)
	mod.Disconnect(0)
	var d *hubclient.Device
	testutil.Eventually(t, 10*time.Second, func() bool {
		d, err = tc.svc.GetDevice(tc.ctx(), "d1")
		return err == nil && d.ConnectionState == "Disconnected"
	}, "d1 still connected 10 s after its disconnect")
	if d.LastActivityTime == "" || d.LastActivityTime < live.LastActivityTime || !after(t, d.LastActivityTime, before) {
		t.Fatalf("lastActivityTime after the disconnect = %q, want at least %q (while connected)", d.LastActivityTime, live.LastActivityTime)
	}
	check := func(when string) {
		t.Helper()
		d, err := tc.svc.GetDevice(tc.ctx(), "d1")
		if err != nil {
			t.Fatal(err)
		}
		if !after(t, d.LastActivityTime, before) {
			t.Errorf("device lastActivityTime %s = %q, want after %s", when, d.LastActivityTime, before)
		}
		devs, err := tc.svc.ListDevices(tc.ctx(), 0)
		if err != nil || len(devs) != 1 || devs[0].LastActivityTime != d.LastActivityTime {
			t.Errorf("device list %s: %+v %v, want lastActivityTime %q", when, devs, err, d.LastActivityTime)
		}
		m, err := tc.svc.GetModule(tc.ctx(), "d1", "m1")
		if err != nil || !after(t, m.LastActivityTime, before) {
			t.Errorf("module lastActivityTime %s = %+v %v, want after %s", when, m, err, before)
		}
	}
	check("after the disconnect")
	tc.restart()
	check("after a restart")

	if err := tc.svc.DeleteDevice(tc.ctx(), "d1", ""); err != nil {
		t.Fatal(err)
	}
	tc.createDevice("d1")
	if d, err := tc.svc.GetDevice(tc.ctx(), "d1"); err != nil || after(t, d.LastActivityTime, before) {
		t.Fatalf("a new d1 inherited the old one's activity: %+v %v", d, err)
	}
}

// after reports whether the RFC 3339 time s is after t (false for an empty or zero time).
func after(t *testing.T, s string, ref time.Time) bool {
	t.Helper()
	if s == "" {
		return false
	}
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("time %q: %v", s, err)
	}
	return at.After(ref)
}
