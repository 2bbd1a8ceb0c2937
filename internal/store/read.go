package store

import (
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"time"
)

const (
	// readChunk is the most of a segment one ReadAt fetches.
	readChunk = 64 << 10
	// minReadChunk is the least, when a batch's limits say it needs less.
	minReadChunk = 4 << 10
	// readHints is how many reader positions the log remembers, so that a
	// reader that continues where it stopped starts at the exact offset
	// instead of scanning from the index entry before it.
	readHints = 8
)

// hint is where a Read stopped: the record with seq starts at off in seg.
type hint struct {
	seg *segment
	seq uint64
	off int64
}

// Read returns up to max records with Seq > after, in order, never more than
// maxBytes of Data in total except that it always returns at least one
// record if any exists. Only durable records are visible. Records trimmed
// away are skipped silently (Read(0, …) starts at First()), also when a
// trim deletes segments while a batch is being read (the batch then jumps
// over them), and so is a corrupt range found at Open. max < 1 returns
// nothing.
//
// Records are checksummed again as they are read. A bad record in a sealed
// segment is handled as Open handles one it finds (Open does not scan a
// segment it has a valid index for): logged, counted in Stats.Corrupt, the
// rest of that segment skipped. A bad record in the active segment or an
// I/O error ends the batch: the records before it are returned without
// error, and the next Read, which starts there, returns the error.
// The Data slices may share one backing array; the caller owns them.
// Safe to call concurrently with appends and trims.
func (l *Log) Read(after uint64, max int, maxBytes int) ([]Record, error) {
	if max < 1 || after == math.MaxUint64 {
		return nil, nil
	}
	b := batch{max: max, maxBytes: maxBytes}
	next := after + 1
	for !b.full {
		c, err := l.locate(next)
		if err != nil || c == nil {
			return b.result(err)
		}
		err = b.readSegment(c)
		l.release(c, err == nil)
		if err != nil && !l.quarantine(c, err) {
			return b.result(err)
		}
		next = c.endSeq
	}
	return b.result(nil)
}

// cursor is a reader's view of one segment, taken under Log.mu.
type cursor struct {
	seg    *segment
	from   uint64 // first seq wanted
	seq    uint64 // seq of the record at off
	off    int64
	end    int64  // committed size when located
	endSeq uint64 // seq after the last committed record when located
}

// locate finds the segment holding the first record with seq >= next (past
// trimmed and corrupt gaps) and pins its file; nil when there is none.
func (l *Log) locate(next uint64) (*cursor, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.readClosed {
		return nil, ErrClosed
	}
	if next > l.last {
		return nil, nil
	}
	// Segments' last seqs ascend (an empty one's is base-1), so the first
	// segment that reaches next holds it or, past a gap, the first after it.
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].lastSeq() >= next })
	for ; i < len(l.segs); i++ {
		s := l.segs[i]
		if s.n == 0 {
			continue
		}
		next = max(next, s.base)
		seq, off := s.seek(next)
		for _, h := range l.hints {
			if h.seg == s && h.seq <= next && h.seq > seq {
				seq, off = h.seq, h.off
			}
		}
		s.refs++
		return &cursor{seg: s, from: next, seq: seq, off: off, end: s.size, endSeq: s.base + s.n}, nil
	}
	return nil, nil
}

// release unpins a segment file pinned by locate and, after a clean read,
// remembers where the reader stopped.
func (l *Log) release(c *cursor, remember bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c.seg.refs--
	c.seg.closeIfUnusedLocked()
	if remember && !c.seg.retired {
		l.hints[l.nextHint] = hint{seg: c.seg, seq: c.seq, off: c.off}
		l.nextHint = (l.nextHint + 1) % readHints
	}
}

// batch collects one Read's records against its limits.
type batch struct {
	max, maxBytes int
	bytes         int
	recs          []Record
	full          bool
}

// result returns what was read; an error only if nothing was.
func (b *batch) result(err error) ([]Record, error) {
	if len(b.recs) > 0 {
		return b.recs, nil
	}
	return nil, err
}

// readSegment reads records of c's segment into b until the segment's
// committed end or b is full.
func (b *batch) readSegment(c *cursor) error {
	for c.off < c.end && !b.full {
		want := int64(readChunk) // skipping to c.from: headers of unknown size
		if c.seq >= c.from {
			recs := min(b.max-len(b.recs), readChunk/headerSize) // no overflow for a huge max
			want = int64(max(b.maxBytes-b.bytes, 0)) + int64(recs)*headerSize
			want = min(max(want, minReadChunk), readChunk)
		}
		buf, err := readAt(c.seg, c.off, min(c.end-c.off, want))
		if err != nil {
			return err
		}
		n, err := b.parse(c, buf)
		c.off += int64(n) // on a bad record: where it starts
		if err != nil {
			return err
		}
	}
	return nil
}

// parse takes the whole records at the start of buf (read at c.off) and
// returns how many bytes it consumed. A record longer than buf is read on
// its own.
func (b *batch) parse(c *cursor, buf []byte) (int, error) {
	p := 0
	for p < len(buf) && !b.full {
		if len(buf)-p < headerSize {
			if p == 0 {
				return 0, corruptAt(c, "short header")
			}
			return p, nil
		}
		h := decodeHeader(buf[p:])
		total := headerSize + int(h.size)
		if c.off+int64(p)+int64(total) > c.end || h.seq != c.seq {
			return p, corruptAt(c, fmt.Sprintf("header seq %d len %d", h.seq, h.size))
		}
		if len(buf)-p < total {
			if p > 0 {
				return p, nil
			}
			big, err := readAt(c.seg, c.off, int64(total))
			if err != nil {
				return 0, err
			}
			buf = big
		}
		consumed, err := b.take(c, h, buf[p:p+total])
		if err != nil || !consumed {
			return p, err
		}
		p += total
		c.seq++
	}
	return p, nil
}

// take adds the record rec (header and data) at c.seq if it is wanted,
// and reports whether it was consumed: taken or skipped (records before
// c.from are skipped unchecked), not if it does not fit (b is then full).
func (b *batch) take(c *cursor, h header, rec []byte) (bool, error) {
	if c.seq < c.from {
		return true, nil
	}
	data := rec[headerSize:len(rec):len(rec)]
	if len(b.recs) > 0 && b.bytes+len(data) > b.maxBytes {
		b.full = true
		return false, nil
	}
	if recordCRC(rec, data) != h.crc {
		return false, corruptAt(c, "checksum mismatch")
	}
	b.recs = append(b.recs, Record{Seq: h.seq, Time: time.Unix(0, h.nanos).UTC(), Data: data})
	b.bytes += len(data)
	b.full = len(b.recs) >= b.max
	return true, nil
}

// readAt reads exactly n bytes of s at off.
func readAt(s *segment, off, n int64) ([]byte, error) {
	buf := make([]byte, n)
	if err := readFull(s.f, buf, off); err != nil {
		return nil, fmt.Errorf("store: read %s at %d: %w", s.path, off, err)
	}
	return buf, nil
}

// readFull fills b from f at off; a short read is io.ErrUnexpectedEOF.
func readFull(f File, b []byte, off int64) error {
	n, err := f.ReadAt(b, off)
	if n == len(b) {
		return nil // io.ReaderAt may report io.EOF with a full read
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// quarantine deals with a read error in c's segment and reports whether the
// read may go on with the next segment. A corrupt record (c.seq at c.off)
// in a sealed segment ends that segment's records, as if Open had found
// it: logged, counted, and the segment's index removed, so that the next
// Open scans the segment and reports the damage itself. Anything else, and
// damage in the active segment (whose records go on after it), is an error.
func (l *Log) quarantine(c *cursor, err error) bool {
	if !errors.Is(err, errCorrupt) {
		return false
	}
	s := c.seg
	l.mu.Lock()
	if !s.retired && s == l.segs[len(l.segs)-1] {
		l.mu.Unlock()
		return false
	}
	cut := !s.retired && c.seq < s.base+s.n // not trimmed, not cut by another reader
	indexed := cut && s.indexed
	if cut {
		s.n, s.size, s.indexed = c.seq-s.base, c.off, false
		k := sort.Search(len(s.index), func(i int) bool { return s.index[i].seq >= c.seq })
		s.index = s.index[:k]
		l.corrupt++
	}
	l.mu.Unlock()
	if cut {
		l.log.Error("store: corrupt record in a sealed segment: serving its valid prefix, skipping the rest",
			"segment", s.path, "seq", c.seq, "offset", c.off, "err", err)
	}
	if indexed {
		if err := l.removeIndex(s.base); err != nil {
			l.log.Warn("store: could not remove the index of a corrupt segment", "segment", s.path, "err", err)
		}
	}
	return true
}

// errCorrupt marks committed bytes that no longer check out (they did when
// written or recovered): bit rot or outside interference.
var errCorrupt = errors.New("corrupt record")

func corruptAt(c *cursor, what string) error {
	return fmt.Errorf("store: read %s at seq %d: %w: %s", c.seg.path, c.seq, errCorrupt, what)
}
