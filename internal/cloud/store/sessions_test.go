package store

import (
	"testing"
)

func TestActivity_PutListAndDeletedWithTheIdentity(t *testing.T) {
	st, ctx := openStore(t)
	seedFamily(t, st, func(k Key) error { return st.PutActivity(ctx, k.String(), []byte(`"`+k.String()+`"`)) })
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
