package store

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

const (
	// queueLen is the capacity of the writer's queue; a full queue blocks
	// appenders (back-pressure) instead of growing without bound.
	queueLen = 4096
	// maxGroupBytes stops adding requests to a group once its records reach
	// this size, so one group's write stays a bounded amount of work.
	maxGroupBytes = 4 << 20
	// preallocChunk is how much zero-filled space the writer adds ahead of
	// the active segment's records at a time, once less than half of it is
	// left (never past SegmentBytes). A commit that writes into blocks already
	// written and synced changes no file metadata, so its fdatasync needs no
	// journal commit; the extension's own sync pays that once per chunk.
	// 1 MiB costs about 0.7 ms to write and sync on the development disk.
	preallocChunk = 1 << 20
)

// zeros is written to preallocate space.
var zeros [64 << 10]byte

// Request states: an Append whose context ends races the writer for its
// request; whoever moves it out of reqQueued decides whether it is written.
const (
	reqQueued int32 = iota
	reqTaken
	reqCancelled
)

// request is one Append or AppendAsync call: records that go into the same
// group, consecutively. Or, with seal set, a TrimBefore asking the writer
// to seal the active segment if all its records are older than before.
type request struct {
	seal   bool
	before int64           // unix ns
	ctx    context.Context // Append only: cancellation before the writer takes it
	state  atomic.Int32
	data   [][]byte
	one    [1][]byte // backing array of data for AppendAsync
	nanos  int64
	src    *Appender // AppendAsync through an Appender: its source, for the cohort wait
	at     time.Time // monotonic queue time, for the cohort wait
	seq    uint64    // first seq, set by the writer
	bytes  int       // encoded size
	done   func(seq uint64, err error)
	res    chan result // Append only, buffered
}

type result struct {
	seq uint64
	err error
}

// writer is the state of the writer goroutine. Open sets it up before the
// goroutine starts; after that only the goroutine touches it.
type writer struct {
	seg        *segment // active segment
	next       uint64   // seq of the next record
	dirty      bool     // a failed group may have left bytes after seg.size
	failing    bool     // the last group failed (logged once per failure run)
	capFailing bool     // the MaxBytes policy failed to delete (logged once per run)
	preFailing bool     // preallocation failed (logged once per run)
	mustRoll   bool     // a seal's roll failed: roll before writing anything
	buf        []byte   // encoded group, reused
	live       []*request
	cohort     cohort
}

// Append durably writes data as consecutive records and returns the first
// one's Seq. Concurrent callers are group-committed: one write and one
// fdatasync per group. The result is exact: nil means durable, an error
// means the records were not acknowledged (after a crash they may still
// appear, see doc.go). If ctx ends before the writer has taken the records
// they are not written and ctx's error is returned; once taken, Append
// waits for the group's outcome. Appending no records returns 0 and nil.
// The caller must not modify data until Append returns.
func (l *Log) Append(ctx context.Context, data ...[]byte) (uint64, error) {
	if len(data) == 0 {
		return 0, nil
	}
	r := &request{ctx: ctx, data: data, res: make(chan result, 1)}
	if err := l.prepare(r); err != nil {
		return 0, err
	}
	if err := l.send(ctx, r); err != nil {
		return 0, err
	}
	select {
	case res := <-r.res:
		return res.seq, res.err
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqQueued, reqCancelled) {
			return 0, fmt.Errorf("store: append: %w", context.Cause(ctx))
		}
		res := <-r.res // the writer has it: its outcome is the answer
		return res.seq, res.err
	}
}

// AppendAsync queues one record; done is called exactly once, from the
// writer goroutine, after the group that holds it is durable (seq set) or
// failed (err set). Records queued by one goroutine are written in the
// order queued. It returns an error (and never calls done) only for
// ErrClosed and ErrTooLarge, and blocks while the writer's queue is full.
//
// done runs on the writer goroutine and delays every later group: it must
// be quick and must not call Append, AppendAsync or Close (which wait for
// the writer). The caller must not modify data until done is called.
func (l *Log) AppendAsync(data []byte, done func(seq uint64, err error)) error {
	return l.appendAsync(nil, data, done)
}

func (l *Log) appendAsync(src *Appender, data []byte, done func(seq uint64, err error)) error {
	r := &request{done: done, src: src}
	if src != nil {
		r.at = time.Now()
	}
	r.one[0] = data
	r.data = r.one[:]
	if err := l.prepare(r); err != nil {
		return err
	}
	return l.send(context.Background(), r)
}

// prepare checks sizes and stamps the queue time.
func (l *Log) prepare(r *request) error {
	for _, d := range r.data {
		if len(d) > l.opts.MaxRecord {
			return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(d), l.opts.MaxRecord)
		}
		r.bytes += headerSize + len(d)
	}
	r.nanos = l.opts.Now().UnixNano()
	return nil
}

// send queues r for the writer, blocking while the queue is full.
func (l *Log) send(ctx context.Context, r *request) error {
	l.sendMu.RLock()
	defer l.sendMu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	select {
	case l.reqs <- r:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("store: append: %w", context.Cause(ctx))
	}
}

// finish reports a request's outcome to its caller.
func (r *request) finish(seq uint64, err error) {
	switch {
	case r.res != nil:
		r.res <- result{seq, err}
	case r.done != nil:
		r.done(seq, err)
	}
}

// take claims r for writing; false if its Append gave up first.
func (r *request) take() bool {
	if r.ctx != nil && r.ctx.Err() != nil && r.state.CompareAndSwap(reqQueued, reqCancelled) {
		r.finish(0, fmt.Errorf("store: append: %w", context.Cause(r.ctx)))
		return false
	}
	return r.state.CompareAndSwap(reqQueued, reqTaken)
}

// writeLoop is the writer goroutine: it takes what is queued as one group,
// commits it, and repeats until Close closes the queue and it is drained.
// A seal request ends a group and is done in its turn, after it.
func (l *Log) writeLoop() {
	defer close(l.writerDone)
	var group []*request
	for r := range l.reqs {
		for r != nil {
			if r.seal {
				r.finish(0, l.sealIfOlder(r.before))
				break
			}
			var next *request
			group, next = l.gather(append(group[:0], r))
			l.commit(group)
			clear(group) // drop references to callers' data
			r = next
		}
	}
	if s := l.w.seg; l.w.dirty || s.alloc > s.size {
		// Leave the active segment holding exactly its records: no failed
		// group's bytes for the next Open to report as a torn tail, and no
		// preallocated space on disk while the log is closed. Best effort:
		// if this fails, that Open cuts the bytes or reuses the space.
		if err := l.repair(); err != nil {
			l.log.Warn("store: could not cut the active segment to its records at close", "err", err)
		}
	}
}

// gather adds queued requests to group: whatever arrived while the previous
// group was syncing forms the next group, and if the previous group held
// appenders that come back promptly after each commit (see Appender), the
// group is held open until they are all in it or the cohort wait is over.
// A seal request ends the group; it is returned to be done next.
func (l *Log) gather(group []*request) ([]*request, *request) {
	c := &l.w.cohort
	size := group[0].bytes
	back := 0 // appenders of the last group that were waited for and are in this one
	if c.gathered(group[0]) {
		back++
	}
	var deadline <-chan time.Time
	defer func() {
		if deadline != nil {
			c.stopTimer()
		}
	}()
	for size < maxGroupBytes && len(group) < queueLen {
		var r *request
		var ok bool
		select {
		case r, ok = <-l.reqs:
		default:
			if back >= c.expected {
				return group, nil
			}
			if deadline == nil {
				if c.max <= 0 {
					return group, nil
				}
				deadline = c.startTimer(c.max)
			}
			select {
			case r, ok = <-l.reqs:
			case <-deadline:
				return group, nil
			}
		}
		if !ok {
			return group, nil
		}
		if r.seal {
			return group, r
		}
		group = append(group, r)
		size += r.bytes
		if c.gathered(r) {
			back++
		}
	}
	return group, nil
}

// commit writes a group with one Write and one Sync, then publishes it.
func (l *Log) commit(group []*request) {
	live := l.w.live[:0]
	for _, r := range group {
		if r.take() {
			live = append(live, r)
		}
	}
	defer func() { l.w.live = live[:0]; clear(live) }()
	if len(live) == 0 {
		return
	}
	if err := l.ready(); err != nil {
		l.fail(live, err)
		return
	}
	w := &l.w
	first, off := w.next, w.seg.size
	w.buf = w.buf[:0]
	for _, r := range live {
		r.seq = w.next
		for _, d := range r.data {
			w.buf = appendRecord(w.buf, w.next, r.nanos, d)
			w.next++
		}
	}
	start := time.Now()
	if err := l.writeSync(w.buf); err != nil {
		err = fmt.Errorf("store: commit seqs %d-%d to %s: %w", first, w.next-1, w.seg.path, err)
		w.next = first // the seqs were never handed out: the next group reuses them
		l.fail(live, err)
		return
	}
	durable := time.Now()
	synced := durable.Sub(start)
	w.cohort.committed(live, durable)
	if cap(w.buf) > 2*maxGroupBytes {
		w.buf = nil // one huge record must not pin its buffer for the log's life
	}
	l.publish(live, first, off)
	if w.failing {
		w.failing = false
		l.log.Info("store: writes succeed again", "segment", w.seg.path)
	}
	for _, r := range live {
		r.finish(r.seq, nil)
	}
	if l.opts.OnCommit != nil {
		l.opts.OnCommit(Commit{Records: int(w.next - first), Sync: synced})
	}
	l.enforceCap()
	l.preallocate()
}

// writeSync is the commit point: the group goes right after the committed
// records, usually into preallocated space. A failure may leave any part of
// buf in the file (and, after a failed fsync, in an unknown state), so the
// next group first truncates back to the committed size.
func (l *Log) writeSync(buf []byte) error {
	s := l.w.seg
	if _, err := s.f.WriteAt(buf, s.size); err != nil {
		l.w.dirty = true
		return err
	}
	if err := s.f.Sync(); err != nil {
		l.w.dirty = true
		return err
	}
	return nil
}

// publish makes a durable group visible: segment accounting, the index,
// Last, and Wait channels.
func (l *Log) publish(live []*request, first uint64, off int64) {
	s := l.w.seg
	l.mu.Lock()
	defer l.mu.Unlock()
	seq := first
	for _, r := range live {
		for _, d := range r.data {
			total := int64(headerSize + len(d))
			s.addRecord(seq, off, total, r.nanos)
			off += total
			seq++
		}
	}
	s.disk = s.size
	s.alloc = max(s.alloc, s.size)
	l.last = seq - 1
	l.groups++
	l.wakeLocked()
}

// fail reports err to every request of a group that was not committed (and
// tells the cohort: nothing is awaited after a failed group). The
// transition into failing is logged once (callers of AppendAsync may have
// no better place to report a full or broken disk); each caller gets err.
func (l *Log) fail(live []*request, err error) {
	l.w.cohort.failed()
	if !l.w.failing {
		l.w.failing = true
		l.log.Error("store: append failed; retrying with the next group", "err", err)
	}
	for _, r := range live {
		r.finish(0, err)
	}
}

// ready repairs the active segment after a failed group and rolls to a new
// segment when the active one is full or a seal's roll failed.
func (l *Log) ready() error {
	if l.w.dirty {
		if err := l.repair(); err != nil {
			return err
		}
	}
	if (l.w.mustRoll || l.w.seg.size >= l.opts.SegmentBytes) && l.w.seg.n > 0 {
		return l.roll()
	}
	return nil
}

// repair truncates the active segment back to its committed size and makes
// that durable, so a failed group's bytes can no longer come back. It drops
// the preallocated space too (the next commit extends the file again).
func (l *Log) repair() error {
	s := l.w.seg
	if err := s.f.Truncate(s.size); err != nil {
		return fmt.Errorf("store: repair %s: truncate to %d: %w", s.path, s.size, err)
	}
	l.setAlloc(s, s.size)
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("store: repair %s: sync: %w", s.path, err)
	}
	l.w.dirty = false
	return nil
}

// setAlloc records the active segment's file length (read by Stats).
func (l *Log) setAlloc(s *segment, n int64) {
	l.mu.Lock()
	s.alloc = n
	l.mu.Unlock()
}

// preallocate runs after a commit's callers are answered: when less than
// half a chunk of zero-filled space is left ahead of the records, it writes
// the next chunk of zeros and syncs it, so the next commits write into
// blocks that are already allocated and initialised. A failure only costs
// speed (groups then grow the file as they go), and the zeros it may leave
// are what recovery takes for preallocated space anyway.
func (l *Log) preallocate() {
	s := l.w.seg
	chunk := min(preallocChunk, l.opts.SegmentBytes)
	if s.alloc >= l.opts.SegmentBytes || s.alloc-s.size >= chunk/2 {
		return
	}
	from, to := s.alloc, min((s.alloc/chunk+1)*chunk, l.opts.SegmentBytes) // to the next chunk boundary
	err := zeroFill(s.f, from, to)
	if err == nil {
		err = s.f.Sync()
	}
	if err != nil {
		n, serr := s.f.Size() // the file may have grown part of the way
		if serr != nil {
			n = to
		}
		l.setAlloc(s, max(n, s.size))
		if !l.w.preFailing {
			l.w.preFailing = true
			l.log.Warn("store: preallocating segment space failed; appending without it", "segment", s.path, "err", err)
		}
		return
	}
	l.setAlloc(s, to)
	l.w.preFailing = false
}

// indexSealed writes the index of a segment just sealed, so the next Open
// need not scan it. A failure costs that scan only: it is logged, and the
// roll goes on.
func (l *Log) indexSealed(s *segment) {
	if err := l.writeIndex(s); err != nil {
		l.log.Warn("store: could not write segment index; Open will scan the segment", "segment", s.path, "err", err)
		return
	}
	l.mu.Lock()
	s.indexed = true
	l.mu.Unlock()
}

// zeroFill writes zeros to f from from up to to.
func zeroFill(f File, from, to int64) error {
	for off := from; off < to; {
		n, err := f.WriteAt(zeros[:min(int64(len(zeros)), to-off)], off)
		if err != nil {
			return err
		}
		off += int64(n)
	}
	return nil
}

// sealIfOlder seals the active segment (see roll) if it holds records and
// every one is older than before (unix ns), so that a trim can delete it.
// Runs on the writer, which owns the active segment.
func (l *Log) sealIfOlder(before int64) error {
	s := l.w.seg
	if s.n == 0 || s.maxTime >= before {
		return nil // emptied already, or a newer record came in
	}
	if l.w.dirty {
		if err := l.repair(); err != nil {
			return err
		}
	}
	// A roll that failed may have created the next segment's file: nothing
	// may be written to this one any more (its records would run past that
	// file's name), so like a size roll it is retried before the next group.
	l.w.mustRoll = true
	return l.roll()
}

// roll seals the active segment and starts the next one, named by the next
// seq. The sealed file is cut to its records (no preallocated zeros in a
// sealed segment) and synced first, then its index is written (the
// directory sync of the new segment makes the index's name durable too).
// The new file's directory entry is durable before any record is written
// to it, so recovery never finds records in a file it cannot see.
func (l *Log) roll() error {
	old := l.w.seg
	if old.alloc > old.size {
		if err := old.f.Truncate(old.size); err != nil {
			return fmt.Errorf("store: roll: truncate %s to %d: %w", old.path, old.size, err)
		}
		l.setAlloc(old, old.size)
	}
	if err := old.f.Sync(); err != nil {
		return fmt.Errorf("store: roll: sync %s: %w", old.path, err)
	}
	l.indexSealed(old)
	path := segmentPath(l.dir, l.w.next)
	// O_TRUNC: a file left by an earlier roll that failed at SyncDir is empty
	// or holds nothing acknowledged.
	f, err := l.fs.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("store: roll: create %s: %w", path, err)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		_ = f.Close() // the sync error is the one to report; roll is retried
		return fmt.Errorf("store: roll: sync dir %s: %w", l.dir, err)
	}
	s := newSegment(l.w.next, path, f)
	l.mu.Lock()
	l.segs = append(l.segs, s)
	l.mu.Unlock()
	l.w.seg = s
	l.w.mustRoll = false
	return nil
}
