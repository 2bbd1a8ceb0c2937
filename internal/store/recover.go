package store

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// listing is what Open finds in the log directory.
type listing struct {
	bases   []uint64        // segments, ascending (zero padding: name order is seq order)
	indexes map[uint64]bool // index files, by their segment's base
	temps   []string        // index files a crash left half-written
}

// recover opens every segment, trusting a sealed segment's index where it
// has a valid one and scanning the others, truncates a torn tail of the
// last one and sets up the writer after the highest valid seq. Then it
// writes the indexes that were missing and removes those that are stale.
func (l *Log) recover() error {
	ls, err := l.list()
	if err != nil {
		return err
	}
	if len(ls.bases) == 0 {
		if err := l.createFirst(); err != nil {
			return err
		}
		l.tidyIndexes(ls, nil)
		return nil
	}
	var unindexed []*segment // sealed, scanned clean: write their index
	for i, base := range ls.bases {
		var limit uint64
		if i+1 < len(ls.bases) {
			limit = ls.bases[i+1]
		}
		s, clean, err := l.recoverSegment(base, limit, ls.indexes[base])
		if err != nil {
			return err
		}
		if limit != 0 && clean && !s.indexed {
			unindexed = append(unindexed, s)
		}
	}
	active := l.segs[len(l.segs)-1]
	l.last = active.lastSeq()
	l.w = writer{seg: active, next: active.base + active.n}
	l.tidyIndexes(ls, unindexed)
	return nil
}

// list reads the directory. Names it does not know are ignored.
func (l *Log) list() (listing, error) {
	names, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return listing{}, fmt.Errorf("store: list %s: %w", l.dir, err)
	}
	ls := listing{indexes: map[uint64]bool{}}
	for _, name := range names {
		if base, ok := parseSegmentName(name); ok {
			ls.bases = append(ls.bases, base)
		} else if base, ok := parseIndexName(name); ok {
			ls.indexes[base] = true
		} else if idx, ok := strings.CutSuffix(name, tmpSuffix); ok {
			if _, ok := parseIndexName(idx); ok {
				ls.temps = append(ls.temps, name)
			}
		}
	}
	return ls, nil
}

// createFirst creates segment 1 of a new log and makes it, and the log
// directory itself, durable.
func (l *Log) createFirst() error {
	path := segmentPath(l.dir, 1)
	f, err := l.fs.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("store: create %s: %w", path, err)
	}
	s := newSegment(1, path, f)
	l.segs = []*segment{s}
	l.w = writer{seg: s, next: 1}
	for _, d := range []string{l.dir, filepath.Dir(l.dir)} {
		if err := l.fs.SyncDir(d); err != nil {
			return fmt.Errorf("store: sync dir %s: %w", d, err)
		}
	}
	return nil
}

// recoverSegment opens one segment. A sealed one (limit, the next
// segment's base, not 0) with a valid index whose size matches the file is
// taken from the index; any other is scanned. The last one (limit 0) is
// the active segment: zeros after its records are preallocated space,
// anything else there is a torn write and is cut off. In a sealed segment a
// bad record is corruption: it is reported and the valid prefix is served,
// the bytes after it stay on disk untouched. clean reports a scanned
// segment with nothing wrong, whose index may be written.
func (l *Log) recoverSegment(base, limit uint64, hasIndex bool) (s *segment, clean bool, err error) {
	path := segmentPath(l.dir, base)
	flag := os.O_RDONLY
	if limit == 0 {
		flag = os.O_RDWR
	}
	f, err := l.fs.OpenFile(path, flag, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("store: open segment %s: %w", path, err)
	}
	if limit != 0 && hasIndex {
		if s, err := l.openIndexed(f, base, path, limit); s != nil || err != nil {
			return s, false, err
		}
	}
	res, err := scanSegment(f, base, path, limit)
	if err != nil {
		_ = f.Close() // the read error is what matters
		return nil, false, fmt.Errorf("store: scan segment %s: %w", path, err)
	}
	s = res.seg
	l.segs = append(l.segs, s)
	switch {
	case limit == 0:
		return s, res.reason == "", l.recoverTail(s, res.reason)
	case res.reason != "":
		l.corrupt++
		l.log.Error("store: corrupt segment: serving its valid prefix, skipping the rest",
			"segment", path, "reason", res.reason, "valid_records", s.n, "bad_bytes", s.disk-s.size)
		return s, false, nil
	}
	return s, l.checkComplete(s, limit), nil
}

// openIndexed takes a sealed segment from its index file, or returns nil
// (and logs why) when the index cannot be trusted and the segment must be
// scanned. Only an I/O error on the segment itself is returned.
func (l *Log) openIndexed(f File, base uint64, path string, limit uint64) (*segment, error) {
	size, err := f.Size()
	if err != nil {
		_ = f.Close() // the stat error is what matters
		return nil, fmt.Errorf("store: open segment %s: %w", path, err)
	}
	x, reason := l.readIndex(base, size, limit)
	if reason != "" {
		l.log.Warn("store: segment index not usable; scanning the segment", "segment", path, "reason", reason)
		return nil, nil
	}
	s := indexTrusted(base, path, f, x)
	l.segs = append(l.segs, s)
	l.trusted++
	l.checkComplete(s, limit)
	return s, nil
}

// checkComplete reports a sealed segment whose records end before the next
// segment's first seq (a gap in seqs), and returns whether it is complete.
func (l *Log) checkComplete(s *segment, limit uint64) bool {
	if s.base+s.n >= limit {
		return true
	}
	l.corrupt++
	l.log.Error("store: records missing at the end of a sealed segment",
		"segment", s.path, "first_missing", s.base+s.n, "next_segment", limit)
	return false
}

// recoverTail deals with what follows the active segment's valid prefix.
// Zeros only: space the writer preallocated, kept for the next appends. Any
// non-zero byte: a torn write, cut off (with the zeros after it) and the
// cut made durable before anything is appended; the bytes up to the last
// non-zero one are counted as truncated.
func (l *Log) recoverTail(s *segment, reason string) error {
	file := s.disk
	s.disk, s.alloc = s.size, file
	if file == s.size {
		return nil
	}
	end, err := nonZeroEnd(s.f, s.size, file)
	if err != nil {
		return fmt.Errorf("store: scan tail of %s: %w", s.path, err)
	}
	if end == s.size {
		return nil // preallocated
	}
	if err := s.f.Truncate(s.size); err != nil {
		return fmt.Errorf("store: truncate %s to %d: %w", s.path, s.size, err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("store: sync %s: %w", s.path, err)
	}
	s.alloc = s.size
	l.truncated += end - s.size
	l.log.Warn("store: truncated torn tail of the active segment",
		"segment", s.path, "reason", reason, "bytes", end-s.size, "valid_records", s.n)
	return nil
}

// tidyIndexes writes the indexes of sealed segments that were scanned
// clean, and removes index files that describe nothing Open trusts: the
// active segment's (left by a roll that a crash undid), a corrupt
// segment's, a deleted segment's, and half-written temporary files. Then
// one directory sync. All best effort: an index only saves a scan, so a
// failure here is logged and the next Open tries again.
func (l *Log) tidyIndexes(ls listing, unindexed []*segment) {
	changed, failed := false, 0
	var first error
	note := func(err error) {
		if err != nil {
			failed++
			first = cmp.Or(first, err)
		}
	}
	for _, s := range unindexed {
		err := l.writeIndex(s)
		note(err)
		s.indexed = err == nil
		changed = changed || s.indexed
	}
	keep := map[uint64]bool{}
	for _, s := range l.segs {
		keep[s.base] = s.indexed
	}
	for base := range ls.indexes {
		if !keep[base] {
			note(l.removeIndex(base))
			changed = true
		}
	}
	for _, name := range ls.temps {
		note(l.fs.Remove(filepath.Join(l.dir, name)))
		changed = true
	}
	if changed {
		if err := l.fs.SyncDir(l.dir); err != nil {
			note(fmt.Errorf("store: sync dir %s: %w", l.dir, err))
		}
	}
	if failed > 0 {
		l.log.Warn("store: could not update segment index files; Open will scan those segments", "failures", failed, "err", first)
	}
}
