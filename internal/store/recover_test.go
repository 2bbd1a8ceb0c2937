package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// writeOSLog writes n records of random sizes with the OS file system and
// returns their data by seq (index 0 unused).
func writeOSLog(t *testing.T, dir string, segmentBytes int64, n int, rng *rand.Rand) [][]byte {
	t.Helper()
	l := mustOpen(t, dir, Options{SegmentBytes: segmentBytes, Now: newTestClock().Now})
	written := [][]byte{nil}
	for len(written) <= n { // in groups of up to 8: fewer fsyncs, same format
		var group [][]byte
		for range min(1+rng.IntN(8), n+1-len(written)) {
			group = append(group, payload(rng, uint64(len(written)+len(group)), rng.IntN(300)))
		}
		if seq, err := l.Append(context.Background(), group...); err != nil || seq != uint64(len(written)) {
			t.Fatalf("Append = %d, %v", seq, err)
		}
		written = append(written, group...)
	}
	mustClose(t, l)
	return written
}

// copyDir copies a log directory (flat) into a new temporary directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// segmentFilesOS lists the segment files of dir, oldest first.
func segmentFilesOS(t *testing.T, dir string) []string {
	t.Helper()
	names, err := OSFS().ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		if _, ok := parseSegmentName(n); ok {
			out = append(out, filepath.Join(dir, n))
		}
	}
	return out
}

// boundaries returns the end offset of each record of a segment file's
// contents (which must be valid) and the first record's seq.
func boundaries(t *testing.T, path string) (base uint64, ends []int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	base, _ = parseSegmentName(filepath.Base(path))
	for off := 0; off < len(b); {
		off += headerSize + int(decodeHeader(b[off:]).size)
		ends = append(ends, off)
	}
	return base, ends
}

// checkRecovered reads the log and checks it holds exactly the records in
// want (seq -> data) and nothing else.
func checkRecovered(t *testing.T, l *Log, written [][]byte, want func(seq uint64) bool) {
	t.Helper()
	recs := readAll(t, l)
	got := map[uint64]bool{}
	var prev uint64
	for _, r := range recs {
		if r.Seq <= prev || r.Seq >= uint64(len(written)) || !bytes.Equal(r.Data, written[r.Seq]) {
			t.Fatalf("seq %d (after %d): unexpected or changed record", r.Seq, prev)
		}
		prev, got[r.Seq] = r.Seq, true
	}
	for seq := uint64(1); seq < uint64(len(written)); seq++ {
		if want(seq) != got[seq] {
			t.Fatalf("seq %d: present %v, want %v", seq, got[seq], want(seq))
		}
	}
}

// TestRecover_TruncatedTail_A5 is the black-box power-loss variant: a log
// written with the OS file system, copied, its last segment cut at random
// offsets. Open keeps exactly the whole records before the cut, counts the
// cut bytes (up to the last non-zero one: zeros after the records are
// preallocated space, see nonZeroEnd), and appends continue after them.
func TestRecover_TruncatedTail_A5(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	src := t.TempDir()
	written := writeOSLog(t, src, 4096, 120, rng)
	segs := segmentFilesOS(t, src)
	if len(segs) < 3 {
		t.Fatalf("want several segments, got %d", len(segs))
	}
	lastName := filepath.Base(segs[len(segs)-1])
	base, ends := boundaries(t, segs[len(segs)-1])
	tail, err := os.ReadFile(segs[len(segs)-1])
	if err != nil {
		t.Fatal(err)
	}
	cuts := []int{0, ends[0], ends[0] - 1, ends[len(ends)-1] - 1, 3}
	for range 25 {
		cuts = append(cuts, rng.IntN(ends[len(ends)-1]+1))
	}
	for _, cut := range cuts {
		dir := copyDir(t, src)
		if err := os.Truncate(filepath.Join(dir, lastName), int64(cut)); err != nil {
			t.Fatal(err)
		}
		whole := 0
		for _, e := range ends {
			if e <= cut {
				whole = e
			}
		}
		torn := cut // the cut part of a record, without trailing zeros
		for torn > whole && tail[torn-1] == 0 {
			torn--
		}
		kept := base - 1
		for _, e := range ends {
			if e <= cut {
				kept++
			}
		}
		l := mustOpen(t, dir, Options{})
		st := l.Stats()
		prealloc := 0 // zeros only: kept as preallocated space, else all cut
		if torn == whole {
			prealloc = cut - whole
		}
		if st.Truncated != int64(torn-whole) || st.Corrupt != 0 || st.Last != kept || st.Preallocated != int64(prealloc) {
			t.Fatalf("cut at %d (whole records end at %d): stats %+v, want Last %d", cut, whole, st, kept)
		}
		checkRecovered(t, l, written, func(seq uint64) bool { return seq <= kept })
		d := payload(rng, 1000, 50)
		if seq, err := l.Append(context.Background(), d); err != nil || seq != kept+1 {
			t.Fatalf("cut at %d: Append = %d, %v; want %d", cut, seq, err, kept+1)
		}
		mustClose(t, l)
		l = mustOpen(t, dir, Options{})
		if recs, err := l.Read(kept, 10, 1<<20); err != nil || len(recs) != 1 || !bytes.Equal(recs[0].Data, d) {
			t.Fatalf("cut at %d: appended record after reopen: %v, %v", cut, recs, err)
		}
		if st := l.Stats(); st.Truncated != 0 {
			t.Fatalf("second reopen truncated again: %+v", st)
		}
		mustClose(t, l)
	}
}

// TestRecover_CorruptSealed_A6: a flipped bit or a zeroed 4 KiB block in a
// sealed segment is found by the checksum; Open succeeds, serves that
// segment's records before the damage and every other segment's, and
// counts it. The segment has a valid index, so Open trusts it and the
// damage is found by the read; the read drops that index, so the next Open
// scans the segment and finds the damage itself.
func TestRecover_CorruptSealed_A6(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	src := t.TempDir()
	written := writeOSLog(t, src, 16<<10, 400, rng)
	segs := segmentFilesOS(t, src)
	if len(segs) < 4 {
		t.Fatalf("want at least 4 segments, got %d", len(segs))
	}
	damage := map[string]func(b []byte){
		"bit flip": func(b []byte) { i := rng.IntN(len(b)); b[i] ^= 1 << rng.IntN(8) },
		"zero 4 KiB": func(b []byte) {
			i := rng.IntN(len(b) - 4096)
			clear(b[i : i+4096])
		},
	}
	for name, damageFn := range damage {
		for _, k := range []int{0, 1, len(segs) - 2} { // first, middle, last sealed
			for range 5 {
				dir := copyDir(t, src)
				path := filepath.Join(dir, filepath.Base(segs[k]))
				orig, _ := os.ReadFile(path)
				b := bytes.Clone(orig)
				damageFn(b)
				if err := os.WriteFile(path, b, 0o600); err != nil {
					t.Fatal(err)
				}
				first := 0 // first changed byte
				for first < len(b) && b[first] == orig[first] {
					first++
				}
				base, ends := boundaries(t, segs[k])
				lastGood := base - 1
				for _, e := range ends {
					if e <= first {
						lastGood++
					}
				}
				nextBase, _ := parseSegmentName(filepath.Base(segs[k+1]))
				lost := func(seq uint64) bool { return seq > lastGood && seq < nextBase }
				l := mustOpen(t, dir, Options{})
				if st := l.Stats(); st.Corrupt != 0 || st.Truncated != 0 || st.Last != uint64(len(written)-1) {
					t.Fatalf("%s in segment %d at %d: stats %+v at Open, want the index trusted", name, k, first, st)
				}
				checkRecovered(t, l, written, func(seq uint64) bool { return !lost(seq) })
				if st := l.Stats(); st.Corrupt != 1 || st.First != 1 {
					t.Fatalf("%s in segment %d at %d: stats %+v after reading", name, k, first, st)
				}
				if seq, err := l.Append(context.Background(), []byte("after")); err != nil || seq != uint64(len(written)) {
					t.Fatalf("Append = %d, %v", seq, err)
				}
				mustClose(t, l)
				if _, err := os.Stat(strings.TrimSuffix(path, segSuffix) + idxSuffix); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("the damaged segment's index was kept: %v", err)
				}
				l = mustOpen(t, dir, Options{})
				if st := l.Stats(); st.Corrupt != 1 || st.Truncated != 0 || st.Last != uint64(len(written)) {
					t.Fatalf("%s in segment %d at %d: stats %+v at reopen, want the damage found by Open", name, k, first, st)
				}
				checkRecovered(t, l, append(written, []byte("after")), func(seq uint64) bool { return !lost(seq) })
				if st := l.Stats(); st.Corrupt != 1 {
					t.Fatalf("%s in segment %d at %d: stats %+v after reading again", name, k, first, st)
				}
				mustClose(t, l)
				if got, _ := os.ReadFile(path); !bytes.Equal(got, b) {
					t.Fatal("the damaged sealed segment was modified: it must be kept as found")
				}
			}
		}
	}
}

// TestRecover_ReadErrorFailsOpen_A8: an I/O error while scanning is not a
// torn tail: Open fails and cuts nothing.
func TestRecover_ReadErrorFailsOpen_A8(t *testing.T) {
	opts, fs, _ := memOpts()
	l := mustOpen(t, "/d", opts)
	appendN(t, l, 1, 5)
	mustClose(t, l)
	before := fs.readFile("/d/" + segmentName(1))
	fs.failReads(syscall.EIO)
	if _, err := Open("/d", opts); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Open with failing reads = %v, want EIO", err)
	}
	fs.failReads(nil)
	if after := fs.readFile("/d/" + segmentName(1)); !bytes.Equal(before, after) {
		t.Fatal("Open changed the segment after a read error")
	}
	l = mustOpen(t, "/d", opts)
	defer mustClose(t, l)
	checkSeqs(t, l, 1, 5)
}

// TestRead_IOError_A8: Read surfaces an I/O error and works again after it.
func TestRead_IOError_A8(t *testing.T) {
	opts, fs, _ := memOpts()
	l := mustOpen(t, "/d", opts)
	defer mustClose(t, l)
	appendN(t, l, 1, 5)
	fs.failReads(syscall.EIO)
	if recs, err := l.Read(0, 10, 1<<20); !errors.Is(err, syscall.EIO) || recs != nil {
		t.Fatalf("Read = %v, %v; want EIO", recs, err)
	}
	fs.failReads(nil)
	checkSeqs(t, l, 1, 5)
}

// TestRead_CorruptAfterOpen: bytes that change under a running log (bit
// rot) are caught by the checksum on read; records before them are served.
func TestRead_CorruptAfterOpen(t *testing.T) {
	opts, fs, _ := memOpts()
	l := mustOpen(t, "/d", opts)
	defer mustClose(t, l)
	appendN(t, l, 1, 5)
	fs.mu.Lock()
	fs.files["/d/"+segmentName(1)].data[3*35+30] ^= 0x10 // data of seq 4
	fs.mu.Unlock()
	recs, err := l.Read(0, 10, 1<<20)
	if err != nil || len(recs) != 3 {
		t.Fatalf("Read = %d records, %v; want the 3 before the damage", len(recs), err)
	}
	if _, err := l.Read(3, 10, 1<<20); !errors.Is(err, errCorrupt) {
		t.Fatalf("Read at the damage = %v, want a corrupt-record error", err)
	}
}

// TestAppend_DiskFull_A7: a failed write (ENOSPC, maybe short) fails the
// group, is cut away before the next group, and nothing of it is visible
// or recovered; seqs stay consecutive.
func TestAppend_DiskFull_A7(t *testing.T) {
	for i := range 20 {
		opts, fs, _ := memOpts()
		fs.rng = rand.New(rand.NewPCG(uint64(i), 7)) // varies the short write
		opts.SegmentBytes = 100
		l := mustOpen(t, "/d", opts)
		appendN(t, l, 1, 2)
		fs.inject(1, syscall.ENOSPC)
		if _, err := l.Append(context.Background(), []byte("lost-lost-lost")); !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("Append on a full disk = %v", err)
		}
		if l.Last() != 2 {
			t.Fatalf("Last %d after a failed append", l.Last())
		}
		appendN(t, l, 3, 5) // space is back
		checkSeqs(t, l, 1, 7)
		mustClose(t, l)
		fs.Crash(dropUnsynced)
		l = mustOpen(t, "/d", opts)
		checkSeqs(t, l, 1, 7)
		mustClose(t, l)
	}
}

// TestAppend_FailurePaths_A8 fails each step of the commit path once
// (fsync, with or without the data reaching disk; the repair's truncate and
// sync; each step of a roll) and checks the caller sees the error, the next
// append succeeds with the next consecutive seq, and a power loss right
// after leaves exactly the acknowledged records.
func TestAppend_FailurePaths_A8(t *testing.T) {
	// Operations of an Append that rolls: sync old, write the old segment's
	// index (create temp, write, sync, rename), create, sync dir, write,
	// sync. After a failure the next Append first repairs: truncate, sync.
	// A failed index write only costs a scan at the next Open (which then
	// writes the index): the Append succeeds.
	cases := []struct {
		name    string
		rolls   bool
		failOps []int // operations (from the failing Append's start) that fail
		indexed bool  // only the index write fails: the Append succeeds
	}{
		{"write", false, []int{1}, false},
		{"sync", false, []int{2}, false},
		{"repair truncate", false, []int{1, 3}, false},
		{"repair sync", false, []int{1, 4}, false},
		{"roll sync old", true, []int{1}, false},
		{"roll index create", true, []int{2}, true},
		{"roll index write", true, []int{3}, true},
		{"roll index sync", true, []int{4}, true},
		{"roll index rename", true, []int{5}, true},
		{"roll create", true, []int{6}, false},
		{"roll sync dir", true, []int{7}, false},
		{"write after roll", true, []int{8}, false},
		{"sync after roll", true, []int{9}, false},
	}
	for _, tc := range cases {
		for i := range 8 {
			opts, fs, _ := memOpts()
			fs.rng = rand.New(rand.NewPCG(uint64(i), 8))
			opts.SegmentBytes = 100
			l := mustOpen(t, "/d", opts)
			n := 2
			if tc.rolls {
				n = 3 // the segment is full: the next Append rolls
			}
			appendN(t, l, 1, n)
			for _, op := range tc.failOps {
				fs.inject(op, syscall.EIO)
			}
			seq := n + 1
			if got, err := l.Append(context.Background(), data(seq)); tc.indexed && (err != nil || got != uint64(seq)) {
				t.Fatalf("%s: Append = %d, %v; want %d", tc.name, got, err, seq)
			} else if !tc.indexed && !errors.Is(err, syscall.EIO) {
				t.Fatalf("%s: Append = %v, want EIO", tc.name, err)
			} else if tc.indexed {
				seq++
			}
			for l.Last() < uint64(n+2) {
				// A repair failure fails one more group; then it works.
				if got, err := l.Append(context.Background(), data(seq)); err == nil {
					if got != uint64(seq) {
						t.Fatalf("%s: Append = %d, want %d", tc.name, got, seq)
					}
					seq++
				} else if !errors.Is(err, syscall.EIO) {
					t.Fatalf("%s: Append = %v", tc.name, err)
				}
			}
			checkSeqs(t, l, 1, uint64(n+2))
			if idx := fs.readFile(indexPath("/d", 1)); tc.rolls && (idx == nil) != tc.indexed {
				t.Fatalf("%s: index of the sealed segment present %v", tc.name, idx != nil)
			}
			mustClose(t, l)
			fs.Crash(dropUnsynced)
			l = mustOpen(t, "/d", opts)
			checkSeqs(t, l, 1, uint64(n+2))
			mustClose(t, l)
			if tc.rolls && fs.readFile(indexPath("/d", 1)) == nil {
				t.Fatalf("%s: Open did not write the missing index", tc.name)
			}
		}
	}
}

// TestTrim_RemoveFails_A8: a failed delete leaves the segment in the log
// and the error with the caller; a later trim finishes the job.
func TestTrim_RemoveFails_A8(t *testing.T) {
	opts, fs, _ := memOpts()
	opts.SegmentBytes = 100
	l := mustOpen(t, "/d", opts)
	defer mustClose(t, l)
	appendN(t, l, 1, 7)
	fs.inject(1, syscall.EIO)
	if n, err := l.TrimThrough(6); !errors.Is(err, syscall.EIO) || n != 0 {
		t.Fatalf("TrimThrough = %d, %v; want 0, EIO", n, err)
	}
	checkSeqs(t, l, 1, 7)
	fs.inject(3, syscall.EIO) // the sync dir after the first remove (segment, index)
	if n, err := l.TrimThrough(6); !errors.Is(err, syscall.EIO) || n != 3 {
		t.Fatalf("TrimThrough = %d, %v; want 3, EIO", n, err)
	}
	if n, err := l.TrimThrough(6); err != nil || n != 3 {
		t.Fatalf("TrimThrough = %d, %v; want 3", n, err)
	}
	checkSeqs(t, l, 7, 7)
}

// TestRead_DuringTrim: a reader holding a segment that a trim deletes keeps
// reading it (POSIX unlink semantics, modelled by the crash FS).
func TestRead_DuringTrim(t *testing.T) {
	opts, _, _ := memOpts()
	opts.SegmentBytes = 100
	l := mustOpen(t, "/d", opts)
	defer mustClose(t, l)
	appendN(t, l, 1, 7)
	c, err := l.locate(1)
	if err != nil || c == nil {
		t.Fatal(c, err)
	}
	if n, err := l.TrimThrough(6); err != nil || n != 6 {
		t.Fatal(n, err)
	}
	b := batch{max: 10, maxBytes: 1 << 20}
	if err := b.readSegment(c); err != nil || len(b.recs) != 3 {
		t.Fatalf("read of a trimmed segment: %d records, %v", len(b.recs), err)
	}
	l.release(c, false)
	if c.seg.f != nil {
		t.Fatal("trimmed segment's file not closed after the last reader released it")
	}
	if _, err := io.ReadAll(io.NewSectionReader(l.segs[0].f, 0, 1)); err != nil {
		t.Fatal(err)
	}
}

// TestTrim_SyncDirFails_A8: after a delete whose directory sync failed, the
// next trim makes that delete durable before removing a newer segment, so
// a power loss cannot resurrect the older segment next to a hole (found by
// TestCrash_A4).
func TestTrim_SyncDirFails_A8(t *testing.T) {
	opts, fs, _ := memOpts()
	opts.SegmentBytes = 100
	l := mustOpen(t, "/d", opts)
	defer mustClose(t, l)
	appendN(t, l, 1, 10)
	fs.inject(3, syscall.EIO) // the sync dir after removing segment 1 and its index
	if n, err := l.TrimThrough(3); !errors.Is(err, syscall.EIO) || n != 3 {
		t.Fatalf("TrimThrough(3) = %d, %v; want 3, EIO", n, err)
	}
	var ops []string
	fs.mu.Lock()
	fs.onOp = func(op, name string) { ops = append(ops, op+" "+filepath.Base(name)) }
	fs.mu.Unlock()
	if n, err := l.TrimThrough(6); err != nil || n != 3 {
		t.Fatalf("TrimThrough(6) = %d, %v; want 3", n, err)
	}
	want := []string{"syncdir d", "remove " + segmentName(4), "remove " + indexName(4), "syncdir d"}
	if !slices.Equal(ops, want) {
		t.Fatalf("operations %q, want %q", ops, want)
	}
}
