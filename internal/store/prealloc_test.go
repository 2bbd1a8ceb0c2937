package store

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// fileSize returns the length of a file on the OS file system.
func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestPreallocate_OS: with the OS file system, the active segment runs one
// chunk of zeros ahead of its records while the log is open, and Close
// cuts it back. A copy taken while the log is open is what a power loss
// leaves: it opens with the zeros kept as preallocated space (nothing
// truncated, nothing reported), appends go into that space, and garbage
// in it is a torn tail: cut, counted, never served.
func TestPreallocate_OS(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	src := t.TempDir()
	const segBytes = 4 * preallocChunk
	l := mustOpen(t, src, Options{SegmentBytes: segBytes})
	written := [][]byte{nil}
	for range 50 {
		d := payload(rng, uint64(len(written)), 100+rng.IntN(400))
		if _, err := l.Append(context.Background(), d); err != nil {
			t.Fatal(err)
		}
		written = append(written, d)
	}
	// The chunk is added after the first commit's callers are answered:
	// checkStats waits for the writer before it looks.
	checkStats(t, l, func(st Stats) bool { return st.Bytes+st.Preallocated == preallocChunk })
	seg := filepath.Join(src, segmentName(1))
	st := l.Stats()
	if got := fileSize(t, seg); got != preallocChunk {
		t.Fatalf("active segment is %d bytes on disk, want one chunk (%d); stats %+v", got, preallocChunk, st)
	}
	image := copyDir(t, src) // the state a power loss would leave now
	mustClose(t, l)
	if got := fileSize(t, seg); got != st.Bytes {
		t.Fatalf("after Close the segment is %d bytes, want its %d bytes of records", got, st.Bytes)
	}

	// Reopen the image: the zeros are preallocated space.
	dir := copyDir(t, image)
	l = mustOpen(t, dir, Options{SegmentBytes: segBytes})
	if got := l.Stats(); got.Truncated != 0 || got.Corrupt != 0 || got.Bytes != st.Bytes || got.Preallocated != preallocChunk-st.Bytes {
		t.Fatalf("reopened image: stats %+v, want Bytes %d and the rest of the chunk preallocated", got, st.Bytes)
	}
	checkRecovered(t, l, written, func(uint64) bool { return true })
	d := payload(rng, 99, 300)
	if seq, err := l.Append(context.Background(), d); err != nil || seq != 51 {
		t.Fatalf("Append = %d, %v; want 51", seq, err)
	}
	if got := fileSize(t, filepath.Join(dir, segmentName(1))); got != preallocChunk {
		t.Fatalf("the append grew the file to %d: it should have gone into the preallocated space", got)
	}
	mustClose(t, l)

	// Garbage in the zeros (a torn write that landed out of order): cut.
	for _, at := range []int64{0, 1, 4000, preallocChunk - st.Bytes - 1} {
		dir := copyDir(t, image)
		path := filepath.Join(dir, segmentName(1))
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte{0x5a}, st.Bytes+at); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		l := mustOpen(t, dir, Options{SegmentBytes: segBytes})
		if got := l.Stats(); got.Truncated != at+1 || got.Preallocated != 0 || got.Last != 50 {
			t.Fatalf("garbage byte %d after the records: stats %+v, want %d truncated", at, got, at+1)
		}
		if got := fileSize(t, path); got != st.Bytes {
			t.Fatalf("garbage byte %d after the records: file %d bytes, want cut to %d", at, got, st.Bytes)
		}
		checkRecovered(t, l, written, func(uint64) bool { return true })
		mustClose(t, l)
	}
}

// TestPreallocate_Limits: space is added a chunk at a time, never past
// SegmentBytes, and a sealed segment holds exactly its records.
func TestPreallocate_Limits(t *testing.T) {
	opts, fs, _ := memOpts()
	opts.SegmentBytes = 100 // 35-byte records: 3 per segment, the third crosses the limit
	l := mustOpen(t, "/d", opts)
	defer mustClose(t, l)
	size := func(base uint64) int { return len(fs.readFile("/d/" + segmentName(base))) }
	appendN(t, l, 1, 1)
	checkStats(t, l, func(st Stats) bool { return st.Preallocated == 65 })
	if size(1) != 100 {
		t.Fatalf("segment 1 is %d bytes, want 100 (preallocated up to SegmentBytes)", size(1))
	}
	appendN(t, l, 2, 3) // 3 crosses the limit, 4 rolls
	if size(1) != 105 {
		t.Fatalf("sealed segment 1 is %d bytes, want its 105 bytes of records", size(1))
	}
	checkStats(t, l, func(st Stats) bool { return st.Bytes == 4*35 && st.Preallocated == 65 })
}

// TestPreallocate_Fails_A7: a preallocation that fails (disk full, EIO, at
// the write or the sync) costs nothing but speed: no caller sees an error,
// appends go on, and a power loss after it leaves exactly the acknowledged
// records.
func TestPreallocate_Fails_A7(t *testing.T) {
	for _, tc := range []struct {
		name string
		op   int // operation of the first Append that fails: write, sync, then the zeros' write, sync
		err  error
	}{
		{"zeros write, disk full", 3, syscall.ENOSPC},
		{"zeros write, EIO", 3, syscall.EIO},
		{"zeros sync", 4, syscall.EIO},
	} {
		for i := range 8 {
			opts, fs, _ := memOpts()
			fs.rng = rand.New(rand.NewPCG(uint64(i), 10))
			opts.SegmentBytes = 1000
			l := mustOpen(t, "/d", opts)
			fs.inject(tc.op, tc.err)
			appendN(t, l, 1, 1)
			checkStats(t, l, func(st Stats) bool { return st.Bytes == 35 })
			appendN(t, l, 2, 30) // several segments
			checkSeqs(t, l, 1, 31)
			st := l.Stats()
			mode := crashMode(i % 4)
			fs.Crash(mode)
			l2 := mustOpen(t, "/d", opts)
			checkSeqs(t, l2, 1, 31)
			if got := l2.Stats(); got.Corrupt != 0 || got.Last != st.Last {
				t.Fatalf("%s: after a crash (%v): %+v", tc.name, mode, got)
			}
			mustClose(t, l2)
			if err := l.Close(); err != nil && !errors.Is(err, errCrashed) {
				t.Fatal(err)
			}
		}
	}
}

// TestPreallocate_TornZeroTail: an active segment that is records and then
// zeros (what a crash leaves) opens with nothing truncated; one non-zero
// byte anywhere after the records makes it a torn tail, cut up to the end.
func TestPreallocate_TornZeroTail(t *testing.T) {
	recs := segmentBytes(1, 1e18, "a", "bb", "ccc")
	for _, tc := range []struct {
		tail          []byte
		truncated     int64
		preallocated  int64
		wantFileBytes int
	}{
		{nil, 0, 0, len(recs)},
		{make([]byte, 1), 0, 1, len(recs) + 1},
		{make([]byte, 5000), 0, 5000, len(recs) + 5000},
		{append(make([]byte, 4999), 1), 5000, 0, len(recs)},
		{append([]byte{1}, make([]byte, 4999)...), 1, 0, len(recs)},
		{bytes.Repeat([]byte{0, 7}, 300), 600, 0, len(recs)},
	} {
		opts, fs, _ := memOpts()
		fs.writeFile("/d/"+segmentName(1), append(bytes.Clone(recs), tc.tail...))
		l := mustOpen(t, "/d", opts)
		st := l.Stats()
		if st.Truncated != tc.truncated || st.Preallocated != tc.preallocated || st.Last != 3 || st.Bytes != int64(len(recs)) {
			t.Errorf("tail of %d bytes: stats %+v, want truncated %d, preallocated %d", len(tc.tail), st, tc.truncated, tc.preallocated)
		}
		if got := len(fs.readFile("/d/" + segmentName(1))); got != tc.wantFileBytes {
			t.Errorf("tail of %d bytes: file is %d bytes after Open, want %d", len(tc.tail), got, tc.wantFileBytes)
		}
		mustClose(t, l)
	}
}
