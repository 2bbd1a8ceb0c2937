package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"testing"
)

// segmentBytes encodes records with seqs from base on (fuzz seeds, fixtures).
func segmentBytes(base uint64, nanos int64, data ...string) []byte {
	var b []byte
	for i, d := range data {
		b = appendRecord(b, base+uint64(i), nanos+int64(i), []byte(d))
	}
	return b
}

// FuzzOpenSegment: arbitrary bytes as a segment file, alone (the active
// segment) or followed by another (a sealed one). Open never fails or
// panics, what it serves is consistent, and the log accepts appends that
// survive a reopen.
func FuzzOpenSegment(f *testing.F) {
	valid := segmentBytes(1, 1e18, "a", "", "hello, world", "x")
	f.Add([]byte{})
	f.Add(valid)
	f.Add(valid[:len(valid)-1])
	f.Add(valid[:headerSize-1])
	f.Add(append(bytes.Clone(valid), make([]byte, 64)...))
	flipped := bytes.Clone(valid)
	flipped[headerSize+headerSize+3] ^= 4
	f.Add(flipped)
	f.Add(segmentBytes(2, 0, "wrong first seq"))
	f.Add(append(segmentBytes(1, 0, "a"), segmentBytes(3, 0, "gap")...))
	huge := segmentBytes(1, 0, "a")
	huge[3] = 0x7f // length 2 GiB
	f.Add(huge)
	f.Fuzz(func(t *testing.T, b []byte) {
		checkFuzzedLog(t, b, 0)
		checkFuzzedLog(t, b, 3) // sealed, followed by a segment starting at seq 3
	})
}

func checkFuzzedLog(t *testing.T, b []byte, nextBase uint64) {
	fs := newCrashFS(1)
	fs.writeFile("/d/"+segmentName(1), b)
	if nextBase != 0 {
		fs.writeFile("/d/"+segmentName(nextBase), nil)
	}
	opts := Options{FS: fs, Logger: quietLogger(), MaxRecord: 64, SegmentBytes: 4096} // small: cheap preallocation
	l, err := Open("/d", opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	st := l.Stats()
	recs := readAll(t, l)
	for i, r := range recs {
		if r.Seq != uint64(i+1) {
			t.Fatalf("record %d has seq %d", i, r.Seq)
		}
	}
	switch {
	case nextBase == 0 && st.Last != uint64(len(recs)):
		t.Fatalf("Last %d with %d records", st.Last, len(recs))
	case nextBase == 0 && st.Truncated != int64(max(0, len(bytes.TrimRight(b, "\x00"))-len(segmentPrefix(recs)))):
		// The torn tail is cut and counted up to its last non-zero byte;
		// zeros alone are preallocated space.
		t.Fatalf("Truncated %d, file %d bytes, valid prefix %d", st.Truncated, len(b), len(segmentPrefix(recs)))
	case nextBase != 0 && (st.Last != nextBase-1 || len(recs) > int(nextBase-1)):
		t.Fatalf("sealed: Last %d, %d records", st.Last, len(recs))
	case len(recs) > 0 && st.First != 1, len(recs) == 0 && st.First != st.Last+1:
		t.Fatalf("First %d with %d records", st.First, len(recs))
	}
	if !bytes.HasPrefix(b, segmentPrefix(recs)) {
		t.Fatal("served records are not the file's prefix")
	}
	seq, err := l.Append(context.Background(), []byte("after"))
	if err != nil || seq != st.Last+1 {
		t.Fatalf("Append = %d, %v; want %d", seq, err, st.Last+1)
	}
	mustClose(t, l)
	l, err = Open("/d", opts)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer mustClose(t, l)
	if got := l.Stats(); got.Truncated != 0 || got.Corrupt != st.Corrupt || got.Last != seq {
		t.Fatalf("reopen stats %+v after %+v", got, st)
	}
	if r, err := l.Read(seq-1, 1, 100); err != nil || len(r) != 1 || string(r[0].Data) != "after" {
		t.Fatalf("appended record after reopen: %v, %v", r, err)
	}
}

// segmentPrefix re-encodes records as the bytes they were read from.
func segmentPrefix(recs []Record) []byte {
	var b []byte
	for _, r := range recs {
		b = appendRecord(b, r.Seq, r.Time.UnixNano(), r.Data)
	}
	return b
}

// FuzzOpenIndex: arbitrary bytes as the index of a sealed segment, as is
// or with a valid checksum appended (so that the field checks, not only the
// crc, meet arbitrary input). Open never fails or panics, every record it
// serves is the segment's true record for that seq, in order, and the log
// accepts appends that survive a reopen.
func FuzzOpenIndex(f *testing.F) {
	seg := segmentBytes(1, 1e18, "a", "bb", "ccc", "dddd")
	s := &segment{base: 1, n: 4, size: int64(len(seg)), maxTime: 1e18 + 3, index: []indexEntry{{1, 0}, {3, 51}}}
	good := encodeIndex(s)
	f.Add(good, false)
	f.Add(good[:len(good)-4], true)
	f.Add(good[:len(good)-5], true)
	f.Add([]byte{}, false)
	f.Add(make([]byte, len(good)), false)
	wrong := bytes.Clone(good[:len(good)-4])
	wrong[16] = 3 // three records
	f.Add(wrong, true)
	wrong = bytes.Clone(good[:len(good)-4])
	wrong[60] = 50 // the second entry points inside a record
	f.Add(wrong, true)
	f.Fuzz(func(t *testing.T, b []byte, fixCRC bool) { checkFuzzedIndex(t, seg, b, fixCRC) })
}

func checkFuzzedIndex(t *testing.T, seg, b []byte, fixCRC bool) {
	truth := map[uint64]string{1: "a", 2: "bb", 3: "ccc", 4: "dddd", 5: "e"}
	if fixCRC {
		b = binary.LittleEndian.AppendUint32(bytes.Clone(b), crc32.Checksum(b, castagnoli))
	}
	fs := newCrashFS(1)
	fs.writeFile("/d/"+segmentName(1), seg)
	fs.writeFile("/d/"+indexName(1), b)
	fs.writeFile("/d/"+segmentName(5), segmentBytes(5, 2e18, "e"))
	opts := Options{FS: fs, Logger: quietLogger(), SegmentBytes: 4096} // small: cheap preallocation
	l, err := Open("/d", opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	recs := readAll(t, l)
	for i, r := range recs {
		if string(r.Data) != truth[r.Seq] || (i > 0 && r.Seq <= recs[i-1].Seq) {
			t.Fatalf("record %d: seq %d %q", i, r.Seq, r.Data)
		}
	}
	if seq, err := l.Append(context.Background(), []byte("f")); err != nil || seq != 6 {
		t.Fatalf("Append = %d, %v; want 6", seq, err)
	}
	mustClose(t, l)
	l, err = Open("/d", opts)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer mustClose(t, l)
	if r, err := l.Read(5, 1, 100); err != nil || len(r) != 1 || string(r[0].Data) != "f" {
		t.Fatalf("appended record after reopen: %v, %v", r, err)
	}
}
