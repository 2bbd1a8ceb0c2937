package store

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"
)

func TestUnavailable(t *testing.T) {
	st, ctx := openStore(t)
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

func TestOpenReadOnly_ReadsBesideAWriterAndWritesNothing(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenReadOnly(dir); err == nil {
		t.Fatal("OpenReadOnly on an empty directory succeeded")
	}
	st, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if err := st.PutKV(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	ro, err := OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if v, err := ro.GetKV(ctx, "k"); err != nil || string(v) != "v" {
		t.Fatalf("read beside the writer: %q %v", v, err)
	}
	if err := ro.PutKV(ctx, "k", []byte("w")); err == nil || !Unavailable(err) {
		t.Fatalf("write through a read-only store: %v, want a refused (read-only) write", err)
	}
}
