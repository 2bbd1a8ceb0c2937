package cloud_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/hubclient"
	"github.com/outpost-iot/outpost/internal/iothub"
	"github.com/outpost-iot/outpost/internal/testutil"
)

func TestEventStreamFollowsLiveAndHistory(t *testing.T) {
	tc := startCloud(t)
	key := tc.createDevice("s")
	other := tc.createDevice("o")
	c := tc.mustConnect("s", "", key, clientOpts{})
	o := tc.mustConnect("o", "", other, clientOpts{})
	wait(t, c.Publish("devices/s/messages/events/", 1, false, "before"))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := make(chan string, 10)
	done := make(chan error, 1)
	go func() {
		done <- tc.svc.StreamEvents(ctx, hubclient.EventFilter{DeviceID: "s"}, "start", func(ev iothub.Event) error {
			got <- string(ev.Body)
			return nil
		})
	}()
	for i := 0; i < 3; i++ {
		wait(t, o.Publish("devices/o/messages/events/", 1, false, "noise"))
		wait(t, c.Publish("devices/s/messages/events/", 1, false, fmt.Sprintf(`{"n":%d}`, i)))
	}
	want := []string{`"before"`, `{"n":0}`, `{"n":1}`, `{"n":2}`}
	for _, w := range want {
		select {
		case b := <-got:
			if b != w {
				t.Fatalf("got %s, want %s", b, w)
			}
		case <-ctx.Done():
			t.Fatalf("stream stalled waiting for %s", w)
		}
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("stream: %v", err)
	}
}

func TestEventRetention(t *testing.T) {
	clock := newFakeClock()
	tc := startCloud(t, func(c *cloudConfig) {
		c.Now, c.EventRetention, c.HousekeepingEvery = clock.Now, time.Hour, 20*time.Millisecond
	})
	key := tc.createDevice("r")
	c := tc.mustConnect("r", "", key, clientOpts{})
	wait(t, c.Publish("devices/r/messages/events/", 1, false, "old"))
	clock.Advance(2 * time.Hour)
	wait(t, c.Publish("devices/r/messages/events/", 1, false, "new"))
	testutil.Eventually(t, 10*time.Second, func() bool {
		evs, err := tc.svc.Events(tc.ctx(), hubclient.EventFilter{DeviceID: "r"}, 0, 10)
		return err == nil && len(evs) == 1 && string(evs[0].Body) == `"new"`
	}, "event past retention not trimmed")
}
