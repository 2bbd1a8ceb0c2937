package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// BenchmarkAppend measures the commit path on the OS file system (t.TempDir,
// so the machine's real disk and fdatasync): 128-byte records, appended by 1
// and by 16 concurrent callers. ns/op is per record; syncs/op shows how many
// records share one group (one write + one fdatasync).
func BenchmarkAppend(b *testing.B) {
	for _, appenders := range []int{1, 16} {
		b.Run(fmt.Sprintf("appenders=%d", appenders), func(b *testing.B) {
			l := mustOpen(b, b.TempDir(), Options{Logger: quietLogger()})
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
			l.mu.Lock()
			groups := l.groups
			l.mu.Unlock()
			b.ReportMetric(float64(groups)/float64(b.N), "syncs/op")
		})
	}
}

// BenchmarkAppendAsync: one producer queueing without waiting, the edge
// hub's pattern; groups grow to whatever arrived during the last fdatasync.
func BenchmarkAppendAsync(b *testing.B) {
	l := mustOpen(b, b.TempDir(), Options{Logger: quietLogger()})
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
	l.mu.Lock()
	groups := l.groups
	l.mu.Unlock()
	b.ReportMetric(float64(groups)/float64(b.N), "syncs/op")
}
