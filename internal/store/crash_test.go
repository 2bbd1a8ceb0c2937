package store

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	crashBudget = flag.Duration("crash.budget", 1500*time.Millisecond, "TestCrash_A4: time to spend on crash iterations")
	crashSeed   = flag.Uint64("crash.seed", 0, "TestCrash_A4: seed of the first iteration (0: from the clock)")
	crashIters  = flag.Int("crash.iters", 0, "TestCrash_A4: run exactly this many iterations (0: as many as fit the budget)")
)

// TestCrash_A4 is the power-loss property test (RELIABILITY.md A4, with A7
// and A8 faults mixed in): many seeded iterations of open, random appends
// (single, grouped, concurrent), rolls with tiny segments, trims and the
// MaxBytes policy, with the crash FS frozen at a random operation, then a
// crash that drops or tears everything un-synced, then a reopen that must
// succeed and hold every acknowledged record, unchanged, in one consecutive
// run of seqs with nothing garbled. Each iteration chains a few crashes on
// the same files, so recovery also starts from recovered states.
func TestCrash_A4(t *testing.T) {
	seed := *crashSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	start := time.Now()
	iters, crashes := 0, 0
	var tally crashTally
	for ; ; iters++ {
		if *crashIters > 0 && iters >= *crashIters {
			break
		}
		if *crashIters == 0 && iters >= 20 && time.Since(start) > *crashBudget {
			break
		}
		h := newCrashHarness(t, seed+uint64(iters), &tally)
		crashes += h.run()
	}
	t.Logf("%d iterations, %d crash points, %d recovered records checked (each crash state also opened without indexes: same log), "+
		"%d sealed segments taken from their index, %d recoveries kept preallocated space, %d cut a torn tail, %d trims emptied the log, in %v (seed %d)",
		iters, crashes, tally.checkedRecords, tally.trustedIndexes, tally.preallocKept, tally.tornCut, tally.emptied,
		time.Since(start).Round(time.Millisecond), seed)
}

const crashDir = "/data/log"

// crashTally counts what the iterations of one TestCrash_A4 exercised.
type crashTally struct {
	checkedRecords, preallocKept, tornCut, emptied, trustedIndexes int
}

// crashHarness runs one iteration: a chain of crash cycles on one crashFS,
// with the model of what was acknowledged.
type crashHarness struct {
	t     *testing.T
	seed  uint64
	rng   *rand.Rand // test goroutine only
	fs    *crashFS
	clock *testClock
	opts  Options
	cycle int
	trace []string
	tally *crashTally

	mu     sync.Mutex        // guards the following: done callbacks run on the writer
	acked  map[uint64][]byte // acknowledged seq -> data
	errs   []string          // model violations seen off the test goroutine
	nextID uint64
}

func newCrashHarness(t *testing.T, seed uint64, tally *crashTally) *crashHarness {
	rng := rand.New(rand.NewPCG(seed, 1))
	h := &crashHarness{t: t, seed: seed, rng: rng, fs: newCrashFS(seed), clock: newTestClock(), tally: tally, acked: map[uint64][]byte{}}
	h.opts = Options{
		SegmentBytes: int64(64 + rng.IntN(1500)),
		Now:          h.clock.Now,
		Logger:       quietLogger(),
		MaxRecord:    400,
		FS:           h.fs,
	}
	if rng.IntN(3) == 0 {
		h.opts.MaxBytes = int64(800 + rng.IntN(4000))
	}
	return h
}

// fatalf fails the test with what is needed to reproduce the iteration.
func (h *crashHarness) fatalf(format string, args ...any) {
	h.t.Helper()
	h.t.Fatalf("seed %d cycle %d (SegmentBytes %d, MaxBytes %d; rerun: -run TestCrash_A4 -crash.seed %d -crash.iters 1): %s\ntrace: %v",
		h.seed, h.cycle, h.opts.SegmentBytes, h.opts.MaxBytes, h.seed, fmt.Sprintf(format, args...), h.trace)
}

func (h *crashHarness) note(format string, args ...any) {
	h.trace = append(h.trace, fmt.Sprintf(format, args...))
}

// run does 1-4 crash cycles and returns how many.
func (h *crashHarness) run() int {
	n := 1 + h.rng.IntN(4)
	for h.cycle = 0; h.cycle < n; h.cycle++ {
		h.crashCycle()
	}
	return n
}

// crashCycle: arm a crash (and maybe faults), open, work until frozen,
// crash, reopen and check.
func (h *crashHarness) crashCycle() {
	faults := h.rng.IntN(4) == 0
	if faults {
		for range 1 + h.rng.IntN(3) {
			err := []error{syscall.ENOSPC, syscall.EIO}[h.rng.IntN(2)]
			h.fs.inject(1+h.rng.IntN(60), err)
		}
	}
	h.fs.arm(1 + h.rng.IntN(90))
	l, err := Open(crashDir, h.opts)
	switch {
	case err == nil:
		h.workload(l)
		if err := l.Close(); err != nil {
			h.fatalf("Close: %v", err)
		}
	case !h.fs.isCrashed() && !faults:
		h.fatalf("Open failed without a crash or fault: %v", err)
	}
	mode := crashMode(h.rng.IntN(4))
	h.note("crash %v", mode)
	h.fs.Crash(mode)
	h.verify()
}

// workload runs random operations until the FS freezes or 40 are done.
func (h *crashHarness) workload(l *Log) {
	for i := 0; i < 40 && !h.fs.isCrashed(); i++ {
		switch k := h.rng.IntN(20); {
		case k < 7:
			h.appendSync(l, 1+h.rng.IntN(3))
		case k < 11:
			h.appendAsyncBurst(l, 2+h.rng.IntN(20))
		case k < 13:
			h.appendConcurrent(l, 2+h.rng.IntN(4))
		case k < 15:
			seq := h.rng.Uint64N(l.Last() + 1)
			n, err := l.TrimThrough(seq)
			h.note("trim-through %d: %d %v", seq, n, err)
		case k < 16:
			// Up to 60 records back, or everything (the active segment is
			// sealed and deleted).
			at := h.clock.peek().Add(time.Duration(1-h.rng.IntN(60)) * time.Millisecond)
			if h.rng.IntN(3) == 0 {
				at = h.clock.peek().Add(time.Millisecond)
			}
			n, err := l.TrimBefore(at)
			h.note("trim-before: %d %v", n, err)
			if st := l.Stats(); err == nil && n > 0 && st.First == st.Last+1 {
				h.tally.emptied++ // the active segment was sealed and deleted
			}
		default:
			h.checkRead(l)
		}
	}
}

func (h *crashHarness) newPayload() []byte {
	h.mu.Lock()
	h.nextID++
	id := h.nextID
	h.mu.Unlock()
	return payload(h.rng, id, h.rng.IntN(200))
}

// ack records an acknowledged record. It runs on the writer goroutine for
// AppendAsync, so violations are collected rather than failing there.
func (h *crashHarness) ack(seq uint64, data []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if old, ok := h.acked[seq]; ok && !bytes.Equal(old, data) {
		h.errs = append(h.errs, fmt.Sprintf("seq %d acknowledged twice with different data", seq))
	}
	h.acked[seq] = data
}

func (h *crashHarness) appendSync(l *Log, n int) {
	data := make([][]byte, n)
	for i := range data {
		data[i] = h.newPayload()
	}
	seq, err := l.Append(context.Background(), data...)
	h.note("append %d: %d %v", n, seq, err)
	if err != nil {
		return
	}
	for i, d := range data {
		h.ack(seq+uint64(i), d)
	}
}

func (h *crashHarness) appendAsyncBurst(l *Log, n int) {
	var wg sync.WaitGroup
	for range n {
		d := h.newPayload()
		wg.Add(1)
		err := l.AppendAsync(d, func(seq uint64, err error) {
			defer wg.Done()
			if err == nil {
				h.ack(seq, d)
			}
		})
		if err != nil {
			wg.Done()
			h.fatalf("AppendAsync: %v", err)
		}
	}
	wg.Wait()
	h.note("async burst %d", n)
}

// appendConcurrent has goroutines Append at once, so their calls share groups.
func (h *crashHarness) appendConcurrent(l *Log, goroutines int) {
	var wg sync.WaitGroup
	for range goroutines {
		data := [][]byte{h.newPayload(), h.newPayload()}
		wg.Go(func() {
			seq, err := l.Append(context.Background(), data...)
			if err == nil {
				h.ack(seq, data[0])
				h.ack(seq+1, data[1])
			}
		})
	}
	wg.Wait()
	h.note("concurrent %d", goroutines)
}

// checkRead reads from a random point and checks what it gets against the
// model while the log runs.
func (h *crashHarness) checkRead(l *Log) {
	after := h.rng.Uint64N(l.Last() + 1)
	recs, err := l.Read(after, 1+h.rng.IntN(50), h.rng.IntN(3000))
	if err != nil {
		h.fatalf("Read(%d) on a running log: %v", after, err)
	}
	// The MaxBytes policy runs on the writer after callers are answered, so
	// it may delete segments while this Read moves between them: a gap is
	// fine where every missing seq was in a removed segment.
	h.checkRecords(recs, after, h.fs.removedBound())
}

// checkRecords checks a batch: ascending seqs after after, consecutive but
// for gaps at or below removed, well formed data, equal to the model where
// acknowledged.
func (h *crashHarness) checkRecords(recs []Record, after, removed uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, r := range recs {
		switch {
		case r.Seq <= after:
			h.fatalf("Read after %d returned seq %d", after, r.Seq)
		case i > 0 && r.Seq != recs[i-1].Seq+1 && (r.Seq < recs[i-1].Seq || r.Seq-1 > removed):
			h.fatalf("seq %d follows %d", r.Seq, recs[i-1].Seq)
		case !payloadOK(r.Data):
			h.fatalf("seq %d: garbled data (%d bytes)", r.Seq, len(r.Data))
		}
		if d, ok := h.acked[r.Seq]; ok && !bytes.Equal(d, r.Data) {
			h.fatalf("seq %d: data differs from what was acknowledged", r.Seq)
		}
	}
}

// verify reopens after a crash: Open must succeed; every acknowledged record
// that no trim removed is there, unchanged; seqs run consecutively from
// First to Last; a crash never looks like corruption; appends continue.
func (h *crashHarness) verify() {
	twin := h.fs.clone() // the same crash state, opened without indexes below
	l, err := Open(crashDir, h.opts)
	if err != nil {
		h.fatalf("Open after crash: %v", err)
	}
	defer func() {
		if err := l.Close(); err != nil {
			h.fatalf("Close: %v", err)
		}
	}()
	st := l.Stats()
	if st.Corrupt != 0 {
		h.fatalf("crash produced %d corrupt ranges: %+v", st.Corrupt, st)
	}
	h.tally.trustedIndexes += l.trusted
	h.checkFiles(l)
	if st.Preallocated > 0 {
		h.tally.preallocKept++
	}
	if st.Truncated > 0 {
		h.tally.tornCut++
	}
	recs := readAll(h.t, l)
	if c := l.Stats().Corrupt; c != 0 {
		h.fatalf("reading after a crash found %d corrupt ranges", c)
	}
	h.checkTwin(twin, l, recs)
	h.checkRecords(recs, st.First-1, 0)
	if len(recs) > 0 && (recs[0].Seq != st.First || recs[len(recs)-1].Seq != st.Last) {
		h.fatalf("records %d..%d, stats %+v", recs[0].Seq, recs[len(recs)-1].Seq, st)
	}
	if len(recs) == 0 && st.First != st.Last+1 {
		h.fatalf("empty log with stats %+v", st)
	}
	h.checkAcked(st, h.fs.removedBound())
	h.tally.checkedRecords += len(recs)

	d := h.newPayload()
	seq, err := l.Append(context.Background(), d)
	if err != nil || seq != st.Last+1 {
		h.fatalf("Append after recovery: seq %d, %v; want %d", seq, err, st.Last+1)
	}
	h.ack(seq, d)
}

// checkTwin opens twin, a copy of the crash state l was opened from, with
// every segment index deleted, so that each segment is scanned: the log
// must be the same, down to each segment's sparse index, whichever indexes
// Open trusted.
func (h *crashHarness) checkTwin(twin *crashFS, l *Log, recs []Record) {
	twin.removeIndexes(crashDir)
	opts := h.opts
	opts.FS = twin
	t, err := Open(crashDir, opts)
	if err != nil {
		h.fatalf("Open of the crash state without indexes: %v", err)
	}
	defer func() { _ = t.Close() }()
	if got, want := logShape(t), logShape(l); got != want {
		h.fatalf("Open without indexes gives another log:\n%s\nwith indexes:\n%s", got, want)
	}
	got := readAll(h.t, t)
	if len(got) != len(recs) {
		h.fatalf("without indexes %d records, with %d", len(got), len(recs))
	}
	for i := range got {
		if got[i].Seq != recs[i].Seq || !got[i].Time.Equal(recs[i].Time) || !bytes.Equal(got[i].Data, recs[i].Data) {
			h.fatalf("without indexes seq %d differs", got[i].Seq)
		}
	}
}

// logShape describes a log's state: its stats and every segment's
// accounting and sparse index.
func logShape(l *Log) string {
	st := l.Stats()
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "%+v\n", st)
	for _, s := range l.segs {
		fmt.Fprintf(&b, "%d: n %d size %d disk %d alloc %d max %d index %v\n", s.base, s.n, s.size, s.disk, s.alloc, s.maxTime, s.index)
	}
	return b.String()
}

// checkFiles checks the files recovery leaves: a sealed segment holds
// exactly its records; the active one its records and then only zeros
// (preallocated space; a torn tail must have been cut, or its bytes could
// resurface behind later appends).
func (h *crashHarness) checkFiles(l *Log) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, s := range l.segs {
		b := h.fs.readFile(s.path)
		active := i == len(l.segs)-1
		switch {
		case !active && int64(len(b)) != s.size:
			h.fatalf("sealed segment %s: %d bytes on disk, %d of records", s.path, len(b), s.size)
		case active && (int64(len(b)) != s.alloc || int64(len(b)) < s.size || !isZero(b[s.size:])):
			h.fatalf("active segment %s: %d bytes on disk, %d of records, alloc %d, tail not all zeros", s.path, len(b), s.size, s.alloc)
		}
	}
}

// checkAcked: every acknowledged seq above the highest seq of any removed
// segment is stored (checkRecords compared the data).
func (h *crashHarness) checkAcked(st Stats, removed uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.errs) > 0 {
		h.fatalf("%s", h.errs[0])
	}
	for seq := range h.acked {
		if seq > st.Last {
			h.fatalf("acknowledged seq %d lost: Last is %d (removed through %d)", seq, st.Last, removed)
		}
		if seq > removed && seq < st.First {
			h.fatalf("acknowledged seq %d lost: First is %d, removed only through %d", seq, st.First, removed)
		}
	}
}
