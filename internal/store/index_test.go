package store

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// indexedLog writes a log of several sealed segments on a crash FS, with
// records of mixed sizes (some larger than the index interval, so the
// sparse indexes have several entries), and returns the FS and the data.
func indexedLog(t *testing.T) (*crashFS, Options, [][]byte) {
	t.Helper()
	opts, fs, _ := memOpts()
	opts.SegmentBytes = 200 << 10
	l := mustOpen(t, "/d", opts)
	rng := rand.New(rand.NewPCG(11, 11))
	written := [][]byte{nil}
	for len(written) < 400 {
		size := 50 + rng.IntN(2000)
		if rng.IntN(40) == 0 {
			size = indexInterval + rng.IntN(indexInterval)
		}
		d := payload(rng, uint64(len(written)), size)
		if _, err := l.Append(context.Background(), d); err != nil {
			t.Fatal(err)
		}
		written = append(written, d)
	}
	mustClose(t, l)
	return fs, opts, written
}

// sealedBases lists the sealed segments of dir on fs.
func sealedBases(fs *crashFS, dir string) []uint64 {
	names := fs.segmentFiles(dir)
	var bases []uint64
	for _, n := range names[:len(names)-1] {
		b, _ := parseSegmentName(n)
		bases = append(bases, b)
	}
	return bases
}

// openShape opens the log on fs and returns its shape (see logShape), its
// records if read is set, and how many sealed segments came from an index.
func openShape(t *testing.T, fs *crashFS, opts Options, read bool) (string, []Record, int) {
	t.Helper()
	opts.FS = fs
	l := mustOpen(t, "/d", opts)
	defer mustClose(t, l)
	var recs []Record
	if read {
		recs = readAll(t, l)
	}
	return logShape(l), recs, l.trusted
}

// TestIndex_SameLog: a log opened from its index files is the log opened
// by scanning every segment, down to each segment's sparse index; Open
// reads no byte of a sealed segment that has an index; a scan writes the
// missing indexes, byte for byte those a roll writes.
func TestIndex_SameLog(t *testing.T) {
	fs, opts, written := indexedLog(t)
	sealed := sealedBases(fs, "/d")
	if len(sealed) < 4 {
		t.Fatalf("want several sealed segments, got %d", len(sealed))
	}
	idx := map[uint64][]byte{}
	for _, b := range sealed {
		if idx[b] = fs.readFile(indexPath("/d", b)); idx[b] == nil {
			t.Fatalf("sealed segment %d has no index", b)
		}
	}
	scan := fs.clone()
	scan.removeIndexes("/d")

	clear(fs.reads)
	shape, recs, trusted := openShape(t, fs, opts, true)
	if trusted != len(sealed) {
		t.Fatalf("%d sealed segments taken from their index, want %d", trusted, len(sealed))
	}
	scanShape, scanRecs, scanTrusted := openShape(t, scan, opts, true)
	if scanTrusted != 0 || shape != scanShape {
		t.Fatalf("with indexes:\n%s\nscanned:\n%s", shape, scanShape)
	}
	if len(recs) != len(written)-1 || !slices.EqualFunc(recs, scanRecs, func(a, b Record) bool {
		return a.Seq == b.Seq && a.Time.Equal(b.Time) && bytes.Equal(a.Data, b.Data) && bytes.Equal(a.Data, written[a.Seq])
	}) {
		t.Fatal("records differ")
	}
	for _, b := range sealed {
		if got := scan.readFile(indexPath("/d", b)); !bytes.Equal(got, idx[b]) {
			t.Errorf("index of %d rewritten by Open differs from the one the roll wrote", b)
		}
	}

	// Open alone (no reads) touches the sealed segments not at all.
	clear(fs.reads)
	l := mustOpen(t, "/d", opts)
	mustClose(t, l)
	for name, n := range fs.reads {
		if base, ok := parseSegmentName(filepath.Base(name)); ok && slices.Contains(sealed, base) {
			t.Errorf("Open read %d bytes of sealed segment %s", n, name)
		}
	}
}

// TestIndex_BadIndexFallsBack damages one sealed segment's index in every
// way (bit flips across header, entries and checksum; truncation; empty;
// zeros; deleted; another segment's index; the segment cut behind the
// index's back): Open scans that segment instead, gives the same log as an
// Open without any index, and writes a good index again.
func TestIndex_BadIndexFallsBack(t *testing.T) {
	fs0, opts, _ := indexedLog(t)
	sealed := sealedBases(fs0, "/d")
	victim := sealed[0] // its last record is small: cutting it leaves the entries in range
	path := indexPath("/d", victim)
	good := fs0.readFile(path)
	damage := map[string]func(fs *crashFS){
		"deleted":   func(fs *crashFS) { deleteFile(fs, path) },
		"empty":     func(fs *crashFS) { fs.writeFile(path, nil) },
		"zeros":     func(fs *crashFS) { fs.writeFile(path, make([]byte, len(good))) },
		"truncated": func(fs *crashFS) { fs.writeFile(path, good[:len(good)-5]) },
		"half":      func(fs *crashFS) { fs.writeFile(path, good[:len(good)/2]) },
		"longer":    func(fs *crashFS) { fs.writeFile(path, append(bytes.Clone(good), 0)) },
		"other segment's": func(fs *crashFS) {
			fs.writeFile(path, fs.readFile(indexPath("/d", sealed[2])))
		},
		"segment cut at a record": func(fs *crashFS) { // index size no longer matches
			seg := segmentPath("/d", victim)
			b := fs.readFile(seg)
			fs.writeFile(seg, b[:headerSize+int(decodeHeader(b).size)])
		},
		"segment without its last record": func(fs *crashFS) { // only the size tells
			seg := segmentPath("/d", victim)
			b := fs.readFile(seg)
			last := 0
			for off := 0; off < len(b); off += headerSize + int(decodeHeader(b[off:]).size) {
				last = off
			}
			fs.writeFile(seg, b[:last])
			if _, reason := decodeIndex(good, victim, int64(last), 0); !strings.HasPrefix(reason, "segment is ") {
				t.Fatalf("the cut segment fails another check first: %s", reason)
			}
		},
	}
	flips := []int{0, 7, 8, 16, 24, 32, 40, 47, 48, len(good) - 4, len(good) - 1} // each header field, the crc
	for e := indexHeader; e < len(good)-4; e += indexEntrySize {
		flips = append(flips, e, e+8) // each entry's seq and offset
	}
	for k, i := range flips {
		bit := byte(1) << (k % 8)
		damage[fmt.Sprintf("bit %#x flipped at %d", bit, i)] = func(fs *crashFS) {
			b := bytes.Clone(good)
			b[i] ^= bit
			fs.writeFile(path, b)
		}
	}
	for name, hurt := range damage {
		fs := fs0.clone()
		hurt(fs)
		scan := fs.clone()
		scan.removeIndexes("/d")
		shape, _, trusted := openShape(t, fs, opts, false)
		scanShape, _, _ := openShape(t, scan, opts, false)
		if trusted != len(sealed)-1 {
			t.Errorf("%s: %d segments from their index, want all but the damaged one (%d)", name, trusted, len(sealed)-1)
		}
		if shape != scanShape {
			t.Errorf("%s: with indexes:\n%s\nscanned:\n%s", name, shape, scanShape)
		}
		after := fs.readFile(path)
		if strings.HasPrefix(name, "segment ") { // now short of records: corrupt, not indexed
			if after != nil {
				t.Errorf("%s: an index was kept for a segment with missing records", name)
			}
			continue
		}
		if !bytes.Equal(after, good) {
			t.Errorf("%s: Open did not write the index again", name)
		}
	}
}

// deleteFile removes a file durably (test setup).
func deleteFile(fs *crashFS, name string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	delete(fs.files, name)
	delete(fs.durable, name)
}

// TestIndex_Tidy: Open removes what a crash may leave: a half-written
// temporary index, the index of a segment already deleted, and the index
// of the active segment (a roll the crash undid); it keeps other files.
func TestIndex_Tidy(t *testing.T) {
	fs, opts, _ := indexedLog(t)
	names := fs.segmentFiles("/d")
	active, _ := parseSegmentName(names[len(names)-1])
	sealed := sealedBases(fs, "/d")
	fs.writeFile(indexPath("/d", active), fs.readFile(indexPath("/d", sealed[0])))
	fs.writeFile(indexPath("/d", sealed[0])+tmpSuffix, []byte("half"))
	deleteFile(fs, segmentPath("/d", sealed[0])) // as a trim whose index removal was lost
	fs.writeFile("/d/notes.idx", []byte("not ours"))
	l := mustOpen(t, "/d", opts)
	mustClose(t, l)
	var idx []string
	all, _ := fs.ReadDir("/d")
	for _, n := range all {
		if !strings.HasSuffix(n, segSuffix) {
			idx = append(idx, n)
		}
	}
	var want []string
	for _, b := range sealed[1:] {
		want = append(want, indexName(b))
	}
	want = append(want, "notes.idx")
	slices.Sort(want)
	if !slices.Equal(idx, want) {
		t.Fatalf("files besides segments %v, want %v", idx, want)
	}
}

// TestIndex_RemovedWithSegment: trims (TrimThrough, TrimBefore sealing the
// active segment, the MaxBytes policy) delete each segment's index with it.
func TestIndex_RemovedWithSegment(t *testing.T) {
	opts, fs, clock := memOpts()
	opts.SegmentBytes = 100
	l := mustOpen(t, "/d", opts)
	appendN(t, l, 1, 10) // segments 1, 4, 7 sealed and indexed; 10 active
	files := func() []string { n, _ := fs.ReadDir("/d"); return n }
	want := []string{indexName(1), segmentName(1), indexName(4), segmentName(4), indexName(7), segmentName(7), segmentName(10)}
	if got := files(); !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	if _, err := l.TrimThrough(3); err != nil {
		t.Fatal(err)
	}
	if got := files(); !slices.Equal(got, want[2:]) {
		t.Fatalf("after TrimThrough(3): files %v", got)
	}
	if _, err := l.TrimBefore(clock.peek().Add(1)); err != nil {
		t.Fatal(err)
	}
	if got, want := files(), []string{segmentName(11)}; !slices.Equal(got, want) {
		t.Fatalf("after TrimBefore(all): files %v, want %v", got, want)
	}
	mustClose(t, l)
	opts.MaxBytes = 150
	l = mustOpen(t, "/d", opts)
	appendN(t, l, 11, 10) // segments 11, 14, 17 sealed, 20 active; the cap keeps 17 and 20
	if got, want := files(), []string{indexName(17), segmentName(17), segmentName(20)}; !slices.Equal(got, want) {
		t.Fatalf("after MaxBytes: files %v, want %v", got, want)
	}
	mustClose(t, l)
}

// TestIndex_OldLog_v1: a log written before index files existed (the
// format-v1 fixture) opens by scanning, and Open writes the indexes; they
// are those format-v2 pins.
func TestIndex_OldLog_v1(t *testing.T) {
	dir := copyDir(t, filepath.Join("testdata", "format-v1"))
	l := mustOpen(t, dir, Options{})
	if l.trusted != 0 {
		t.Fatalf("%d segments from an index in a log that has none", l.trusted)
	}
	recs := readAll(t, l)
	mustClose(t, l)
	if len(recs) != len(formatRecords) {
		t.Fatalf("%d records", len(recs))
	}
	for _, name := range []string{indexName(1), indexName(4)} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join("testdata", "format-v2", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s written for the old log differs from the format-v2 fixture", name)
		}
	}
	l = mustOpen(t, dir, Options{})
	defer mustClose(t, l)
	if l.trusted != 2 {
		t.Fatalf("reopen took %d segments from their index, want 2", l.trusted)
	}
}
