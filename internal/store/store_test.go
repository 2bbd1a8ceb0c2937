package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/testutil"
)

// memOpts returns options for a log on a fresh crash FS, with a fake clock.
func memOpts() (Options, *crashFS, *testClock) {
	fs, clock := newCrashFS(1), newTestClock()
	return Options{FS: fs, Now: clock.Now, Logger: quietLogger()}, fs, clock
}

func data(i int) []byte { return fmt.Appendf(nil, "record-%04d", i) }

// appendN appends records data(from..from+n-1) one call each, and waits
// until the writer is idle (see quiesce).
func appendN(t *testing.T, l *Log, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if _, err := l.Append(context.Background(), data(i)); err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
	}
	quiesce(t, l)
}

func TestAppendRead_RoundTrip(t *testing.T) {
	opts, _, clock := memOpts()
	l := mustOpen(t, "/d", opts)
	defer mustClose(t, l)
	if l.First() != 1 || l.Last() != 0 {
		t.Fatalf("empty log: First %d Last %d, want 1 0", l.First(), l.Last())
	}
	t0 := clock.peek()
	seq, err := l.Append(context.Background(), []byte("a"), []byte{}, []byte("ccc"))
	if err != nil || seq != 1 {
		t.Fatalf("Append = %d, %v; want 1", seq, err)
	}
	if seq, err := l.Append(context.Background(), []byte("d")); err != nil || seq != 4 {
		t.Fatalf("Append = %d, %v; want 4", seq, err)
	}
	recs, err := l.Read(0, 10, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a", "", "ccc", "d"}
	if len(recs) != len(want) {
		t.Fatalf("Read returned %d records, want %d", len(recs), len(want))
	}
	for i, r := range recs {
		if r.Seq != uint64(i+1) || string(r.Data) != want[i] {
			t.Errorf("record %d = seq %d %q, want seq %d %q", i, r.Seq, r.Data, i+1, want[i])
		}
	}
	// One Append call is stamped once, at queue time, in UTC.
	if !recs[0].Time.Equal(t0.Add(time.Millisecond)) || recs[2].Time != recs[0].Time || recs[0].Time.Location() != time.UTC {
		t.Errorf("times %v %v, want %v in UTC for the first call", recs[0].Time, recs[2].Time, t0.Add(time.Millisecond))
	}
	if !recs[3].Time.After(recs[0].Time) {
		t.Errorf("second call's time %v not after the first's %v", recs[3].Time, recs[0].Time)
	}
	if l.First() != 1 || l.Last() != 4 {
		t.Errorf("First %d Last %d, want 1 4", l.First(), l.Last())
	}
	if seq, err := l.Append(context.Background()); seq != 0 || err != nil {
		t.Errorf("Append() = %d, %v; want 0, nil", seq, err)
	}
}

func TestRead_Limits(t *testing.T) {
	opts, _, _ := memOpts()
	l := mustOpen(t, "/d", opts)
	defer mustClose(t, l)
	appendN(t, l, 1, 10) // each record's data is 11 bytes
	tests := []struct {
		after         uint64
		max, maxBytes int
		want          []uint64
	}{
		{0, 3, 1 << 20, []uint64{1, 2, 3}},
		{4, 100, 1 << 20, []uint64{5, 6, 7, 8, 9, 10}},
		{0, 100, 33, []uint64{1, 2, 3}},      // exactly three fit
		{0, 100, 32, []uint64{1, 2}},         // never more than maxBytes
		{2, 100, 1, []uint64{3}},             // but at least one record
		{2, 100, 0, []uint64{3}},             //
		{9, 100, 0, []uint64{10}},            //
		{10, 100, 1 << 20, nil},              // nothing after Last
		{1000, 100, 1 << 20, nil},            //
		{0, 0, 1 << 20, nil},                 // max < 1
		{0, -1, 1 << 20, nil},                //
		{0, 1, 1 << 20, []uint64{1}},         //
		{7, 2, 11, []uint64{8}},              //
		{7, 2, 22, []uint64{8, 9}},           //
		{7, 10, 1 << 20, []uint64{8, 9, 10}}, //
	}
	for _, tt := range tests {
		recs, err := l.Read(tt.after, tt.max, tt.maxBytes)
		if err != nil {
			t.Fatalf("Read(%d, %d, %d): %v", tt.after, tt.max, tt.maxBytes, err)
		}
		var got []uint64
		for _, r := range recs {
			got = append(got, r.Seq)
			if !bytes.Equal(r.Data, data(int(r.Seq))) {
				t.Errorf("seq %d: data %q", r.Seq, r.Data)
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Read(%d, %d, %d) = %v, want %v", tt.after, tt.max, tt.maxBytes, got, tt.want)
		}
	}
}

// TestRead_LargeRecordsAndIndex reads across records bigger than a read
// chunk and from points far into a segment (through the sparse index).
func TestRead_LargeRecordsAndIndex(t *testing.T) {
	opts, _, _ := memOpts()
	l := mustOpen(t, "/d", opts)
	defer mustClose(t, l)
	var all [][]byte
	for i := range 300 {
		size := 100 + i*7
		if i%50 == 0 {
			size = readChunk + 1000*i // larger than one read
		}
		d := bytes.Repeat([]byte{byte(i)}, size)
		all = append(all, d)
		if _, err := l.Append(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(l.segs[0].index); n < 5 {
		t.Fatalf("index has %d entries, want a sparse index of several", n)
	}
	// One record at a time, as a reader that follows the log does: each Read
	// starts where the last stopped (a remembered position, not a scan).
	for after := range 300 {
		recs, err := l.Read(uint64(after), 1, 0)
		if err != nil || len(recs) != 1 || recs[0].Seq != uint64(after+1) || !bytes.Equal(recs[0].Data, all[after]) {
			t.Fatalf("Read(%d, 1, 0) = %d records, %v", after, len(recs), err)
		}
	}
	if recs, err := l.Read(0, math.MaxInt, math.MaxInt); err != nil || len(recs) != 300 {
		t.Fatalf("Read(0, MaxInt, MaxInt) = %d records, %v", len(recs), err)
	}
	if recs, err := l.Read(math.MaxUint64, 10, 100); err != nil || len(recs) != 0 {
		t.Fatalf("Read(MaxUint64) = %d records, %v", len(recs), err)
	}
	for _, after := range []int{0, 1, 49, 50, 51, 123, 250, 298, 299} {
		recs, err := l.Read(uint64(after), 3, 1<<30)
		if err != nil {
			t.Fatalf("Read(%d): %v", after, err)
		}
		for j, r := range recs {
			if r.Seq != uint64(after+j+1) || !bytes.Equal(r.Data, all[after+j]) {
				t.Fatalf("Read(%d)[%d] = seq %d (%d bytes), want seq %d (%d bytes)", after, j, r.Seq, len(r.Data), after+j+1, len(all[after+j]))
			}
		}
		if want := min(3, 300-after); len(recs) != want {
			t.Fatalf("Read(%d) returned %d records, want %d", after, len(recs), want)
		}
	}
}

func TestWait_Wakes(t *testing.T) {
	opts, _, _ := memOpts()
	l := mustOpen(t, "/d", opts)
	last, ch := l.Wait()
	if last != 0 {
		t.Fatalf("Wait last = %d, want 0", last)
	}
	select {
	case <-ch:
		t.Fatal("Wait channel closed before any append")
	default:
	}
	appendN(t, l, 1, 1)
	<-ch // closed by the append
	last, ch = l.Wait()
	if last != 1 {
		t.Fatalf("Wait last = %d, want 1", last)
	}
	mustClose(t, l)
	<-ch // closed by Close
	if _, ch := l.Wait(); ch == nil {
		t.Fatal("Wait after Close returned a nil channel")
	} else {
		<-ch
	}
}

// TestWait_Reader is the reader loop Wait is meant for, against concurrent
// appends.
func TestWait_Reader(t *testing.T) {
	opts, _, _ := memOpts()
	l := mustOpen(t, "/d", opts)
	defer mustClose(t, l)
	const n = 300
	errc := make(chan error, 1)
	go func() {
		var after uint64
		for after < n {
			recs, err := l.Read(after, 50, 1<<20)
			if err != nil {
				errc <- err
				return
			}
			for _, r := range recs {
				if r.Seq != after+1 || !bytes.Equal(r.Data, data(int(r.Seq))) {
					errc <- fmt.Errorf("got seq %d %q after %d", r.Seq, r.Data, after)
					return
				}
				after = r.Seq
			}
			if len(recs) == 0 {
				if last, ch := l.Wait(); last == after {
					<-ch
				}
			}
		}
		errc <- nil
	}()
	appendN(t, l, 1, n)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestRoll_AtSegmentBytes(t *testing.T) {
	opts, fs, _ := memOpts()
	opts.SegmentBytes = 100 // 35-byte records: three fit before a roll
	l := mustOpen(t, "/d", opts)
	appendN(t, l, 1, 10)
	want := []string{segmentName(1), segmentName(4), segmentName(7), segmentName(10)}
	if got := fs.segmentFiles("/d"); !slices.Equal(got, want) {
		t.Fatalf("segments %v, want %v", got, want)
	}
	if st := l.Stats(); st.Segments != 4 || st.Bytes != 10*35 || st.First != 1 || st.Last != 10 {
		t.Fatalf("stats %+v", st)
	}
	// A group is never split: it may overshoot SegmentBytes.
	if _, err := l.Append(context.Background(), data(11), data(12), data(13), data(14)); err != nil {
		t.Fatal(err)
	}
	if got := fs.segmentFiles("/d"); len(got) != 4 {
		t.Fatalf("segments %v after a group into a non-full segment", got)
	}
	checkSeqs(t, l, 1, 14)
	mustClose(t, l)
}

// checkSeqs reads everything and checks seqs first..last with data(seq).
func checkSeqs(t *testing.T, l *Log, first, last uint64) {
	t.Helper()
	recs := readAll(t, l)
	if uint64(len(recs)) != last-first+1 {
		t.Fatalf("read %d records, want %d..%d", len(recs), first, last)
	}
	for i, r := range recs {
		if r.Seq != first+uint64(i) || !bytes.Equal(r.Data, data(int(r.Seq))) {
			t.Fatalf("record %d: seq %d %q, want seq %d", i, r.Seq, r.Data, first+uint64(i))
		}
	}
	if l.First() != first || l.Last() != last {
		t.Fatalf("First %d Last %d, want %d %d", l.First(), l.Last(), first, last)
	}
}

func TestReopen_ContinuesSeqs(t *testing.T) {
	opts, _, _ := memOpts()
	opts.SegmentBytes = 100
	l := mustOpen(t, "/d", opts)
	appendN(t, l, 1, 8)
	mustClose(t, l)
	l = mustOpen(t, "/d", opts)
	checkSeqs(t, l, 1, 8)
	appendN(t, l, 9, 4)
	checkSeqs(t, l, 1, 12)
	mustClose(t, l)
	l = mustOpen(t, "/d", opts)
	defer mustClose(t, l)
	checkSeqs(t, l, 1, 12)
	if st := l.Stats(); st.Truncated != 0 || st.Corrupt != 0 {
		t.Fatalf("clean reopen reported damage: %+v", st)
	}
}

func TestTrimThrough(t *testing.T) {
	opts, fs, _ := memOpts()
	opts.SegmentBytes = 100 // segments hold seqs 1-3, 4-6, 7-9, 10
	l := mustOpen(t, "/d", opts)
	appendN(t, l, 1, 10)
	for _, tt := range []struct {
		through uint64
		removed int64
		first   uint64
	}{
		{2, 0, 1},   // segment 1-3 still has seq 3
		{3, 3, 4},   //
		{8, 3, 7},   //
		{99, 3, 10}, // the active segment stays
	} {
		n, err := l.TrimThrough(tt.through)
		if err != nil || n != tt.removed || l.First() != tt.first {
			t.Fatalf("TrimThrough(%d) = %d, %v, First %d; want %d, First %d", tt.through, n, err, l.First(), tt.removed, tt.first)
		}
	}
	checkSeqs(t, l, 10, 10)
	if got := fs.segmentFiles("/d"); !slices.Equal(got, []string{segmentName(10)}) {
		t.Fatalf("segments %v", got)
	}
	// Fill the active segment, then fail the first write after the roll
	// (the roll itself succeeds): the new active segment is empty. Trim all
	// sealed segments: Last survives a restart through the active
	// segment's name.
	appendN(t, l, 11, 2)
	fs.inject(8, syscall.EIO) // sync old, index (create, write, sync, rename), create, sync dir, write
	if _, err := l.Append(context.Background(), data(13)); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Append with a failing write = %v", err)
	}
	if n, err := l.TrimThrough(13); err != nil || n != 3 {
		t.Fatalf("TrimThrough(13) = %d, %v; want 3", n, err)
	}
	if st := l.Stats(); st.First != 13 || st.Last != 12 || st.Segments != 1 {
		t.Fatalf("after trimming all: %+v", st)
	}
	mustClose(t, l)
	l = mustOpen(t, "/d", opts)
	defer mustClose(t, l)
	if l.First() != 13 || l.Last() != 12 {
		t.Fatalf("after reopen: First %d Last %d, want 13 12", l.First(), l.Last())
	}
	if recs, err := l.Read(0, 10, 1<<20); err != nil || len(recs) != 0 {
		t.Fatalf("Read on an empty log = %v, %v", recs, err)
	}
	if seq, err := l.Append(context.Background(), data(13)); err != nil || seq != 13 {
		t.Fatalf("Append after trimming all = %d, %v; want 13", seq, err)
	}
	checkSeqs(t, l, 13, 13)
}

func TestTrimBefore(t *testing.T) {
	opts, _, clock := memOpts()
	opts.SegmentBytes = 100
	l := mustOpen(t, "/d", opts)
	defer mustClose(t, l)
	appendN(t, l, 1, 6) // segments 1-3 and 4-6; record i is stamped at t0+i ms
	t0 := clock.peek().Add(-6 * time.Millisecond)
	appendN(t, l, 7, 1) // rolls: 4-6 is sealed
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Millisecond) }
	for _, tt := range []struct {
		before  time.Time
		removed int64
		first   uint64
	}{
		{at(3), 0, 1},        // seq 3 is not older than its own time
		{at(3).Add(1), 3, 4}, //
		{at(7), 3, 7},        // everything sealed; the active segment holds seq 7
		{at(7).Add(1), 1, 8}, // the active segment too, once all its records are old
		{at(1000), 0, 8},     // an empty active segment stays
	} {
		n, err := l.TrimBefore(tt.before)
		if err != nil || n != tt.removed || l.First() != tt.first {
			t.Fatalf("TrimBefore(%v) = %d, %v, First %d; want %d, First %d", tt.before, n, err, l.First(), tt.removed, tt.first)
		}
	}
	if st := l.Stats(); st.First != 8 || st.Last != 7 || st.Segments != 1 || st.Bytes != 0 {
		t.Fatalf("after trimming all: %+v", st)
	}
}

// TestTrimBefore_StopsAtKept: segments are deleted oldest first only, so a
// newer segment with older records (times follow queue order only roughly)
// does not punch a hole.
func TestTrimBefore_StopsAtKept(t *testing.T) {
	opts, _, _ := memOpts()
	opts.SegmentBytes = 100
	times := []int64{5, 6, 7, 1, 2, 3, 9} // segment 4-6 holds older records than 1-3
	i := 0
	opts.Now = func() time.Time { i++; return time.Unix(0, times[i-1]) }
	l := mustOpen(t, "/d", opts)
	defer mustClose(t, l)
	appendN(t, l, 1, 7)
	if n, err := l.TrimBefore(time.Unix(0, 4)); err != nil || n != 0 {
		t.Fatalf("TrimBefore = %d, %v; want 0 (segment 1-3 has newer records)", n, err)
	}
	if n, err := l.TrimBefore(time.Unix(0, 8)); err != nil || n != 6 {
		t.Fatalf("TrimBefore = %d, %v; want 6", n, err)
	}
}

func TestMaxBytes_DropsOldest(t *testing.T) {
	opts, fs, _ := memOpts()
	opts.SegmentBytes = 100 // 35-byte records, 105-byte segments
	opts.MaxBytes = 250
	l := mustOpen(t, "/d", opts)
	// The policy runs on the writer right after the commit's callers are
	// answered: checkStats waits for the writer before it looks.
	appendN(t, l, 1, 9) // 315 bytes: the cap drops segment 1-3 when 9 commits
	checkStats(t, l, func(st Stats) bool {
		return st.Dropped == 3 && st.First == 4 && st.Last == 9 && st.Bytes == 210
	})
	appendN(t, l, 10, 4)
	checkStats(t, l, func(st Stats) bool { return st.Dropped == 6 && st.First == 7 && st.Bytes <= 250 })
	checkSeqs(t, l, 7, 13)
	if got := fs.segmentFiles("/d"); !slices.Equal(got, []string{segmentName(7), segmentName(10), segmentName(13)}) {
		t.Fatalf("segments %v", got)
	}
	mustClose(t, l)

	// A cap below one segment keeps only the active one.
	opts.MaxBytes = 10
	l = mustOpen(t, "/d", opts)
	defer mustClose(t, l)
	appendN(t, l, 14, 1)
	checkStats(t, l, func(st Stats) bool { return st.Segments == 1 && st.Dropped == 6 && st.First == 13 })
}

func TestErrTooLarge(t *testing.T) {
	opts, _, _ := memOpts()
	opts.MaxRecord = 10
	l := mustOpen(t, "/d", opts)
	defer mustClose(t, l)
	big := make([]byte, 11)
	if _, err := l.Append(context.Background(), []byte("ok"), big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Append = %v, want ErrTooLarge", err)
	}
	called := false
	if err := l.AppendAsync(big, func(uint64, error) { called = true }); !errors.Is(err, ErrTooLarge) {
		t.Errorf("AppendAsync = %v, want ErrTooLarge", err)
	}
	if seq, err := l.Append(context.Background(), make([]byte, 10)); err != nil || seq != 1 {
		t.Errorf("Append at the limit = %d, %v; want 1 (nothing of the rejected call written)", seq, err)
	}
	if called {
		t.Error("done called for a rejected AppendAsync")
	}
}

func TestErrClosed(t *testing.T) {
	opts, _, _ := memOpts()
	l := mustOpen(t, "/d", opts)
	appendN(t, l, 1, 2)
	mustClose(t, l)
	if err := l.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close = %v", err)
	}
	if _, err := l.Append(context.Background(), []byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Append = %v", err)
	}
	if err := l.AppendAsync([]byte("x"), func(uint64, error) { t.Error("done called") }); !errors.Is(err, ErrClosed) {
		t.Errorf("AppendAsync = %v", err)
	}
	if _, err := l.Read(0, 10, 100); !errors.Is(err, ErrClosed) {
		t.Errorf("Read = %v", err)
	}
	if _, err := l.TrimThrough(10); !errors.Is(err, ErrClosed) {
		t.Errorf("TrimThrough = %v", err)
	}
	if _, err := l.TrimBefore(time.Now()); !errors.Is(err, ErrClosed) {
		t.Errorf("TrimBefore = %v", err)
	}
	if l.Last() != 2 || l.First() != 1 || l.Stats().Last != 2 {
		t.Errorf("First/Last after Close = %d/%d", l.First(), l.Last())
	}
}

// TestClose_DrainsQueue: everything queued before Close is committed and
// its done called before Close returns.
func TestClose_DrainsQueue(t *testing.T) {
	opts, _, _ := memOpts()
	l := mustOpen(t, "/d", opts)
	var mu sync.Mutex
	var seqs []uint64
	for i := range 500 {
		if err := l.AppendAsync(data(i+1), func(seq uint64, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				seqs = append(seqs, seq)
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	mustClose(t, l)
	mu.Lock()
	n := len(seqs)
	mu.Unlock()
	if n != 500 {
		t.Fatalf("%d of 500 done callbacks ran with success before Close returned", n)
	}
	l = mustOpen(t, "/d", opts)
	defer mustClose(t, l)
	checkSeqs(t, l, 1, 500)
}

// TestAppendAsync_Concurrent: many goroutines queue records; each one's
// records are written in its order, and all seqs are unique and consecutive.
func TestAppendAsync_Concurrent(t *testing.T) {
	opts, _, _ := memOpts()
	opts.SegmentBytes = 4096
	l := mustOpen(t, "/d", opts)
	defer mustClose(t, l)
	const goroutines, each = 8, 400
	seqs := make([][]uint64, goroutines) // seqs[g][i] of goroutine g's i-th record
	var wg sync.WaitGroup
	for g := range goroutines {
		seqs[g] = make([]uint64, each)
		wg.Go(func() {
			var done sync.WaitGroup
			for i := range each {
				done.Add(1)
				err := l.AppendAsync(fmt.Appendf(nil, "%d/%d", g, i), func(seq uint64, err error) {
					defer done.Done()
					if err == nil {
						seqs[g][i] = seq
					}
				})
				if err != nil {
					done.Done()
				}
			}
			done.Wait()
		})
	}
	wg.Wait()
	all := map[uint64]bool{}
	for g := range goroutines {
		for i, seq := range seqs[g] {
			if seq == 0 || all[seq] {
				t.Fatalf("goroutine %d record %d: seq %d (zero or duplicate)", g, i, seq)
			}
			all[seq] = true
			if i > 0 && seq <= seqs[g][i-1] {
				t.Fatalf("goroutine %d: record %d has seq %d after %d", g, i, seq, seqs[g][i-1])
			}
		}
	}
	recs := readAll(t, l)
	if len(recs) != goroutines*each || recs[0].Seq != 1 || recs[len(recs)-1].Seq != goroutines*each {
		t.Fatalf("read %d records", len(recs))
	}
	for _, r := range recs {
		var g, i int
		if _, err := fmt.Sscanf(string(r.Data), "%d/%d", &g, &i); err != nil || seqs[g][i] != r.Seq {
			t.Fatalf("seq %d holds %q", r.Seq, r.Data)
		}
	}
	if groups := l.groups; groups >= goroutines*each {
		t.Errorf("%d groups for %d records: no group commit", groups, goroutines*each)
	}
}

// TestAppend_ConcurrentCallers: synchronous appenders share groups and get
// distinct consecutive ranges.
func TestAppend_ConcurrentCallers(t *testing.T) {
	opts, _, _ := memOpts()
	l := mustOpen(t, "/d", opts)
	defer mustClose(t, l)
	const goroutines, each = 16, 50
	var mu sync.Mutex
	got := map[uint64]string{}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				a, b := fmt.Sprintf("%d/%d/a", g, i), fmt.Sprintf("%d/%d/b", g, i)
				seq, err := l.Append(context.Background(), []byte(a), []byte(b))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got[seq], got[seq+1] = a, b
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	recs := readAll(t, l)
	if len(recs) != 2*goroutines*each || len(got) != len(recs) {
		t.Fatalf("read %d records, acknowledged %d", len(recs), len(got))
	}
	for _, r := range recs {
		if got[r.Seq] != string(r.Data) {
			t.Fatalf("seq %d holds %q, acknowledged %q", r.Seq, r.Data, got[r.Seq])
		}
	}
}

// TestAppend_Cancelled: a context that ends before the writer takes the
// records keeps them out of the log.
func TestAppend_Cancelled(t *testing.T) {
	opts, _, _ := memOpts()
	l := mustOpen(t, "/d", opts)
	defer mustClose(t, l)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Append(ctx, []byte("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Append with a cancelled context = %v", err)
	}
	if seq, err := l.Append(context.Background(), data(1)); err != nil || seq != 1 {
		t.Fatalf("Append = %d, %v; want 1", seq, err)
	}
	checkSeqs(t, l, 1, 1)
}

func TestOpen_InvalidOptions(t *testing.T) {
	for _, o := range []Options{{SegmentBytes: -1}, {MaxBytes: -1}, {MaxRecord: -1}, {MaxRecord: maxRecordLimit + 1}} {
		o.FS = newCrashFS(1)
		if _, err := Open("/d", o); err == nil {
			t.Errorf("Open(%+v) succeeded", o)
		}
	}
}

// TestOpen_CreatesDir: the OS FS, a nested new directory, mode 0700.
func TestOpen_CreatesDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	l := mustOpen(t, dir, Options{})
	appendN(t, l, 1, 3)
	mustClose(t, l)
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("dir: %v, %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(dir, segmentName(1))); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, dir, Options{})
	defer mustClose(t, l)
	checkSeqs(t, l, 1, 3)
}

// TestOpen_IgnoresOtherFiles: names that are not segments are left alone.
func TestOpen_IgnoresOtherFiles(t *testing.T) {
	opts, fs, _ := memOpts()
	for _, n := range []string{"checkpoint.json", "00000000000000000000.seg", "0000000000000000001.seg", "0000000000000000000x.seg", "00000000000000000001.seg.tmp"} {
		fs.writeFile("/d/"+n, []byte("junk"))
	}
	l := mustOpen(t, "/d", opts)
	defer mustClose(t, l)
	appendN(t, l, 1, 2)
	checkSeqs(t, l, 1, 2)
	if got := fs.segmentFiles("/d"); len(got) != 4 {
		t.Fatalf("files %v", got)
	}
}

// blockWriter parks the writer goroutine inside a done callback until the
// returned function is called.
func blockWriter(t *testing.T, l *Log) (release func()) {
	t.Helper()
	entered, gate := make(chan struct{}), make(chan struct{})
	if err := l.AppendAsync([]byte("blocker"), func(uint64, error) {
		close(entered)
		<-gate
	}); err != nil {
		t.Fatal(err)
	}
	<-entered
	return func() { close(gate) }
}

// TestAppend_BackPressure: with the writer stuck and its queue full,
// appenders block, and a context ends the wait; a request whose context
// ended while queued is never written.
func TestAppend_BackPressure(t *testing.T) {
	opts, _, _ := memOpts()
	l := mustOpen(t, "/d", opts)
	defer mustClose(t, l)
	release := blockWriter(t, l)

	// Queued, then cancelled before the writer takes it.
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := l.Append(ctx, []byte("cancelled")); errc <- err }()
	testutil.Eventually(t, 5*time.Second, func() bool { return len(l.reqs) > 0 }, "the Append to cancel is queued")
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Append cancelled in the queue = %v", err)
	}

	// Fill the queue; the next append blocks until its deadline.
	var dones sync.WaitGroup
	for len(l.reqs) < cap(l.reqs) {
		dones.Add(1)
		if err := l.AppendAsync([]byte("queued"), func(uint64, error) { dones.Done() }); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := l.Append(ctx, []byte("late")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Append on a full queue = %v, want DeadlineExceeded", err)
	}
	release()
	dones.Wait()
	recs := readAll(t, l)
	if len(recs) != 1+cap(l.reqs)-1 {
		t.Fatalf("%d records, want the blocker and the queued ones", len(recs))
	}
	for _, r := range recs {
		if s := string(r.Data); s == "cancelled" || s == "late" {
			t.Fatalf("seq %d: %q was written", r.Seq, s)
		}
	}
}
