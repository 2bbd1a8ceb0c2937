package cloud

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/cloud/store"
	"github.com/outpost-iot/outpost/internal/message"
)

// BenchmarkEventLogAppend measures durable appends through the group commit with 16 concurrent
// appenders (as from 16 connections): `go test -run '^$' -bench EventLog ./internal/cloud/`.
func BenchmarkEventLogAppend(b *testing.B) {
	st, err := store.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, err := newEventLog(ctx, st)
	if err != nil {
		b.Fatal(err)
	}
	go l.run(ctx)
	m := &message.Message{Body: []byte(`{"deviceId":"bench","temperature":21.5,"humidity":40}`),
		System:     map[string]string{message.ConnectionDeviceID: "bench", message.MessageID: "m-1", "iothub-enqueuedtime": time.Now().Format(time.RFC3339Nano)},
		Properties: map[string]string{"unit": "C"}}
	b.SetParallelism(8)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := l.Append(ctx, "bench", "", m, time.Now()); err != nil {
				panic(fmt.Sprint(err)) // b.Fatal is not allowed off the benchmark goroutine
			}
		}
	})
}
