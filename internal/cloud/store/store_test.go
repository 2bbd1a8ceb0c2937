package store

import (
	"context"
	"testing"
	"time"
)

// openStore opens a fresh store in a temporary directory, closed when the test ends.
func openStore(t *testing.T) (*Store, context.Context) {
	t.Helper()
	st, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, context.Background()
}

// seedFamily creates device d, its module d/m and device dx (whose id has d as a prefix), and
// calls with on each of them.
func seedFamily(t *testing.T, st *Store, with func(Key) error) {
	t.Helper()
	for _, k := range []Key{{DeviceID: "d"}, {DeviceID: "d", ModuleID: "m"}, {DeviceID: "dx"}} {
		if err := st.CreateIdentity(context.Background(), k, []byte(`{}`), []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		if err := with(k); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDeviceDeleteRemovesItsModulesSessionsAndQueue(t *testing.T) {
	st, ctx := openStore(t)
	seedFamily(t, st, func(k Key) error { return st.PutSession(ctx, k.String(), []byte(`[]`)) })
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

func TestPurgeExpiredC2DCountsWhatItDeletes(t *testing.T) {
	st, ctx := openStore(t)
	if err := st.CreateIdentity(ctx, Key{DeviceID: "d"}, []byte(`{}`), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, exp := range []time.Duration{time.Minute, 2 * time.Minute, time.Hour} {
		if err := st.EnqueueC2D(ctx, &C2DMessage{DeviceID: "d", Expiry: now.Add(exp), Doc: []byte(`{}`)}, 10, now); err != nil {
			t.Fatal(err)
		}
	}
	later := now.Add(2 * time.Minute)
	if n, err := st.PurgeExpiredC2D(ctx, later); err != nil || n != 2 {
		t.Fatalf("purged %d, %v; want 2", n, err)
	}
	if msgs, err := st.ListC2D(ctx, "d"); err != nil || len(msgs) != 1 || !msgs[0].Expiry.After(later) {
		t.Fatalf("left after the purge: %v %v", msgs, err)
	}
	if n, err := st.PurgeExpiredC2D(ctx, later); err != nil || n != 0 {
		t.Fatalf("second purge: %d, %v", n, err)
	}
}
