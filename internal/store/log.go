package store

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Defaults for zero Options fields (documented there).
const (
	defaultSegmentBytes = 64 << 20
	defaultMaxRecord    = 4 << 20
)

// Options configure a Log. The zero value is usable.
type Options struct {
	// SegmentBytes: roll to a new segment once the active one reaches this
	// size (a group is never split, so a segment may exceed it by one
	// group). Default 64 MiB.
	SegmentBytes int64
	// MaxBytes caps all segments' bytes; 0 means no cap. After a commit that
	// leaves the log above it, the oldest sealed segments are deleted (never
	// the active one, so the log may stay above a cap smaller than one
	// segment); the records lost are counted in Stats.Dropped.
	MaxBytes int64
	// Now is the clock stamped on records. Default time.Now.
	Now func() time.Time
	// Logger receives recovery reports and write-failure transitions.
	// Default slog.Default().
	Logger *slog.Logger
	// MaxRecord is the largest Data accepted; larger gets ErrTooLarge.
	// Default 4 MiB; at most 1 GiB.
	MaxRecord int
	// FS is the file system; default OSFS(). Tests pass a crash-simulating FS.
	FS FS
	// OnCommit, if set, is called on the writer goroutine after each group
	// is durable and its callers are answered (for metrics: records per
	// commit, sync latency). It must be quick and must not call the Log.
	OnCommit func(Commit)
}

// Commit describes one durable group, for Options.OnCommit.
type Commit struct {
	Records int           // records in the group
	Sync    time.Duration // the group's write and fdatasync
}

// withDefaults fills zero fields and rejects values the format cannot hold.
func (o Options) withDefaults() (Options, error) {
	var errs []error
	if o.SegmentBytes < 0 {
		errs = append(errs, fmt.Errorf("SegmentBytes %d is negative", o.SegmentBytes))
	}
	if o.MaxBytes < 0 {
		errs = append(errs, fmt.Errorf("MaxBytes %d is negative", o.MaxBytes))
	}
	if o.MaxRecord < 0 || o.MaxRecord > maxRecordLimit {
		errs = append(errs, fmt.Errorf("MaxRecord %d is outside 0..%d", o.MaxRecord, maxRecordLimit))
	}
	if len(errs) > 0 {
		return o, fmt.Errorf("store: invalid options: %w", errors.Join(errs...))
	}
	if o.SegmentBytes == 0 {
		o.SegmentBytes = defaultSegmentBytes
	}
	if o.MaxRecord == 0 {
		o.MaxRecord = defaultMaxRecord
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.FS == nil {
		o.FS = OSFS()
	}
	return o, nil
}

// Record is one entry of the log.
type Record struct {
	Seq  uint64    // 1-based, consecutive, never reused (also not after trims or restarts)
	Time time.Time // stamped by the log at queue time (UTC, ns precision)
	Data []byte
}

// ErrClosed is returned by calls on a closed Log.
var ErrClosed = errors.New("store: closed")

// ErrTooLarge is returned (wrapped) for a record larger than Options.MaxRecord.
var ErrTooLarge = errors.New("store: record too large")

// Stats is a snapshot of the log's shape and of what recovery found.
type Stats struct {
	Segments int
	// Bytes is what the segments hold: records, and corrupt ranges kept on
	// disk. Not the preallocated space (below): this is what MaxBytes caps.
	Bytes int64
	// Preallocated is the zero-filled space on disk ahead of the active
	// segment's records (up to 1.5 MiB; see doc.go).
	Preallocated int64
	First, Last  uint64
	Dropped      int64 // records deleted by the MaxBytes policy since Open
	Truncated    int64 // bytes cut from torn tails at Open (up to the last non-zero byte)
	Corrupt      int64 // corrupt ranges found in sealed segments, at Open or by reads (reported, skipped)
}

// Log is an append-only, crash-safe log of records in segment files of one
// directory. All methods are safe for concurrent use. One writer goroutine,
// started by Open and stopped by Close, does every append.
//
// Lock order: trimMu, then mu. sendMu is never held together with either.
type Log struct {
	dir  string
	opts Options
	fs   FS
	log  *slog.Logger

	sendMu sync.RWMutex // guards closed and sending on reqs (closed under the write lock)
	closed bool
	reqs   chan *request

	writerDone chan struct{} // closed when the writer goroutine has returned
	w          writer        // owned by the writer goroutine

	trimMu         sync.Mutex // serializes segment deletion: user trims and the MaxBytes policy
	removeUnsynced bool       // guarded by trimMu: a Remove whose directory sync failed

	mu         sync.Mutex // guards the following and the segments' guarded fields
	segs       []*segment // oldest first; the last one is the active segment
	last       uint64     // highest durable seq
	waitCh     chan struct{}
	readClosed bool // Close has finished with the writer
	dropped    int64
	truncated  int64
	corrupt    int64
	groups     int64 // committed groups (= fdatasyncs of records), for benchmarks
	trusted    int   // sealed segments Open took from their index, unscanned
	hints      [readHints]hint
	nextHint   int
}

// closedCh is returned by Wait on a closed log.
var closedCh = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Open opens the log in dir, creating dir (0700) and the first segment if
// needed, and recovers what is there: see doc.go for the rules. It fails
// only on I/O errors and invalid options, never on the bytes it finds.
func Open(dir string, opts Options) (*Log, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	l := &Log{
		dir:        dir,
		opts:       opts,
		fs:         opts.FS,
		log:        opts.Logger.With("component", "store", "dir", dir),
		reqs:       make(chan *request, queueLen),
		writerDone: make(chan struct{}),
	}
	if err := l.fs.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	start := time.Now()
	if err := l.recover(); err != nil {
		l.closeSegments()
		return nil, err
	}
	l.w.cohort.max = maxCohortWait // recover set up l.w
	l.log.Debug("store: opened", "segments", len(l.segs), "from_index", l.trusted,
		"last", l.last, "took", time.Since(start))
	go l.writeLoop()
	return l, nil
}

// Close stops accepting appends, waits until the writer has committed (or
// failed) everything already queued, and closes the files. Later calls
// return ErrClosed.
func (l *Log) Close() error {
	l.sendMu.Lock()
	if l.closed {
		l.sendMu.Unlock()
		return ErrClosed
	}
	l.closed = true
	close(l.reqs) // no sender is inside send(): they hold sendMu.RLock
	l.sendMu.Unlock()
	<-l.writerDone

	l.trimMu.Lock() // let a running trim finish its file work first
	defer l.trimMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.readClosed = true
	l.wakeLocked()
	var errs []error
	for _, s := range l.segs {
		if s.refs == 0 && s.f != nil {
			if err := s.f.Close(); err != nil {
				errs = append(errs, fmt.Errorf("store: close %s: %w", s.path, err))
			}
			s.f = nil
		}
		s.retired = true // a reader still using it closes it on release
	}
	return errors.Join(errs...)
}

// closeSegments closes the files of a log that failed to open.
func (l *Log) closeSegments() {
	for _, s := range l.segs {
		_ = s.f.Close() // Open already failed; the first error is the one returned
	}
}

// First returns the lowest stored seq, or Last()+1 when the log is empty.
func (l *Log) First() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.firstLocked()
}

func (l *Log) firstLocked() uint64 {
	for _, s := range l.segs {
		if s.n > 0 {
			return s.base
		}
	}
	return l.last + 1
}

// Last returns the highest durable seq, 0 if none was ever written.
func (l *Log) Last() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// Wait returns Last() and a channel closed when a later record becomes
// durable or the log closes. A reader loops: Read after what it has, and
// when that is empty, wait on the channel.
func (l *Log) Wait() (uint64, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.readClosed {
		return l.last, closedCh
	}
	if l.waitCh == nil {
		l.waitCh = make(chan struct{})
	}
	return l.last, l.waitCh
}

// wakeLocked closes the channel handed out by Wait, if any.
func (l *Log) wakeLocked() {
	if l.waitCh != nil {
		close(l.waitCh)
		l.waitCh = nil
	}
}

// Stats returns a snapshot of the log's counters.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := Stats{
		Segments:  len(l.segs),
		First:     l.firstLocked(),
		Last:      l.last,
		Dropped:   l.dropped,
		Truncated: l.truncated,
		Corrupt:   l.corrupt,
	}
	for _, s := range l.segs {
		st.Bytes += s.disk
	}
	if a := l.segs[len(l.segs)-1]; a.alloc > a.size {
		st.Preallocated = a.alloc - a.size
	}
	return st
}
