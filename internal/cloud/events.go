package cloud

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/outpost-iot/outpost/internal/cloud/store"
	"github.com/outpost-iot/outpost/internal/message"
)

// storedEvent is the persisted form of a D2C message.
type storedEvent struct {
	System     map[string]string `json:"system,omitempty"`
	Properties map[string]string `json:"properties,omitempty"`
	Body       []byte            `json:"body"`
}

// Event is the JSON served by the events API and the SSE stream.
type Event struct {
	SequenceNumber   int64             `json:"sequenceNumber"`
	EnqueuedTime     time.Time         `json:"enqueuedTime"`
	DeviceID         string            `json:"deviceId"`
	ModuleID         string            `json:"moduleId,omitempty"`
	SystemProperties map[string]string `json:"systemProperties"`
	Properties       map[string]string `json:"properties"`
	Body             json.RawMessage   `json:"body"`
	BodyBase64       string            `json:"bodyBase64,omitempty"`
}

// eventSystemNames maps message system property names to the names consumers of IoT Hub's
// built-in endpoint see (AMQP properties and iothub-* annotations).
var eventSystemNames = map[string]string{
	message.MessageID:          "message-id",
	message.CorrelationID:      "correlation-id",
	message.UserID:             "user-id",
	message.To:                 "to",
	message.ContentType:        "content-type",
	message.ContentEncoding:    "content-encoding",
	message.ExpiryTime:         "absolute-expiry-time",
	message.CreationTime:       "iothub-creation-time-utc",
	message.ConnectionDeviceID: "iothub-connection-device-id",
	message.ConnectionModuleID: "iothub-connection-module-id",
	message.InterfaceID:        "dt-dataschema",
	message.ComponentName:      "dt-subject",
}

func toEvent(e *store.Event) (*Event, error) {
	var se storedEvent
	if err := json.Unmarshal(e.Doc, &se); err != nil {
		return nil, fmt.Errorf("cloud: decode event %d: %w", e.Seq, err)
	}
	out := &Event{SequenceNumber: e.Seq, EnqueuedTime: e.Enqueued, DeviceID: e.DeviceID, ModuleID: e.ModuleID,
		SystemProperties: map[string]string{}, Properties: se.Properties}
	if out.Properties == nil {
		out.Properties = map[string]string{}
	}
	for k, v := range se.System {
		if n, ok := eventSystemNames[k]; ok {
			k = n
		}
		out.SystemProperties[k] = v
	}
	switch {
	case json.Valid(se.Body) && len(se.Body) > 0:
		out.Body = se.Body
	case utf8.Valid(se.Body):
		s, _ := json.Marshal(string(se.Body))
		out.Body = s
	default:
		out.Body = json.RawMessage("null")
		out.BodyBase64 = base64.StdEncoding.EncodeToString(se.Body)
	}
	return out, nil
}

// appendRequest is one message waiting for the group commit; done is called once with the
// commit's result, from the writer goroutine.
type appendRequest struct {
	ev   *store.Event
	done func(error)
}

// eventLog is the durable D2C event store: appends are group-committed by one writer goroutine
// (one fsync for every batch), readers are woken when new events land.
type eventLog struct {
	st   *store.Store
	reqs chan appendRequest

	mu      sync.Mutex // guards the following
	changed chan struct{}
	last    int64
}

func newEventLog(ctx context.Context, st *store.Store) (*eventLog, error) {
	last, err := st.LastEventSeq(ctx)
	if err != nil {
		return nil, err
	}
	return &eventLog{st: st, reqs: make(chan appendRequest, 1024), changed: make(chan struct{}), last: last}, nil
}

// run owns the writer loop until ctx is done.
func (l *eventLog) run(ctx context.Context) {
	const maxBatch = 512
	batch := make([]appendRequest, 0, maxBatch)
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-l.reqs:
			batch = append(batch[:0], r)
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-l.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		l.commit(ctx, batch)
	}
}

func (l *eventLog) commit(ctx context.Context, batch []appendRequest) {
	evs := make([]*store.Event, len(batch))
	for i, r := range batch {
		evs[i] = r.ev
	}
	err := l.st.AppendEvents(ctx, evs)
	for _, r := range batch {
		r.done(err)
	}
	if err != nil {
		return
	}
	l.mu.Lock()
	l.last = evs[len(evs)-1].Seq
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

// Append stores a message durably and returns once it is committed.
func (l *eventLog) Append(ctx context.Context, deviceID, moduleID string, m *message.Message, now time.Time) (int64, error) {
	result := make(chan error, 1)
	ev, err := l.AppendAsync(ctx, deviceID, moduleID, m, now, func(err error) { result <- err })
	if err != nil {
		return 0, err
	}
	select {
	case err := <-result:
		return ev.Seq, err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// AppendAsync queues a message for the next group commit and calls done with its result.
// Messages queued by one caller are committed in the order they were queued.
func (l *eventLog) AppendAsync(ctx context.Context, deviceID, moduleID string, m *message.Message, now time.Time, done func(error)) (*store.Event, error) {
	doc, err := json.Marshal(storedEvent{System: m.System, Properties: m.Properties, Body: m.Body})
	if err != nil {
		return nil, err
	}
	r := appendRequest{ev: &store.Event{Enqueued: now.UTC(), DeviceID: deviceID, ModuleID: moduleID, Doc: doc}, done: done}
	select {
	case l.reqs <- r:
		return r.ev, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// watch returns the last committed sequence number and a channel closed at the next commit.
func (l *eventLog) watch() (int64, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last, l.changed
}

// Read returns events after seq matching f.
func (l *eventLog) Read(ctx context.Context, after int64, f store.EventFilter, limit int) ([]*Event, error) {
	evs, err := l.st.ReadEvents(ctx, after, f, limit)
	if err != nil {
		return nil, err
	}
	out := make([]*Event, 0, len(evs))
	for _, e := range evs {
		ev, err := toEvent(e)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, nil
}

// Follow calls fn for every event after seq matching f, as they are committed, until ctx ends or fn fails.
func (l *eventLog) Follow(ctx context.Context, after int64, f store.EventFilter, fn func(*Event) error) error {
	for {
		last, changed := l.watch()
		for after < last {
			evs, err := l.st.ReadEvents(ctx, after, f, 256)
			if err != nil {
				return err
			}
			if len(evs) == 0 {
				after = last // nothing of ours in the range
				break
			}
			for _, e := range evs {
				ev, err := toEvent(e)
				if err != nil {
					return err
				}
				if err := fn(ev); err != nil {
					return err
				}
				after = e.Seq
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.Canceled) {
				return nil
			}
			return ctx.Err()
		case <-changed:
		}
	}
}
