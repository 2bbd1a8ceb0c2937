package cloud

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/outpost-iot/outpost/internal/iothub"
	"github.com/outpost-iot/outpost/internal/message"
	seglog "github.com/outpost-iot/outpost/internal/store"
)

// storedEvent is the persisted form of a D2C message.
type storedEvent struct {
	System     map[string]string `json:"system,omitempty"`
	Properties map[string]string `json:"properties,omitempty"`
	Body       []byte            `json:"body"`
}

func toEvent(seq int64, se *eventRecord) *iothub.Event {
	out := &iothub.Event{SequenceNumber: seq, EnqueuedTime: se.Enqueued, DeviceID: se.DeviceID, ModuleID: se.ModuleID,
		SystemProperties: map[string]string{}, Properties: se.Properties}
	if out.Properties == nil {
		out.Properties = map[string]string{}
	}
	for k, v := range se.System {
		out.SystemProperties[iothub.EventPropertyName(k)] = v
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
	return out
}

// EventFilter selects events; empty fields match everything.
type EventFilter struct {
	DeviceID string
	ModuleID string
}

func (f EventFilter) match(deviceID, moduleID string) bool {
	return (f.DeviceID == "" || f.DeviceID == deviceID) && (f.ModuleID == "" || f.ModuleID == moduleID)
}

// eventRecord is one D2C message as stored in the event log: the ids in a small binary prefix
// (see encodeEvent), so that a filtered scan skips other devices' events without decoding
// JSON, then the rest as JSON.
type eventRecord struct {
	Enqueued time.Time `json:"t"`
	DeviceID string    `json:"-"`
	ModuleID string    `json:"-"`
	storedEvent
}

// encodeEvent lays a record out as uvarint(len(device)) device uvarint(len(module)) module JSON.
func encodeEvent(r *eventRecord) ([]byte, error) {
	if y := r.Enqueued.Year(); y < 0 || y > 9999 {
		return nil, fmt.Errorf("cloud: encode event: enqueued time %v is outside RFC 3339", r.Enqueued)
	}
	// A guess at the size, not a pass over the maps: append grows b if the properties are long.
	size := 2*binary.MaxVarintLen16 + len(r.DeviceID) + len(r.ModuleID) + 64 + 4*len(r.Body)/3 +
		64*(len(r.System)+len(r.Properties))
	b := make([]byte, 0, size)
	b = binary.AppendUvarint(b, uint64(len(r.DeviceID)))
	b = append(b, r.DeviceID...)
	b = binary.AppendUvarint(b, uint64(len(r.ModuleID)))
	b = append(b, r.ModuleID...)
	return appendEventJSON(b, r), nil
}

// eventIDs splits a stored record into its ids and its JSON document.
func eventIDs(b []byte) (deviceID, moduleID string, doc []byte, err error) {
	var ids [2]string
	for i := range ids {
		n, w := binary.Uvarint(b)
		if w <= 0 || n > uint64(len(b)-w) {
			return "", "", nil, errors.New("bad id prefix")
		}
		ids[i] = string(b[w : w+int(n)])
		b = b[w+int(n):]
	}
	return ids[0], ids[1], b, nil
}

// eventLog is the durable D2C event store: a segment log (internal/store) that group-commits
// concurrent appends (one write and one fdatasync per group). Retention is applied to readers
// exactly (events older than it are never served) and to disk by whole segments.
type eventLog struct {
	log       *seglog.Log
	retention time.Duration
	now       func() time.Time
}

// maxEventRecord bounds one stored event: the largest message plus its JSON envelope, with the
// body base64-encoded.
const maxEventRecord = 4 * message.MaxSize

// openEventLog opens the event log in dir; onCommit, if set, sees every group commit (metrics).
func openEventLog(dir string, retention time.Duration, now func() time.Time, logger *slog.Logger, onCommit func(seglog.Commit)) (*eventLog, error) {
	l, err := seglog.Open(dir, seglog.Options{Now: now, Logger: logger, MaxRecord: maxEventRecord, OnCommit: onCommit})
	if err != nil {
		return nil, fmt.Errorf("cloud: open event log: %w", err)
	}
	return &eventLog{log: l, retention: retention, now: now}, nil
}

func (l *eventLog) Close() error { return l.log.Close() }

// Append stores a message durably and returns its sequence number once it is committed. If
// ctx ends while the message is still queued, it is not written.
func (l *eventLog) Append(ctx context.Context, deviceID, moduleID string, m *message.Message, now time.Time) (int64, error) {
	data, err := encodeMessage(deviceID, moduleID, m, now)
	if err != nil {
		return 0, err
	}
	seq, err := l.log.Append(ctx, data)
	if err != nil {
		return 0, fmt.Errorf("cloud: append event: %w", err)
	}
	return int64(seq), nil
}

// newAppender returns a source of appends for one connection (see seglog.Appender).
func (l *eventLog) newAppender() *seglog.Appender { return l.log.NewAppender() }

// AppendAsync queues a message for the next group commit and calls done with its result.
// Messages queued by one caller are committed in the order they were queued. src is the
// caller's appender, or nil.
func (l *eventLog) AppendAsync(src *seglog.Appender, deviceID, moduleID string, m *message.Message, now time.Time, done func(error)) error {
	data, err := encodeMessage(deviceID, moduleID, m, now)
	if err != nil {
		return err
	}
	cb := func(_ uint64, err error) { done(err) }
	if src != nil {
		err = src.AppendAsync(data, cb)
	} else {
		err = l.log.AppendAsync(data, cb)
	}
	if err != nil {
		return fmt.Errorf("cloud: append event: %w", err)
	}
	return nil
}

func encodeMessage(deviceID, moduleID string, m *message.Message, now time.Time) ([]byte, error) {
	return encodeEvent(&eventRecord{Enqueued: now.UTC(), DeviceID: deviceID, ModuleID: moduleID,
		storedEvent: storedEvent{System: m.System, Properties: m.Properties, Body: m.Body}})
}

// watch returns the last committed sequence number and a channel closed at the next commit.
func (l *eventLog) watch() (int64, <-chan struct{}) {
	last, ch := l.log.Wait()
	return int64(last), ch
}

// readBatch is how many stored records one scan step reads.
const readBatch = 256

// scan calls fn for the events after seq matching f, in order, up to the last one committed
// when it started, until fn returns false or fails. Events past retention are skipped.
func (l *eventLog) scan(after int64, f EventFilter, fn func(*iothub.Event) (bool, error)) (int64, error) {
	last := int64(l.log.Last())
	for after < last {
		recs, err := l.log.Read(uint64(after), readBatch, 1<<20)
		if err != nil {
			return after, fmt.Errorf("cloud: read events: %w", err)
		}
		if len(recs) == 0 {
			return last, nil
		}
		cutoff := l.now().Add(-l.retention)
		for _, rec := range recs {
			after = int64(rec.Seq)
			deviceID, moduleID, doc, err := eventIDs(rec.Data)
			if err != nil {
				return after, fmt.Errorf("cloud: decode event %d: %w", rec.Seq, err)
			}
			if !f.match(deviceID, moduleID) {
				continue
			}
			er := eventRecord{DeviceID: deviceID, ModuleID: moduleID}
			if err := json.Unmarshal(doc, &er); err != nil {
				return after, fmt.Errorf("cloud: decode event %d: %w", rec.Seq, err)
			}
			if er.Enqueued.Before(cutoff) {
				continue
			}
			more, err := fn(toEvent(int64(rec.Seq), &er))
			if err != nil || !more {
				return after, err
			}
		}
	}
	return after, nil
}

// Read returns up to limit events after seq matching f; none is an empty slice, not nil, so
// that GET /events answers [] rather than null.
func (l *eventLog) Read(ctx context.Context, after int64, f EventFilter, limit int) ([]*iothub.Event, error) {
	out := []*iothub.Event{}
	_, err := l.scan(after, f, func(ev *iothub.Event) (bool, error) {
		out = append(out, ev)
		return len(out) < limit && ctx.Err() == nil, nil
	})
	if err == nil {
		err = ctx.Err()
	}
	return out, err
}

// Follow calls fn for every event after seq matching f, as they are committed, until ctx ends or fn fails.
func (l *eventLog) Follow(ctx context.Context, after int64, f EventFilter, fn func(*iothub.Event) error) error {
	for {
		_, changed := l.watch()
		var err error
		after, err = l.scan(after, f, func(ev *iothub.Event) (bool, error) {
			return ctx.Err() == nil, fn(ev)
		})
		if err != nil {
			return err
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

// trim deletes the segments that hold only events past retention.
func (l *eventLog) trim() (int64, error) {
	return l.log.TrimBefore(l.now().Add(-l.retention))
}
