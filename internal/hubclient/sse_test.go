package hubclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/iothub"
)

// sseCases is the fixture table shared by TestReadSSE and FuzzReadSSE's seed corpus.
var sseCases = []struct {
	name  string
	input string
	want  []sseEvent
}{
	{"one event", "id: 1\nevent: message\ndata: {\"a\":1}\n\n", []sseEvent{{ID: "1", Type: "message", Data: []byte(`{"a":1}`)}}},
	{"default type, crlf", "id:2\r\ndata:x\r\n\r\n", []sseEvent{{ID: "2", Type: "message", Data: []byte("x")}}},
	{"lone cr", "data: a\rdata: b\r\r", []sseEvent{{Type: "message", Data: []byte("a\nb")}}},
	{"multi-line data", "data: a\ndata: b\n\n", []sseEvent{{Type: "message", Data: []byte("a\nb")}}},
	{"comments and keepalive", ": ping\n\n: ping\nid: 3\ndata: y\n\n", []sseEvent{{ID: "3", Type: "message", Data: []byte("y")}}},
	{"id persists", "id: 4\ndata: a\n\ndata: b\n\n", []sseEvent{{ID: "4", Type: "message", Data: []byte("a")}, {ID: "4", Type: "message", Data: []byte("b")}}},
	{"id only", "id: 5\nevent: x\n\n", []sseEvent{{ID: "5", IDOnly: true}}},
	{"no data no id no dispatch", "event: x\nretry: 5\n\n", nil},
	{"retry and unknown field", "retry: 1500\nfoo: bar\ndata: z\n\n", []sseEvent{{Type: "message", Data: []byte("z"), Retry: 1500}}},
	{"bom", "\xEF\xBB\xBFdata: q\n\n", []sseEvent{{Type: "message", Data: []byte("q")}}},
	{"unterminated tail dropped", "data: a\n\ndata: b\n", []sseEvent{{Type: "message", Data: []byte("a")}}},
	{"field without colon", "data\n\n", []sseEvent{{Type: "message", Data: []byte("")}}},
	{"custom event type", "event: heartbeat\ndata: {}\n\n", []sseEvent{{Type: "heartbeat", Data: []byte("{}")}}},
}

func TestReadSSE(t *testing.T) {
	for _, tc := range sseCases {
		t.Run(tc.name, func(t *testing.T) {
			var got []sseEvent
			err := readSSE(strings.NewReader(tc.input), func(e sseEvent) error {
				e.Data = append([]byte(nil), e.Data...)
				got = append(got, e)
				return nil
			})
			if !errors.Is(err, io.EOF) {
				t.Fatalf("err %v, want EOF", err)
			}
			if show(got) != show(tc.want) {
				t.Errorf("got  %s\nwant %s", show(got), show(tc.want))
			}
		})
	}
}

func TestReadSSE_LongLineRefused(t *testing.T) {
	input := "data: " + strings.Repeat("x", maxSSELine+1) + "\n\n"
	err := readSSE(strings.NewReader(input), func(sseEvent) error { return nil })
	if !errors.Is(err, errSSELine) {
		t.Fatalf("got %v", err)
	}
}

// FuzzReadSSE_E8 checks that the event-stream parser never panics and only returns EOF or a
// line-length error on in-memory input.
func FuzzReadSSE_E8(f *testing.F) {
	for _, tc := range sseCases {
		f.Add(tc.input)
	}
	f.Fuzz(func(t *testing.T, input string) {
		err := readSSE(strings.NewReader(input), func(e sseEvent) error {
			if (e.Type == "") != e.IDOnly || e.IDOnly && len(e.Data) != 0 {
				t.Fatalf("bad event %+v", e)
			}
			return nil
		})
		if !errors.Is(err, io.EOF) && !errors.Is(err, errSSELine) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}

// TestStreamEvents_B1_ReconnectResumes drops the stream after two events, then checks that the
// client reconnects with Last-Event-ID/from, skips a replayed event, and delivers in order.
func TestStreamEvents_B1_ReconnectResumes(t *testing.T) {
	var mu sync.Mutex
	var conns []seen
	hub := newFakeHub(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if r.URL.Path != "/events/stream" {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		n := len(conns)
		conns = append(conns, seen{Query: r.URL.RawQuery, Header: r.Header.Clone()})
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		switch n {
		case 0: // two events, then the connection drops
			fmt.Fprint(w, ": hello\n\n")
			writeSSE(w, 1, `{"sequenceNumber":1,"deviceId":"d1","body":{"t":1}}`)
			writeSSE(w, 2, `{"sequenceNumber":2,"deviceId":"d1","body":"two"}`)
		case 1: // the hub replays 2 (inclusive from) and continues
			writeSSE(w, 2, `{"sequenceNumber":2,"deviceId":"d1","body":"two"}`)
			fmt.Fprint(w, "event: message\ndata: not json\n\n")
			writeSSE(w, 3, `{"sequenceNumber":3,"deviceId":"d1","moduleId":"m","bodyBase64":"AAE="}`)
		default:
			w.WriteHeader(500)
		}
	})
	c := hub.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var got []int64
	done := errors.New("done")
	err := c.StreamEvents(ctx, EventFilter{DeviceID: "d1"}, FromStart, func(e iothub.Event) error {
		got = append(got, e.SequenceNumber)
		if len(got) == 3 {
			return done
		}
		return nil
	})
	if !errors.Is(err, done) {
		t.Fatalf("err %v", err)
	}
	if fmt.Sprint(got) != "[1 2 3]" {
		t.Fatalf("got %v", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(conns) != 2 {
		t.Fatalf("connections %d", len(conns))
	}
	if q := conns[0].Query; !strings.Contains(q, "from=0") || !strings.Contains(q, "deviceId=d1") {
		t.Errorf("first query %s", q)
	}
	if got := conns[0].Header.Get("Accept"); got != "text/event-stream" {
		t.Errorf("Accept %q, want text/event-stream", got)
	}
	if q, id := conns[1].Query, conns[1].Header.Get("Last-Event-ID"); !strings.Contains(q, "from=2") || id != "2" {
		t.Errorf("reconnect query %s Last-Event-ID %q", q, id)
	}
}

func TestStreamEvents_ClientErrorStops(t *testing.T) {
	hub := newFakeHub(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.WriteHeader(404)
		fmt.Fprint(w, `{"Message":"ErrorCode:DeviceNotFound;no such device"}`)
	})
	err := hub.client(t).StreamEvents(context.Background(), EventFilter{DeviceID: "x"}, FromEnd, func(iothub.Event) error { return nil })
	if !IsCode(err, "DeviceNotFound") {
		t.Fatalf("got %v", err)
	}
}

func TestStreamEvents_BadFrom(t *testing.T) {
	c, err := New(Config{ConnectionString: testCS})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.StreamEvents(context.Background(), EventFilter{}, "yesterday", nil); err == nil {
		t.Fatal("want error")
	}
}

func writeSSE(w http.ResponseWriter, id int, data string) {
	fmt.Fprintf(w, "id: %d\nevent: message\ndata: %s\n\n", id, data)
	w.(http.Flusher).Flush()
}

func show(evs []sseEvent) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "{id=%q type=%q data=%q retry=%d idonly=%v}", e.ID, e.Type, e.Data, e.Retry, e.IDOnly)
	}
	return b.String()
}

// TestStreamEvents_B1_ResumeFromAnnouncedPosition: a stream opened at "end" that announces its
// position with an id-only block and drops before any event resumes from that position.
func TestStreamEvents_B1_ResumeFromAnnouncedPosition(t *testing.T) {
	var mu sync.Mutex
	var queries []string
	hub := newFakeHub(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		mu.Lock()
		n := len(queries)
		queries = append(queries, r.URL.RawQuery+" last="+r.Header.Get("Last-Event-ID"))
		mu.Unlock()
		w.WriteHeader(200)
		if n == 0 {
			fmt.Fprint(w, "id: 10\n\n") // current position, then the connection drops
			return
		}
		writeSSE(w, 10, `{"sequenceNumber":10,"deviceId":"d"}`) // inclusive replay: skipped
		writeSSE(w, 11, `{"sequenceNumber":11,"deviceId":"d"}`)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stop := errors.New("stop")
	var got []int64
	err := hub.client(t).StreamEvents(ctx, EventFilter{}, FromEnd, func(e iothub.Event) error {
		got = append(got, e.SequenceNumber)
		return stop
	})
	if !errors.Is(err, stop) || fmt.Sprint(got) != "[11]" {
		t.Fatalf("err %v got %v", err, got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(queries) != 2 || !strings.Contains(queries[0], "from=end") || !strings.Contains(queries[1], "from=10") || !strings.HasSuffix(queries[1], "last=10") {
		t.Errorf("queries %q", queries)
	}
}

// TestStreamEvents_B2_IdleStreamReconnects: a stream that goes silent (half-open link, no
// keep-alives) is dropped after the idle timeout and reopened from the last event.
func TestStreamEvents_B2_IdleStreamReconnects(t *testing.T) {
	var mu sync.Mutex
	conns := 0
	hub := newFakeHub(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		mu.Lock()
		conns++
		n := conns
		mu.Unlock()
		w.WriteHeader(200)
		writeSSE(w, n, fmt.Sprintf(`{"sequenceNumber":%d,"deviceId":"d"}`, n))
		<-r.Context().Done() // then silence, as on a half-open link
	})
	c, err := New(Config{ConnectionString: testCS, CAFile: hub.CAFile, Endpoint: hub.URL, StreamIdleTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var got []int64
	stop := errors.New("stop")
	err = c.StreamEvents(ctx, EventFilter{}, FromStart, func(e iothub.Event) error {
		got = append(got, e.SequenceNumber)
		if len(got) == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || fmt.Sprint(got) != "[1 2]" {
		t.Fatalf("err %v got %v", err, got)
	}
}
