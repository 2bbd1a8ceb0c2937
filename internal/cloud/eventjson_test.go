package cloud

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// eventJSONCases are stored events whose documents must be what json.Marshal writes.
var eventJSONCases = []eventRecord{
	{},
	{Enqueued: time.Date(2026, 12, 4, 21, 0, 0, 0, time.UTC), storedEvent: storedEvent{Body: []byte{}}},
	{Enqueued: time.Date(2026, 12, 4, 21, 0, 0, 123456789, time.UTC), storedEvent: storedEvent{
		System:     map[string]string{"iothub-connection-device-id": "d1", "iothub-enqueuedtime": "2026-12-04T21:00:00.123456789Z", "$.on": "out1"},
		Properties: map[string]string{"temp": "21.5", "b": "", "a": "x"},
		Body:       []byte(`{"temperature":21.5}`)}},
	{Enqueued: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), storedEvent: storedEvent{
		System:     map[string]string{},
		Properties: map[string]string{"q\"uote\\": "<tag>&amp;", "ctl": "\x00\x01\b\f\n\r\t\x1f\x7f", "uni": "é模块\u2028\u2029😀"},
		Body:       []byte{0xff, 0xfe, 0}}},
	{Enqueued: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), storedEvent: storedEvent{
		Properties: map[string]string{"bad\xffutf8": "\xc3\x28 \xe2\x82 \xed\xa0\x80", strings.Repeat("k", 300): strings.Repeat("v", 1000)}}},
}

func TestAppendEventJSON_MatchesMarshal(t *testing.T) {
	for i, r := range eventJSONCases {
		want, err := json.Marshal(&r)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendEventJSON(nil, &r); !bytes.Equal(got, want) {
			t.Errorf("case %d:\n got %s\nwant %s", i, got, want)
		}
	}
	// Many keys (more than the sort's stack array holds).
	m := map[string]string{}
	for i := range 40 {
		m[strings.Repeat("k", 40-i)] = strings.Repeat("v", i)
	}
	r := eventRecord{storedEvent: storedEvent{System: m, Properties: m}}
	want, _ := json.Marshal(&r)
	if got := appendEventJSON(nil, &r); !bytes.Equal(got, want) {
		t.Errorf("40 keys:\n got %s\nwant %s", got, want)
	}
}

// TestEncodeEvent_RefusesTimeOutsideRFC3339: json.Marshal refuses such a time; so does the
// hand-written encoder, instead of writing a document that does not decode.
func TestEncodeEvent_RefusesTimeOutsideRFC3339(t *testing.T) {
	if _, err := encodeEvent(&eventRecord{Enqueued: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}); err == nil {
		t.Fatal("year 10000 accepted")
	}
}

// FuzzAppendEventJSON: for any keys, values, body and time, the document is json.Marshal's.
func FuzzAppendEventJSON(f *testing.F) {
	for _, r := range eventJSONCases {
		for k, v := range r.Properties {
			f.Add(r.Enqueued.UnixNano(), k, v, string(r.Body), true)
		}
	}
	f.Add(int64(0), "", "", "", false)
	f.Fuzz(func(t *testing.T, nanos int64, k, v, body string, withBody bool) {
		r := eventRecord{Enqueued: time.Unix(0, nanos).UTC(), storedEvent: storedEvent{
			System: map[string]string{k: v, v: k}, Properties: map[string]string{k + v: body}}}
		if withBody {
			r.Body = []byte(body)
		}
		want, err := json.Marshal(&r)
		if err != nil {
			t.Skip("json.Marshal refuses it too")
		}
		if got := appendEventJSON(nil, &r); !bytes.Equal(got, want) {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
	})
}

// BenchmarkEncodeEvent: a typical stamped telemetry message (7 system properties, 2
// application properties, 128-byte body), hand-written encoder against json.Marshal.
func BenchmarkEncodeEvent(b *testing.B) {
	r := eventRecord{Enqueued: time.Now().UTC(), DeviceID: "bench-3", storedEvent: storedEvent{
		System: map[string]string{"iothub-connection-device-id": "bench-3", "iothub-connection-auth-method": `{"scope":"device","type":"sas","issuer":"iothub"}`,
			"iothub-connection-auth-generation-id": "639012345678901234", "iothub-message-source": "Telemetry",
			"iothub-enqueuedtime": "2026-12-04T21:00:00.123456789Z", "message-id": "m-1", "content-type": "application/json"},
		Properties: map[string]string{"temperatureAlert": "false", "seq": "12345"},
		Body:       bytes.Repeat([]byte("x"), 128)}}
	b.Run("append", func(b *testing.B) {
		for b.Loop() {
			if _, err := encodeEvent(&r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(&r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
