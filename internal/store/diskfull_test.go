//go:build linux

package store

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"syscall"
	"testing"

	"github.com/outpost-iot/outpost/internal/testutil"
)

// tmpfsDirEnv switches TestDiskFull_A7 into its body, run by the test
// binary inside a private mount namespace with a tmpfs on that directory.
const tmpfsDirEnv = "OUTPOST_STORE_TMPFS_DIR"

// TestDiskFull_A7 fills a real 1 MiB tmpfs (RELIABILITY.md A7, H6): appends
// fail with ENOSPC and are not acknowledged, nothing is corrupted, appends
// resume once a trim frees space, and every acknowledged record that was
// not trimmed is there after a reopen. It needs root (unshare -m, mount);
// elsewhere it skips.
func TestDiskFull_A7(t *testing.T) {
	if os.Getenv(tmpfsDirEnv) == "" {
		t.Parallel() // waits for a child: overlap it with the kill -9 child
	}
	if testutil.InTmpfs(t, tmpfsDirEnv, "1m", "diskfull_test.go") {
		diskFullBody(t, os.Getenv(tmpfsDirEnv))
	}
}

func diskFullBody(t *testing.T, dir string) {
	rng := rand.New(rand.NewPCG(7, 7))
	l := mustOpen(t, dir, Options{SegmentBytes: 64 << 10})
	acked := map[uint64][]byte{}
	appendUntilFull := func() error {
		for {
			d := payload(rng, uint64(len(acked)), 1000+rng.IntN(1000))
			seq, err := l.Append(context.Background(), d)
			if err != nil {
				return err
			}
			acked[seq] = d
		}
	}
	err := appendUntilFull()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append on a full disk: %v, want ENOSPC", err)
	}
	full := len(acked)
	for range 3 { // still full: still refused, never acknowledged
		if _, err := l.Append(context.Background(), payload(rng, 0, 1500)); err == nil {
			break // the repair freed enough for one small group: fine too
		} else if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("append on a full disk: %v", err)
		}
	}
	trimmed, err := l.TrimThrough(l.Last() / 2)
	if err != nil || trimmed == 0 {
		t.Fatalf("TrimThrough = %d, %v", trimmed, err)
	}
	if _, err := l.Append(context.Background(), payload(rng, 0, 1500)); err != nil {
		t.Fatalf("append after freeing space: %v", err)
	}
	if err := appendUntilFull(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append on a full disk again: %v", err)
	}
	first := l.First()
	mustClose(t, l)

	l = mustOpen(t, dir, Options{SegmentBytes: 64 << 10})
	defer mustClose(t, l)
	st := l.Stats()
	if st.Corrupt != 0 || st.Truncated != 0 || st.First != first {
		t.Fatalf("reopen after disk full: %+v, want First %d", st, first)
	}
	recs := readAll(t, l)
	got := map[uint64]bool{}
	for _, r := range recs {
		if d, ok := acked[r.Seq]; ok && string(d) != string(r.Data) || !payloadOK(r.Data) {
			t.Fatalf("seq %d: data differs or garbled", r.Seq)
		}
		got[r.Seq] = true
	}
	for seq := range acked {
		if seq >= first && !got[seq] {
			t.Fatalf("acknowledged seq %d lost", seq)
		}
	}
	t.Logf("1 MiB tmpfs: %d records acknowledged until ENOSPC, %d trimmed, %d acknowledged in all",
		full, trimmed, len(acked))
}
