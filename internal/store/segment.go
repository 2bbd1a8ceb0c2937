package store

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"
)

const (
	segSuffix  = ".seg"
	segNameLen = 20 + len(segSuffix)

	// indexInterval is the spacing of the sparse seq -> offset index: a Read
	// scans at most this many bytes of headers to find its first record.
	indexInterval = 64 << 10

	// scanBuffer is the read-ahead used when recovery scans a segment.
	scanBuffer = 256 << 10
)

// segmentName is the file name of the segment whose first record has seq base.
func segmentName(base uint64) string { return fmt.Sprintf("%020d%s", base, segSuffix) }

// parseSegmentName returns the base seq of a segment file name, or false for
// any other name (which the store ignores).
func parseSegmentName(name string) (uint64, bool) {
	if len(name) != segNameLen || !strings.HasSuffix(name, segSuffix) {
		return 0, false
	}
	digits := name[:20]
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	base, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || base == 0 {
		return 0, false
	}
	return base, true
}

// indexEntry says that the record with seq starts at offset off.
type indexEntry struct {
	seq uint64
	off int64
}

// segment is one segment file. The file handle serves reads for the whole
// life of the segment; the active segment's handle is also the one the
// writer appends to.
type segment struct {
	base uint64 // seq of the first record; also the file name
	path string
	f    File

	// Guarded by Log.mu. Only the writer goroutine changes the active
	// segment's fields (under Log.mu), so it may read them without the lock.
	n       uint64       // valid records: seqs base .. base+n-1
	size    int64        // bytes of the valid prefix: every byte of it is committed
	disk    int64        // bytes of records: size plus a quarantined corrupt tail (sealed only)
	alloc   int64        // active segment: file length, size plus preallocated zeros (at most)
	maxTime int64        // newest record's time in unix ns (math.MinInt64 if none)
	index   []indexEntry // sparse, ascending; index[0] is the first record
	refs    int          // readers using f
	retired bool         // deleted or log closed: close f when refs drops to 0
	indexed bool         // sealed, and an index file was written or found for it
}

func newSegment(base uint64, path string, f File) *segment {
	return &segment{base: base, path: path, f: f, maxTime: math.MinInt64}
}

// lastSeq is the seq of the newest valid record (base-1 when empty).
func (s *segment) lastSeq() uint64 { return s.base + s.n - 1 }

// addRecord accounts for a valid record of total bytes at offset off.
func (s *segment) addRecord(seq uint64, off, total, nanos int64) {
	if len(s.index) == 0 || off-s.index[len(s.index)-1].off >= indexInterval {
		s.index = append(s.index, indexEntry{seq: seq, off: off})
	}
	s.n++
	s.size = off + total
	s.maxTime = max(s.maxTime, nanos)
}

// seek returns the offset of the index entry at or before seq, and that
// entry's seq, from which a reader scans forward.
func (s *segment) seek(seq uint64) (uint64, int64) {
	lo, hi := 0, len(s.index) // find the last entry with entry.seq <= seq
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s.index[m].seq <= seq {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 {
		return s.base, 0
	}
	e := s.index[lo-1]
	return e.seq, e.off
}

// retireLocked marks the segment gone from the log and closes its file once
// no reader uses it. The caller holds Log.mu.
func (s *segment) retireLocked() {
	s.retired = true
	s.closeIfUnusedLocked()
}

func (s *segment) closeIfUnusedLocked() {
	if s.retired && s.refs == 0 && s.f != nil {
		_ = s.f.Close() // read handle of a fully synced or deleted file: nothing to lose
		s.f = nil
	}
}

// scanResult is what recovery learned about a segment file.
type scanResult struct {
	seg    *segment
	reason string // why the valid prefix ends before the end of the file
}

// scanSegment validates the records of a segment file from the start and
// returns its valid prefix. limit, if not zero, is the base of the next
// segment: records from that seq on belong there, so they end the prefix.
// Only I/O errors are returned; bad bytes end the prefix and set reason.
//
// A record's length is bounded by the file's size (not by Options.MaxRecord,
// which may have been larger when the record was written), and its data is
// checksummed as it streams past, so garbage lengths cost no memory.
func scanSegment(f File, base uint64, path string, limit uint64) (scanResult, error) {
	s := newSegment(base, path, f)
	size, err := f.Size()
	if err != nil {
		return scanResult{}, err
	}
	s.disk = size
	br := bufio.NewReaderSize(io.NewSectionReader(f, 0, size), int(min(size, scanBuffer)))
	var hdr [headerSize]byte
	off, expect := int64(0), base
	for off < size {
		reason, err := scanRecord(br, hdr[:], size-off, expect, limit)
		if err != nil {
			return scanResult{}, err
		}
		if reason != "" {
			return scanResult{seg: s, reason: fmt.Sprintf("%s at offset %d (seq %d)", reason, off, expect)}, nil
		}
		h := decodeHeader(hdr[:])
		total := headerSize + int64(h.size)
		s.addRecord(expect, off, total, h.nanos)
		off += total
		expect++
	}
	return scanResult{seg: s}, nil
}

// scanRecord reads and checks the record expected to have seq expect from br,
// with remaining bytes left in the file. It returns a reason if the record is
// not valid.
func scanRecord(br *bufio.Reader, hdr []byte, remaining int64, expect, limit uint64) (string, error) {
	if limit != 0 && expect >= limit {
		return "records beyond the next segment's first seq", nil
	}
	if remaining < headerSize {
		return "short header", nil
	}
	if _, err := io.ReadFull(br, hdr); err != nil {
		return readReason(err)
	}
	if isZero(hdr) {
		return "zero header", nil
	}
	h := decodeHeader(hdr)
	switch {
	case h.seq != expect:
		return fmt.Sprintf("seq %d, want %d", h.seq, expect), nil
	case int64(h.size) > remaining-headerSize || h.size > maxRecordLimit:
		return fmt.Sprintf("length %d past end of file", h.size), nil
	}
	crc, err := streamCRC(br, headerCRC(hdr), int(h.size))
	if err != nil {
		return readReason(err)
	}
	if crc != h.crc {
		return "checksum mismatch", nil
	}
	return "", nil
}

// nonZeroEnd returns the offset just past the last non-zero byte of f in
// [from, to), or from when that range is all zeros: space the writer
// preallocated and never used, as opposed to a torn write. Only I/O errors
// are returned; a file shorter than to ends the range.
func nonZeroEnd(f File, from, to int64) (int64, error) {
	end := from
	buf := make([]byte, min(to-from, scanBuffer))
	for off := from; off < to; {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), to-off)], off)
		for i := n - 1; i >= 0; i-- {
			if buf[i] != 0 {
				end = off + int64(i) + 1
				break
			}
		}
		off += int64(n)
		switch {
		case errors.Is(err, io.EOF), err == nil && n == 0:
			return end, nil
		case err != nil:
			return 0, err
		}
	}
	return end, nil
}

// streamCRC continues crc over the next n bytes of br.
func streamCRC(br *bufio.Reader, crc uint32, n int) (uint32, error) {
	for n > 0 {
		b, err := br.Peek(min(n, br.Size()))
		if err != nil {
			return 0, err
		}
		crc = crcUpdate(crc, b)
		n -= len(b)
		if _, err := br.Discard(len(b)); err != nil {
			return 0, err
		}
	}
	return crc, nil
}

// readReason maps a read error during a scan: running out of file (the file
// shrank under us) ends the prefix like a torn record; anything else is a
// real I/O error that must not be mistaken for a torn tail and cut away.
func readReason(err error) (string, error) {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of file", nil
	}
	return "", err
}

// segmentPath joins the log directory and a segment's name.
func segmentPath(dir string, base uint64) string { return filepath.Join(dir, segmentName(base)) }
