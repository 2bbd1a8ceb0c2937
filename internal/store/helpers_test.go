package store

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"
)

// testClock is a fake clock that advances 1 ms on every reading, so record
// times are distinct and predictable.
type testClock struct{ ns atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.ns.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	return c
}

func (c *testClock) Now() time.Time { return time.Unix(0, c.ns.Add(int64(time.Millisecond))).UTC() }

// peek returns the time the next reading would advance from.
func (c *testClock) peek() time.Time { return time.Unix(0, c.ns.Load()).UTC() }

// quietLogger discards logs: recovery warnings are expected in most tests.
func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// payload makes self-checking record data: an id, filler, and a crc of
// both, so any record recovered after a crash can be told apart from
// garbage even when the test never learned its seq.
func payload(rng *rand.Rand, id uint64, size int) []byte {
	size = max(size, 12)
	b := make([]byte, size)
	binary.LittleEndian.PutUint64(b, id)
	for i := 8; i < size-4; i += 8 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], rng.Uint64())
		copy(b[i:size-4], w[:])
	}
	binary.LittleEndian.PutUint32(b[size-4:], crc32.ChecksumIEEE(b[:size-4]))
	return b
}

// payloadOK checks data made by payload.
func payloadOK(b []byte) bool {
	return len(b) >= 12 && binary.LittleEndian.Uint32(b[len(b)-4:]) == crc32.ChecksumIEEE(b[:len(b)-4])
}

// readAll reads every record of l in batches, checking the batch contract
// on the way.
func readAll(t testing.TB, l *Log) []Record {
	t.Helper()
	var all []Record
	after := uint64(0)
	for {
		recs, err := l.Read(after, 97, 4096)
		if err != nil {
			t.Fatalf("Read(%d): %v", after, err)
		}
		if len(recs) == 0 {
			return all
		}
		all = append(all, recs...)
		after = recs[len(recs)-1].Seq
	}
}

// mustOpen opens a log or fails the test.
func mustOpen(t testing.TB, dir string, opts Options) *Log {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

// mustClose closes a log or fails the test.
func mustClose(t testing.TB, l *Log) {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// checkStats waits until the writer has finished everything queued (see
// quiesce), including the MaxBytes policy and preallocation it runs after
// answering callers, then checks ok(l.Stats()).
func checkStats(t *testing.T, l *Log, ok func(Stats) bool) {
	t.Helper()
	quiesce(t, l)
	if st := l.Stats(); !ok(st) {
		t.Fatalf("stats %+v not in the expected state", st)
	}
}

// quiesce waits until the writer has finished everything queued before,
// including what it does after answering callers (the MaxBytes policy,
// preallocation), so that a test can count or fail the operations that
// follow. A seal request that can never seal is the barrier.
func quiesce(t testing.TB, l *Log) {
	t.Helper()
	r := &request{seal: true, before: math.MinInt64, res: make(chan result, 1)}
	if err := l.send(context.Background(), r); err != nil {
		t.Fatalf("quiesce: %v", err)
	}
	if res := <-r.res; res.err != nil {
		t.Fatalf("quiesce: %v", res.err)
	}
}
