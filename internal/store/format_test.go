package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"flag"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/format-v2 from the current code")

// formatRecords are the records of the format fixture: empty, text, binary,
// and one long enough to need more than one byte of length.
var formatRecords = [][]byte{
	{},
	[]byte("hello"),
	{0, 1, 2, 0xfe, 0xff},
	bytes.Repeat([]byte("0123456789"), 30),
	[]byte(`{"deviceId":"d1","body":"x"}`),
}

// TestFormat_Golden pins the on-disk format (STYLE 12): the segment and
// index files written for formatRecords must equal testdata/format-v2 byte
// for byte, and the fixture must open and read back. A format change shows
// up here; regenerate only on purpose, with -update, and say so in doc.go.
// testdata/format-v1 is the same log as written before index files existed
// (format 1); it is never regenerated: TestIndex_OldLog_v1 opens it.
func TestFormat_Golden(t *testing.T) {
	fs := newCrashFS(1)
	var nanos int64 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano()
	now := func() time.Time { nanos += 1500; return time.Unix(0, nanos) }
	l := mustOpen(t, "/d", Options{FS: fs, Now: now, SegmentBytes: 64})
	if _, err := l.Append(context.Background(), formatRecords[:3]...); err != nil {
		t.Fatal(err)
	}
	for _, d := range formatRecords[3:] {
		if _, err := l.Append(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
	mustClose(t, l)
	golden := filepath.Join("testdata", "format-v2")
	names, _ := fs.ReadDir("/d")
	want := []string{indexName(1), segmentName(1), indexName(4), segmentName(4), segmentName(5)}
	if !slices.Equal(names, want) {
		t.Fatalf("fixture has files %v, want %v", names, want)
	}
	for _, name := range names {
		got := fs.readFile("/d/" + name)
		path := filepath.Join(golden, name)
		if *update {
			if err := os.MkdirAll(golden, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create the fixture)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the fixture:\n got %x\nwant %x", name, got, want)
		}
	}

	// The first record, field by field, as doc.go describes it.
	b, _ := os.ReadFile(filepath.Join(golden, segmentName(1)))
	le := binary.LittleEndian
	first := time.Date(2026, 3, 1, 12, 0, 0, 1500, time.UTC).UnixNano()
	if le.Uint32(b[0:]) != 0 || le.Uint64(b[8:]) != 1 || int64(le.Uint64(b[16:])) != first || le.Uint32(b[4:]) != recordCRC(b[:24], nil) {
		t.Errorf("first record header % x", b[:24])
	}

	// The index of segment 1, field by field, as doc.go describes it.
	x, _ := os.ReadFile(filepath.Join(golden, indexName(1)))
	if len(x) != indexHeader+indexEntrySize+4 || string(x[:8]) != "OPSTIDX1" || le.Uint64(x[8:]) != 1 ||
		le.Uint64(x[16:]) != 3 || le.Uint64(x[24:]) != 3 || le.Uint64(x[32:]) != uint64(len(b)) ||
		int64(le.Uint64(x[40:])) != first || le.Uint32(x[48:]) != 1 || le.Uint64(x[52:]) != 1 || le.Uint64(x[60:]) != 0 ||
		le.Uint32(x[68:]) != crc32.Checksum(x[:68], crc32.MakeTable(crc32.Castagnoli)) {
		t.Errorf("index of segment 1: % x", x)
	}

	// The fixture opens and reads back with the OS file system, the sealed
	// segments from their indexes.
	dir := copyDir(t, golden)
	l = mustOpen(t, dir, Options{})
	defer mustClose(t, l)
	recs := readAll(t, l)
	if st := l.Stats(); len(recs) != len(formatRecords) || st.Truncated != 0 || st.Corrupt != 0 || l.trusted != 2 {
		t.Fatalf("fixture read back %d records, stats %+v, %d segments from their index", len(recs), st, l.trusted)
	}
	for i, r := range recs {
		wantTime := time.Unix(0, first+1500*int64(max(0, i-2))).UTC()
		if r.Seq != uint64(i+1) || !bytes.Equal(r.Data, formatRecords[i]) || !r.Time.Equal(wantTime) {
			t.Errorf("fixture record %d: seq %d time %v data %q", i, r.Seq, r.Time, r.Data)
		}
	}
}
