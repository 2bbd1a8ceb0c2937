package cloud

import (
	"context"
	"testing"

	"github.com/outpost-iot/outpost/internal/cloud/store"
	"github.com/outpost-iot/outpost/internal/iothub"
)

// TestSessionNoticesChangesBeforeOnline: an identity changed between authentication and the
// connection's registration is refused at Online (the window identityChanged cannot see).
func TestSessionNoticesChangesBeforeOnline(t *testing.T) {
	ctx := context.Background()
	c, err := open(ctx, Config{DataDir: t.TempDir(), Hostnames: []string{"localhost"}, MQTTListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	d, err := c.reg.createDevice(ctx, &iothub.Device{DeviceID: "d"})
	if err != nil {
		t.Fatal(err)
	}
	k := store.Key{DeviceID: "d"}
	id, err := c.reg.lookup(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	s := &session{c: c, key: k, deviceETag: id.DeviceETag, moduleETag: id.ModuleETag}
	if !s.stillValid() {
		t.Fatal("unchanged identity refused")
	}
	d.Status = "disabled"
	if _, err := c.reg.updateDevice(ctx, d, "*"); err != nil {
		t.Fatal(err)
	}
	if s.stillValid() {
		t.Fatal("identity disabled while connecting was accepted")
	}
	if _, err := c.reg.createModule(ctx, &iothub.Module{DeviceID: "d", ModuleID: "m"}); err != nil {
		t.Fatal(err)
	}
	mk := store.Key{DeviceID: "d", ModuleID: "m"}
	d.Status = "enabled"
	if _, err := c.reg.updateDevice(ctx, d, "*"); err != nil {
		t.Fatal(err)
	}
	mid, _ := c.reg.lookup(ctx, mk)
	ms := &session{c: c, key: mk, deviceETag: mid.DeviceETag, moduleETag: mid.ModuleETag}
	m, _ := c.reg.getModule(ctx, "d", "m")
	m.Authentication.SymmetricKey = &iothub.SymmetricKey{PrimaryKey: newKey(), SecondaryKey: newKey()}
	if _, err := c.reg.updateModule(ctx, m, "*"); err != nil {
		t.Fatal(err)
	}
	if ms.stillValid() {
		t.Fatal("module re-keyed while connecting was accepted")
	}
	if err := c.reg.deleteDevice(ctx, "d", "*"); err != nil {
		t.Fatal(err)
	}
	if s.stillValid() {
		t.Fatal("deleted identity accepted")
	}
}
