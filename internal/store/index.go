package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
)

// Index file layout (little-endian), see doc.go:
//
//	magic "OPSTIDX1" | base | count | last | size | maxTime | n uint32 | n x (seq, off) | crc32c
const (
	idxSuffix      = ".idx"
	tmpSuffix      = ".tmp"
	indexMagic     = "OPSTIDX1"
	indexHeader    = 52 // magic through n
	indexEntrySize = 16
)

// indexName is the file name of the index of the segment with base seq.
func indexName(base uint64) string { return fmt.Sprintf("%020d%s", base, idxSuffix) }

// parseIndexName returns the base seq of an index file name.
func parseIndexName(name string) (uint64, bool) {
	seg, ok := strings.CutSuffix(name, idxSuffix)
	if !ok {
		return 0, false
	}
	return parseSegmentName(seg + segSuffix)
}

// segmentIndex is what an index file says about its sealed segment.
type segmentIndex struct {
	n       uint64
	size    int64
	maxTime int64
	entries []indexEntry
}

// encodeIndex describes a sealed segment: everything Open would learn by
// scanning it.
func encodeIndex(s *segment) []byte {
	le := binary.LittleEndian
	b := make([]byte, 0, indexHeader+indexEntrySize*len(s.index)+4)
	b = append(b, indexMagic...)
	b = le.AppendUint64(b, s.base)
	b = le.AppendUint64(b, s.n)
	b = le.AppendUint64(b, s.lastSeq())
	b = le.AppendUint64(b, uint64(s.size))
	b = le.AppendUint64(b, uint64(s.maxTime))
	b = le.AppendUint32(b, uint32(len(s.index)))
	for _, e := range s.index {
		b = le.AppendUint64(b, e.seq)
		b = le.AppendUint64(b, uint64(e.off))
	}
	return le.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeIndex checks an index file's bytes against the segment it claims to
// describe: base is the segment's name, size its length on disk, limit the
// next segment's base. It returns why the index cannot be trusted, or "".
// Every field is checked, so no bytes can make the reader index out of
// range; a stale but well-formed index is ruled out by the size (a sealed
// segment's bytes never change, see doc.go).
func decodeIndex(b []byte, base uint64, size int64, limit uint64) (segmentIndex, string) {
	le := binary.LittleEndian
	if len(b) < indexHeader+indexEntrySize+4 || (len(b)-indexHeader-4)%indexEntrySize != 0 {
		return segmentIndex{}, fmt.Sprintf("length %d", len(b))
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != le.Uint32(b[len(body):]) {
		return segmentIndex{}, "checksum mismatch"
	}
	x := segmentIndex{
		n:       le.Uint64(b[16:]),
		size:    int64(le.Uint64(b[32:])),
		maxTime: int64(le.Uint64(b[40:])),
	}
	last, entries := le.Uint64(b[24:]), int(le.Uint32(b[48:]))
	switch {
	case string(b[:8]) != indexMagic:
		return x, "bad magic"
	case le.Uint64(b[8:]) != base:
		return x, fmt.Sprintf("base %d", le.Uint64(b[8:]))
	case x.size != size:
		return x, fmt.Sprintf("segment is %d bytes, index says %d", size, x.size)
	case x.n == 0 || x.n > uint64(size/headerSize) || last != base+x.n-1:
		return x, fmt.Sprintf("%d records, last seq %d", x.n, last)
	case limit != 0 && last >= limit:
		return x, fmt.Sprintf("last seq %d reaches the next segment's %d", last, limit)
	case entries != (len(body)-indexHeader)/indexEntrySize:
		return x, fmt.Sprintf("%d entries in %d bytes", entries, len(b))
	}
	x.entries = make([]indexEntry, entries)
	for i := range x.entries {
		p := b[indexHeader+i*indexEntrySize:]
		e := indexEntry{seq: le.Uint64(p), off: int64(le.Uint64(p[8:]))}
		switch {
		case i == 0 && (e.seq != base || e.off != 0):
			return x, "first entry is not the first record"
		case i > 0 && (e.seq <= x.entries[i-1].seq || e.off <= x.entries[i-1].off),
			e.seq > last, e.off < 0, e.off > size-headerSize:
			return x, fmt.Sprintf("entry %d out of order or range", i)
		}
		x.entries[i] = e
	}
	return x, ""
}

// maxIndexBytes bounds the index of a segment of size bytes: entries are at
// least indexInterval apart. Reading stops there, whatever the file says.
func maxIndexBytes(size int64) int64 {
	return indexHeader + indexEntrySize*(size/indexInterval+1) + 4
}

// readIndex reads and checks the index of a sealed segment. A missing,
// unreadable or invalid index is only a reason to scan the segment.
func (l *Log) readIndex(base uint64, size int64, limit uint64) (segmentIndex, string) {
	path := indexPath(l.dir, base)
	f, err := l.fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return segmentIndex{}, err.Error()
	}
	defer func() { _ = f.Close() }() // read-only: nothing to lose
	n, err := f.Size()
	switch {
	case err != nil:
		return segmentIndex{}, err.Error()
	case n > maxIndexBytes(size):
		return segmentIndex{}, fmt.Sprintf("length %d", n)
	}
	b := make([]byte, n)
	if err := readFull(f, b, 0); err != nil {
		return segmentIndex{}, err.Error()
	}
	return decodeIndex(b, base, size, limit)
}

// writeIndex writes the index of a sealed segment: to a temporary file,
// synced, then renamed over the index name. The caller syncs the directory.
// A crash leaves the old index, none, or the new one, never a torn one
// under the index name (a torn one would fail its checksum anyway).
func (l *Log) writeIndex(s *segment) error {
	path := indexPath(l.dir, s.base)
	tmp := path + tmpSuffix
	f, err := l.fs.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("store: create %s: %w", tmp, err)
	}
	_, err = f.WriteAt(encodeIndex(s), 0)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = l.fs.Rename(tmp, path)
	}
	if err != nil {
		_ = l.fs.Remove(tmp) // best effort; Open removes leftovers
		return fmt.Errorf("store: write index %s: %w", path, err)
	}
	return nil
}

// removeIndex deletes a segment's index file; a missing one is fine.
func (l *Log) removeIndex(base uint64) error {
	if err := l.fs.Remove(indexPath(l.dir, base)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("store: remove index: %w", err)
	}
	return nil
}

// indexPath joins the log directory and an index file's name.
func indexPath(dir string, base uint64) string { return filepath.Join(dir, indexName(base)) }

// indexTrusted builds a sealed segment from its index without scanning it.
func indexTrusted(base uint64, path string, f File, x segmentIndex) *segment {
	s := newSegment(base, path, f)
	s.n, s.size, s.disk, s.maxTime, s.index = x.n, x.size, x.size, x.maxTime, x.entries
	s.indexed = true
	return s
}
