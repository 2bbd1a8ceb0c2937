package hubclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/outpost-iot/outpost/internal/iothub"
)

// EventFilter selects the events of one device (and optionally one of its modules); the zero
// value selects every event.
type EventFilter struct {
	DeviceID string
	ModuleID string
}

func (f EventFilter) query() url.Values {
	q := url.Values{}
	if f.DeviceID != "" {
		q.Set("deviceId", f.DeviceID)
	}
	if f.ModuleID != "" {
		q.Set("moduleId", f.ModuleID)
	}
	return q
}

// Events reads stored events from sequence number from (inclusive),
// at most limit of them (0: the hub's default).
func (c *Client) Events(ctx context.Context, f EventFilter, from int64, limit int) ([]iothub.Event, error) {
	q := f.query()
	q.Set("from", strconv.FormatInt(from, 10))
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out []iothub.Event
	err := c.do(ctx, &request{method: http.MethodGet, segs: []string{"events"}, query: q}, &out)
	return wrap(out, err, "events")
}

// Positions accepted by StreamEvents besides a decimal sequence number.
const (
	FromEnd   = "end"   // only events enqueued after the stream opened
	FromStart = "start" // every retained event (sent to the hub as from=0)
)

// Stream back-off between reconnects.
const (
	streamMinBackoff = 500 * time.Millisecond
	streamMaxBackoff = 30 * time.Second
)

// StreamEvents tails the event stream (GET /events/stream) from position from ("end", "start" or
// a sequence number) and calls fn for each event, in order, until ctx is done (then it returns
// ctx.Err()), fn returns an error (returned as is), or the hub refuses the request with a 4xx
// status (an *Error). When the connection drops or the hub answers 5xx, it reconnects with
// capped exponential back-off and jitter, resuming after the last delivered event
// (Last-Event-ID header and from={last}); events at or below the last delivered sequence number
// are skipped, so fn sees each sequence number at most once per call. A block that only sets an
// id ("id: N" and a blank line) before the first event is taken as the stream's current position:
// a later reconnect resumes after N rather than at the then-current end.
func (c *Client) StreamEvents(ctx context.Context, f EventFilter, from string, fn func(iothub.Event) error) error {
	pos, err := streamStart(from)
	if err != nil {
		return err
	}
	s := &stream{c: c, filter: f, from: pos, last: -1, fn: fn}
	return s.run(ctx)
}

func streamStart(from string) (string, error) {
	switch from {
	case "", FromEnd:
		return FromEnd, nil
	case FromStart:
		return "0", nil
	}
	if n, err := strconv.ParseInt(from, 10, 64); err != nil || n < 0 {
		return "", fmt.Errorf("hubclient: stream events: from %q: want end, start or a sequence number", from)
	}
	return from, nil
}

// stream is one StreamEvents call's state; it is used by one goroutine.
type stream struct {
	c      *Client
	filter EventFilter
	from   string // position for the next connect
	last   int64  // last delivered sequence number, -1 before the first
	fn     func(iothub.Event) error
}

// errDelivered wraps fn's error so that run can tell it from stream errors.
type errDelivered struct{ err error }

func (e errDelivered) Error() string { return e.err.Error() }

func (s *stream) run(ctx context.Context) error {
	backoff := streamMinBackoff
	for {
		progressed, err := s.once(ctx)
		if d, ok := errors.AsType[errDelivered](err); ok {
			return d.err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if he, ok := errors.AsType[*Error](err); ok && he.Status < 500 && he.Status != http.StatusTooManyRequests {
			return fmt.Errorf("hubclient: stream events: %w", err)
		}
		if progressed {
			backoff = streamMinBackoff
		}
		delay := jitter(backoff)
		s.c.log.Warn("event stream interrupted, reconnecting", "err", err, "delay", delay, "lastSequence", s.last)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		backoff = min(backoff*2, streamMaxBackoff)
	}
}

// jitter returns d randomised to [d/2, d).
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

// once opens the stream and reads it until it ends. progressed reports whether the connection
// was accepted (so back-off resets).
func (s *stream) once(ctx context.Context) (progressed bool, err error) {
	q := s.filter.query()
	q.Set("from", s.from)
	h := http.Header{"Accept": {"text/event-stream"}, "Cache-Control": {"no-cache"}}
	if s.last >= 0 {
		h.Set("Last-Event-ID", strconv.FormatInt(s.last, 10))
	}
	// The connection is dropped when no byte arrives for the idle timeout (half-open link, B2).
	connCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	idle := time.AfterFunc(s.c.idle, cancel)
	defer idle.Stop()
	req, err := s.c.newRequest(connCtx, &request{method: http.MethodGet, segs: []string{"events", "stream"}, query: q, header: h})
	if err != nil {
		return false, err
	}
	resp, err := s.c.http.Do(req)
	if err != nil {
		return false, s.idleErr(ctx, connCtx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return false, decodeError(resp.StatusCode, resp.Header, data)
	}
	err = readSSE(&idleReader{r: resp.Body, timer: idle, d: s.c.idle}, s.deliver)
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF // the hub never ends a stream on its own
	}
	return true, s.idleErr(ctx, connCtx, err)
}

// errStreamIdle reports a stream dropped by the idle timeout.
var errStreamIdle = errors.New("event stream idle, reconnecting")

// idleErr replaces the error of a connection cancelled by the idle timer.
func (s *stream) idleErr(ctx, connCtx context.Context, err error) error {
	if err != nil && ctx.Err() == nil && connCtx.Err() != nil {
		return fmt.Errorf("%w (no data for %s)", errStreamIdle, s.c.idle)
	}
	return err
}

// idleReader re-arms timer for d after every read that returned data.
type idleReader struct {
	r     io.Reader
	timer *time.Timer
	d     time.Duration
}

func (ir *idleReader) Read(p []byte) (int, error) {
	n, err := ir.r.Read(p)
	if n > 0 {
		ir.timer.Reset(ir.d)
	}
	return n, err
}

// deliver decodes one SSE event and hands it to fn, skipping replays.
func (s *stream) deliver(ev sseEvent) error {
	if ev.IDOnly {
		s.position(ev.ID)
		return nil
	}
	if ev.Type != "message" {
		return nil
	}
	var e iothub.Event
	if err := json.Unmarshal(ev.Data, &e); err != nil {
		s.c.log.Warn("skipping undecodable event", "id", ev.ID, "err", err)
		return nil
	}
	if e.SequenceNumber <= s.last {
		return nil
	}
	if err := s.fn(e); err != nil {
		return errDelivered{err}
	}
	s.last = e.SequenceNumber
	s.from = strconv.FormatInt(e.SequenceNumber, 10)
	return nil
}

// position handles an id-only block: before the first event it pins the resume point, so that a
// stream opened at "end" that drops before any event resumes there instead of at the new end.
func (s *stream) position(id string) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n < 0 || s.last >= 0 {
		return
	}
	s.last, s.from = n, id
}
