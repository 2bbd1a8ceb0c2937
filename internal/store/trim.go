package store

import (
	"errors"
	"fmt"
	"io/fs"
	"time"
)

// TrimBefore deletes sealed segments whose newest record is older than t and
// returns the number of records removed. Segments go oldest first and the
// trim stops at the first one it keeps, so the log stays one consecutive run
// of seqs (record times follow queue order only roughly). The active segment
// is never deleted.
func (l *Log) TrimBefore(t time.Time) (int64, error) {
	cutoff := t.UnixNano()
	return l.trim(func(s *segment, _ int64) bool { return s.maxTime < cutoff })
}

// TrimThrough deletes sealed segments whose last Seq is <= seq and returns
// the number of records removed. The active segment is never deleted, so
// Last survives a restart even after everything was trimmed.
func (l *Log) TrimThrough(seq uint64) (int64, error) {
	return l.trim(func(s *segment, _ int64) bool { return s.lastSeq() <= seq })
}

// enforceCap applies the MaxBytes policy after a commit: delete the oldest
// sealed segments while the log is above the cap. Runs on the writer.
func (l *Log) enforceCap() {
	limit := l.opts.MaxBytes
	if limit <= 0 {
		return
	}
	n, err := l.trim(func(_ *segment, total int64) bool { return total > limit })
	l.mu.Lock()
	l.dropped += n
	l.mu.Unlock()
	if n > 0 {
		l.log.Warn("store: deleted oldest records to stay under MaxBytes", "records", n, "max_bytes", limit)
	}
	switch {
	case err != nil && !l.w.capFailing: // logged once per failure run: it repeats every commit
		l.w.capFailing = true
		l.log.Error("store: enforcing MaxBytes failed; retrying after each commit", "err", err)
	case err == nil:
		l.w.capFailing = false
	}
}

// trim deletes sealed segments from the oldest while drop says so. Each
// deletion is Remove then SyncDir, one segment at a time: un-synced
// directory changes may persist in any order after a power loss, and
// deleting oldest-first with a sync between keeps every crash state a
// prefix-trimmed log (no hole in the middle). A reader still holding a
// deleted segment keeps reading it through its open file.
func (l *Log) trim(drop func(s *segment, totalBytes int64) bool) (int64, error) {
	l.trimMu.Lock()
	defer l.trimMu.Unlock()
	var removed int64
	for {
		s, err := l.nextToTrim(drop)
		if s == nil || err != nil {
			return removed, err
		}
		if err := l.syncRemoves(); err != nil {
			return removed, err
		}
		if err := l.fs.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, fmt.Errorf("store: trim: remove %s: %w", s.path, err)
		}
		l.removeUnsynced = true
		l.mu.Lock()
		l.segs = l.segs[1:]
		s.retireLocked()
		removed += int64(s.n)
		l.mu.Unlock()
		if err := l.syncRemoves(); err != nil {
			return removed, err
		}
	}
}

// syncRemoves makes the last Remove durable. Trims call it before each
// Remove too: after a failed directory sync, removing a newer segment
// before the older removal is durable could leave a hole after a crash.
// Caller holds trimMu.
func (l *Log) syncRemoves() error {
	if !l.removeUnsynced {
		return nil
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return fmt.Errorf("store: trim: sync dir %s: %w", l.dir, err)
	}
	l.removeUnsynced = false
	return nil
}

// nextToTrim returns the oldest segment if it is sealed and drop says to
// delete it, or nil.
func (l *Log) nextToTrim(drop func(*segment, int64) bool) (*segment, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.readClosed {
		return nil, ErrClosed
	}
	if len(l.segs) < 2 {
		return nil, nil
	}
	var total int64
	for _, s := range l.segs {
		total += s.disk
	}
	if s := l.segs[0]; drop(s, total) {
		return s, nil
	}
	return nil, nil
}
