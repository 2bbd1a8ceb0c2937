package store

import (
	"context"
	"testing"
)

func TestActivity_PutListAndDeletedWithTheIdentity(t *testing.T) {
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
		if err := st.PutActivity(ctx, k.String(), []byte(`"`+k.String()+`"`)); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := st.ListActivity(ctx); err != nil || len(got) != 3 || string(got["d/m"]) != `"d/m"` {
		t.Fatalf("ListActivity = %q, %v", got, err)
	}
	if err := st.DeleteIdentity(ctx, Key{DeviceID: "d"}, func([]byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if got, err := st.ListActivity(ctx); err != nil || len(got) != 1 || got["dx"] == nil {
		t.Fatalf("ListActivity after deleting d = %q, %v, want only dx", got, err)
	}
}
