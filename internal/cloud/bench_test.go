package cloud

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/message"
)

// BenchmarkEventLogAppend measures durable appends through the group commit with 10 concurrent
// appenders (as from 10 connections with one message in flight each):
// `go test -run '^$' -bench EventLog ./internal/cloud/`.
func BenchmarkEventLogAppend(b *testing.B) {
	l, err := openEventLog(b.TempDir(), time.Hour, time.Now, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	m := &message.Message{Body: []byte(`{"deviceId":"bench","temperature":21.5,"humidity":40}`),
		System:     map[string]string{message.ConnectionDeviceID: "bench", message.MessageID: "m-1", "iothub-enqueuedtime": time.Now().Format(time.RFC3339Nano)},
		Properties: map[string]string{"unit": "C"}}
	b.SetParallelism(5) // x GOMAXPROCS 2 on the development machine
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
