package store

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestTrimBefore_QuietLog: a log that gets a few records and then nothing
// sheds them once they expire: the active segment is sealed and deleted, a
// new empty one named by the next seq keeps Last across a restart, and
// trimming an empty log again creates nothing.
func TestTrimBefore_QuietLog(t *testing.T) {
	opts, fs, clock := memOpts()
	l := mustOpen(t, "/d", opts)
	appendN(t, l, 1, 3)
	if n, err := l.TrimBefore(clock.peek()); err != nil || n != 0 {
		t.Fatalf("TrimBefore(newest record's time) = %d, %v; want 0: seq 3 is not older", n, err)
	}
	if n, err := l.TrimBefore(clock.peek().Add(time.Nanosecond)); err != nil || n != 3 {
		t.Fatalf("TrimBefore(after all) = %d, %v; want 3", n, err)
	}
	want := []string{segmentName(4)}
	if got := fs.segmentFiles("/d"); !slices.Equal(got, want) {
		t.Fatalf("segments %v, want %v", got, want)
	}
	if st := l.Stats(); st.First != 4 || st.Last != 3 || st.Segments != 1 || st.Bytes != 0 || st.Preallocated != 0 {
		t.Fatalf("after trimming all: %+v", st)
	}
	for range 3 { // an empty log: nothing to seal, no new segments
		if n, err := l.TrimBefore(clock.peek().Add(time.Hour)); err != nil || n != 0 {
			t.Fatalf("TrimBefore on an empty log = %d, %v", n, err)
		}
	}
	if got := fs.segmentFiles("/d"); !slices.Equal(got, want) {
		t.Fatalf("segments %v after trimming an empty log, want %v", got, want)
	}
	mustClose(t, l)
	l = mustOpen(t, "/d", opts)
	defer mustClose(t, l)
	if l.First() != 4 || l.Last() != 3 {
		t.Fatalf("after reopen: First %d Last %d, want 4 3", l.First(), l.Last())
	}
	appendN(t, l, 4, 2)
	checkSeqs(t, l, 4, 5)
}

// TestTrimBefore_SealCrash crashes at every operation of a trim that seals
// and deletes the active segment (cut its preallocated space, sync it,
// create the next segment, sync the directory, remove, sync the directory),
// in every crash mode: the log reopens with all three records or none, and
// Last is 3 either way.
func TestTrimBefore_SealCrash(t *testing.T) {
	for op := 1; ; op++ {
		crashed := false
		for mode := range crashMode(4) {
			opts, fs, clock := memOpts()
			opts.SegmentBytes = 4096 // preallocates 4 KiB, not 1 MiB
			fs.rng = rand.New(rand.NewPCG(uint64(op), uint64(mode)))
			l := mustOpen(t, "/d", opts)
			appendN(t, l, 1, 3)
			fs.arm(op)
			_, _ = l.TrimBefore(clock.peek().Add(time.Nanosecond))
			crashed = fs.isCrashed()
			_ = l.Close() // may fail once crashed
			fs.Crash(mode)
			l = mustOpen(t, "/d", opts)
			st := l.Stats()
			if st.Last != 3 || (st.First != 1 && st.First != 4) || st.Corrupt != 0 {
				t.Fatalf("crash at op %d (%v): stats %+v, want Last 3 and all or none of 1-3", op, mode, st)
			}
			if st.First == 1 {
				checkSeqs(t, l, 1, 3)
			}
			if seq, err := l.Append(context.Background(), data(4)); err != nil || seq != 4 {
				t.Fatalf("crash at op %d (%v): Append = %d, %v; want 4", op, mode, seq, err)
			}
			mustClose(t, l)
		}
		if !crashed {
			if op < 6 {
				t.Fatalf("the trim took only %d operations", op-1)
			}
			return
		}
	}
}

// TestTrimBefore_SealWhileAppending: trims that seal race appends and the
// MaxBytes policy (which runs on the writer and takes the trim lock): no
// deadlock, no acknowledged record lost but those trimmed, seqs go on.
func TestTrimBefore_SealWhileAppending(t *testing.T) {
	opts, _, clock := memOpts()
	opts.SegmentBytes = 200
	opts.MaxBytes = 1000
	l := mustOpen(t, "/d", opts)
	defer mustClose(t, l)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 100 {
				if _, err := l.Append(context.Background(), data(g*1000+i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	trims := make(chan struct{})
	go func() {
		defer close(trims)
		for range 100 {
			if _, err := l.TrimBefore(clock.peek().Add(-5 * time.Millisecond)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	wg.Wait()
	<-trims
	if l.Last() != 400 {
		t.Fatalf("Last %d after 400 appends", l.Last())
	}
	if n, err := l.TrimBefore(clock.peek().Add(time.Nanosecond)); err != nil || l.First() != 401 {
		t.Fatalf("TrimBefore(all) = %d, %v; First %d", n, err, l.First())
	}
	if seq, err := l.Append(context.Background(), data(401)); err != nil || seq != 401 {
		t.Fatalf("Append = %d, %v; want 401", seq, err)
	}
}

// TestTrimBefore_SealFails_A8 fails each step of a seal once (cutting the
// preallocated space, the sync, creating the next segment, syncing the
// directory; steps 3-6 write the index, whose failure does not fail the
// seal): TrimBefore reports it and deletes nothing, and the next Append
// finishes the seal before writing, so its record goes to the new segment,
// never behind a file that may already carry the next name (found by
// TestCrash_A4). A power loss after that leaves exactly the records.
func TestTrimBefore_SealFails_A8(t *testing.T) {
	for op := 3; op <= 6; op++ { // the index: the seal and the trim succeed
		opts, fs, clock := memOpts()
		opts.SegmentBytes = 4096
		l := mustOpen(t, "/d", opts)
		appendN(t, l, 1, 3)
		fs.inject(op, syscall.EIO)
		if n, err := l.TrimBefore(clock.peek().Add(time.Nanosecond)); err != nil || n != 3 {
			t.Fatalf("op %d: TrimBefore = %d, %v; want 3", op, n, err)
		}
		mustClose(t, l)
	}
	for _, op := range []int{1, 2, 7, 8} {
		for mode := range crashMode(4) {
			opts, fs, clock := memOpts()
			opts.SegmentBytes = 4096
			l := mustOpen(t, "/d", opts)
			appendN(t, l, 1, 3)
			fs.inject(op, syscall.EIO)
			if n, err := l.TrimBefore(clock.peek().Add(time.Nanosecond)); !errors.Is(err, syscall.EIO) || n != 0 {
				t.Fatalf("op %d: TrimBefore = %d, %v; want 0, EIO", op, n, err)
			}
			appendN(t, l, 4, 1)
			if got, want := fs.segmentFiles("/d"), []string{segmentName(1), segmentName(4)}; !slices.Equal(got, want) {
				t.Fatalf("op %d: segments %v, want %v", op, got, want)
			}
			checkSeqs(t, l, 1, 4)
			fs.Crash(mode)
			_ = l.Close()
			l = mustOpen(t, "/d", opts)
			if st := l.Stats(); st.Corrupt != 0 {
				t.Fatalf("op %d (%v): %+v", op, mode, st)
			}
			checkSeqs(t, l, 1, 4)
			mustClose(t, l)
		}
	}
}
