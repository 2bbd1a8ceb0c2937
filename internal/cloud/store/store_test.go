package store

import (
	"context"
	"testing"
	"time"
)

func TestDeviceDeleteRemovesItsModulesSessionsAndQueue(t *testing.T) {
	st, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	for _, k := range []Key{{DeviceID: "d"}, {DeviceID: "d", ModuleID: "m"}, {DeviceID: "dx"}} {
		if err := st.CreateIdentity(ctx, k, []byte(`{}`), []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		if err := st.PutSession(ctx, k.String(), []byte(`[]`)); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.EnqueueC2D(ctx, &C2DMessage{DeviceID: "d", Expiry: time.Now().Add(time.Hour), Doc: []byte(`{}`)}, 10, time.Now()); err != nil {
		t.Fatal(err)
	}
	if counts, err := st.CountC2DByDevice(ctx, time.Now()); err != nil || counts["d"] != 1 || len(counts) != 1 {
		t.Fatalf("queue depths %v %v", counts, err)
	}
	if err := st.DeleteIdentity(ctx, Key{DeviceID: "d"}, func([]byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"d", "d/m"} {
		if _, err := st.GetSession(ctx, id); err != ErrNotFound {
			t.Errorf("session %s survived: %v", id, err)
		}
	}
	if _, err := st.GetSession(ctx, "dx"); err != nil {
		t.Errorf("the session of device dx went with d: %v", err)
	}
	if _, err := st.GetIdentity(ctx, Key{DeviceID: "d", ModuleID: "m"}); err != ErrNotFound {
		t.Errorf("module survived: %v", err)
	}
	if counts, _ := st.CountC2DByDevice(ctx, time.Now()); counts["d"] != 0 {
		t.Errorf("%d queued messages survived", counts["d"])
	}
}
