package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// BenchmarkAppend measures the commit path on the OS file system (t.TempDir,
// so the machine's real disk and fdatasync): 128-byte records, appended by 1
// and by 16 concurrent callers. ns/op is per record; syncs/op shows how many
// records share one group (one write + one fdatasync).
func BenchmarkAppend(b *testing.B) {
	for _, appenders := range []int{1, 16} {
		b.Run(fmt.Sprintf("appenders=%d", appenders), func(b *testing.B) {
			l := mustOpen(b, b.TempDir(), Options{})
			defer mustClose(b, l)
			rec := make([]byte, 128)
			b.SetBytes(int64(len(rec)))
			b.ResetTimer()
			var wg sync.WaitGroup
			per := b.N / appenders
			for g := range appenders {
				n := per
				if g == 0 {
					n += b.N % appenders
				}
				wg.Go(func() {
					for range n {
						if _, err := l.Append(context.Background(), rec); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			reportSyncs(b, l)
		})
	}
}

// BenchmarkAppendAsync: one producer queueing without waiting, the edge
// hub's pattern; groups grow to whatever arrived during the last fdatasync.
func BenchmarkAppendAsync(b *testing.B) {
	l := mustOpen(b, b.TempDir(), Options{})
	defer mustClose(b, l)
	rec := make([]byte, 128)
	b.SetBytes(int64(len(rec)))
	var wg sync.WaitGroup
	wg.Add(b.N)
	done := func(_ uint64, err error) {
		if err != nil {
			b.Error(err)
		}
		wg.Done()
	}
	b.ResetTimer()
	for range b.N {
		if err := l.AppendAsync(rec, done); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
	b.StopTimer()
	reportSyncs(b, l)
}

// reportSyncs reports the groups committed (one write and one fdatasync
// each) per record appended.
func reportSyncs(b *testing.B, l *Log) {
	l.mu.Lock()
	groups := l.groups
	l.mu.Unlock()
	b.ReportMetric(float64(groups)/float64(b.N), "syncs/op")
}

// BenchmarkOpen measures Open of a 200 MB log (64 MiB segments: three
// sealed and an active one of 8 MiB; 256-byte records, about 750,000)
// with the sealed segments' index files and without them (every segment
// scanned, as before index files existed; that Open also writes the three
// indexes). "cold" evicts the log's files from the page cache first
// (Linux). Open always scans the active segment, so that part remains.
func BenchmarkOpen(b *testing.B) {
	dir := b.TempDir()
	writeBenchLog(b, dir, 200<<20, 64<<20)
	l := mustOpen(b, dir, Options{}) // writes the indexes
	mustClose(b, l)
	names, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	for _, indexes := range []bool{true, false} {
		for _, cold := range []bool{false, true} {
			b.Run(fmt.Sprintf("indexes=%v/cold=%v", indexes, cold), func(b *testing.B) {
				for range b.N {
					b.StopTimer()
					if !indexes {
						removeIndexFiles(b, dir)
					}
					if cold {
						for _, n := range names {
							if ok, err := dropCache(filepath.Join(dir, n.Name())); !ok {
								b.Skip("cannot evict files from the page cache here")
							} else if err != nil && !errors.Is(err, os.ErrNotExist) {
								b.Fatal(err)
							}
						}
					}
					b.StartTimer()
					l := mustOpen(b, dir, Options{})
					b.StopTimer()
					if st := l.Stats(); st.Bytes < 200<<20 || st.Corrupt != 0 || st.Truncated != 0 || (l.trusted == 3) != indexes {
						b.Fatalf("stats %+v, %d segments from their index", st, l.trusted)
					}
					mustClose(b, l)
					b.StartTimer()
				}
			})
		}
	}
}

// writeBenchLog writes segment files of 256-byte records directly (the
// format, without a commit per record) until total bytes, rolling at
// segBytes, and syncs them.
func writeBenchLog(b *testing.B, dir string, total, segBytes int64) {
	b.Helper()
	data := bytes.Repeat([]byte("x"), 256)
	nanos := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	seq := uint64(1)
	var buf []byte
	for written := int64(0); written < total; {
		base := seq
		buf = buf[:0]
		for int64(len(buf)) < segBytes && written+int64(len(buf)) < total {
			buf = appendRecord(buf, seq, nanos+int64(seq)*1000, data)
			seq++
		}
		f, err := os.Create(segmentPath(dir, base))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
		written += int64(len(buf))
	}
}

// removeIndexFiles deletes the index files of an OS directory.
func removeIndexFiles(b *testing.B, dir string) {
	b.Helper()
	names, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range names {
		if _, ok := parseIndexName(n.Name()); ok {
			if err := os.Remove(filepath.Join(dir, n.Name())); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkAppendOneInFlight: 10 appenders that each wait for their record
// to be durable before appending the next (devices with one QoS 1 message
// in flight), on the real disk; with Appenders the writer holds each group
// open for the cohort (syncs/op near 1/10), without them it does not.
func BenchmarkAppendOneInFlight(b *testing.B) {
	for _, via := range []bool{false, true} {
		b.Run(fmt.Sprintf("appender=%v", via), func(b *testing.B) {
			l := mustOpen(b, b.TempDir(), Options{})
			defer mustClose(b, l)
			const appenders = 10
			b.ResetTimer()
			oneInFlight(b, l, appenders, max(1, b.N/appenders), via)
			b.StopTimer()
			reportSyncs(b, l)
		})
	}
}
