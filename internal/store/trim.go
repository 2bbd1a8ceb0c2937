package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"
)

// TrimBefore deletes segments whose newest record is older than t and
// returns the number of records removed. Segments go oldest first and the
// trim stops at the first one it keeps, so the log stays one consecutive run
// of seqs (record times follow queue order only roughly).
//
// The active segment goes too when every record in it is older than t, so a
// log that stops receiving records still sheds them once they expire: the
// writer first seals it as a roll does (a new, empty active segment named by
// the next seq, its directory entry durable before the old one is deleted),
// so Last survives a restart.
func (l *Log) TrimBefore(t time.Time) (int64, error) {
	cutoff := t.UnixNano()
	sealErr := l.sealBefore(cutoff)
	if errors.Is(sealErr, ErrClosed) {
		return 0, sealErr
	}
	// A failed seal keeps the active segment; the sealed ones still go.
	n, err := l.trim(func(s *segment, _ int64) bool { return s.maxTime < cutoff })
	return n, errors.Join(sealErr, err)
}

// sealBefore has the writer seal the active segment if it holds records and
// all of them are older than cutoff (unix ns). Not under trimMu: the writer
// may be waiting for it to enforce MaxBytes.
func (l *Log) sealBefore(cutoff int64) error {
	l.mu.Lock()
	a := l.segs[len(l.segs)-1]
	old := a.n > 0 && a.maxTime < cutoff
	l.mu.Unlock()
	if !old {
		return nil
	}
	r := &request{seal: true, before: cutoff, res: make(chan result, 1)}
	if err := l.send(context.Background(), r); err != nil {
		return err
	}
	return (<-r.res).err
}

// TrimThrough deletes sealed segments whose last Seq is <= seq and returns
// the number of records removed. The active segment is never deleted, so
// Last survives a restart even after everything was trimmed. (Unlike
// TrimBefore it does not seal the active segment: a queue trims through its
// checkpoint every time it drains, and each seal starts a new segment.)
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
// deletion is Remove (the segment, then its index) then SyncDir, one
// segment at a time: un-synced directory changes may persist in any order
// after a power loss, and deleting oldest-first with a sync between keeps
// every crash state a prefix-trimmed log (no hole in the middle). A reader
// still holding a deleted segment keeps reading it through its open file.
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
		indexed := s.indexed
		l.mu.Unlock()
		if indexed {
			// The same directory sync covers it. Should this fail, the
			// next Open removes the index of a segment that is gone.
			if err := l.removeIndex(s.base); err != nil {
				l.log.Warn("store: trim: could not remove a deleted segment's index", "segment", s.path, "err", err)
			}
		}
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
