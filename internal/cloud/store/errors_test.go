package store

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"
)

func TestUnavailable(t *testing.T) {
	st, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if err := st.SetQueryOnly(ctx, true); err != nil {
		t.Fatal(err)
	}
	werr := st.PutKV(ctx, "k", []byte("v"))
	if werr == nil || !Unavailable(werr) {
		t.Fatalf("write on a query-only database: %v, want an Unavailable error", werr)
	}
	if _, err := st.GetKV(ctx, "k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("read on a query-only database: %v, want ErrNotFound", err)
	}
	if err := st.SetQueryOnly(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := st.PutKV(ctx, "k", []byte("v")); err != nil {
		t.Fatalf("write after query_only off: %v", err)
	}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("store: append: %w", syscall.ENOSPC), true},
		{fmt.Errorf("x: %w", syscall.EIO), true},
		{ErrNotFound, false},
		{ErrConflict, false},
		{errors.New("store: query: no space left on device"), false}, // by type, never by text
		{nil, false},
	} {
		if got := Unavailable(tc.err); got != tc.want {
			t.Errorf("Unavailable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
