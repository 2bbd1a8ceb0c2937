package hubclient

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// maxSSELine caps one line of the event stream (an event's JSON, a 256 KiB message body
// base64-encoded, fits well below it).
const maxSSELine = 4 << 20

// sseEvent is one dispatched server-sent event (WHATWG HTML "Server-sent events", §9.2.6).
type sseEvent struct {
	ID    string // last event id ("" when the stream never set one)
	Type  string // "message" when no event field was given
	Data  []byte // data lines joined with "\n"
	Retry int    // retry field in milliseconds, 0 when absent
	// IDOnly marks a block that set the event id without data: not an event, but it moves the
	// resume position (a server may announce its current position this way).
	IDOnly bool
}

// errSSELine reports a line longer than maxSSELine.
var errSSELine = errors.New("event stream line too long")

// readSSE parses an event stream and calls fn for every dispatched event. It returns io.EOF at
// the end of the stream (a trailing event without its blank line is discarded, as the spec says),
// fn's error, or a read error. It is a line-oriented state machine, kept in one function.
func readSSE(r io.Reader, fn func(sseEvent) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		lastID    string
		evType    string
		data      bytes.Buffer
		hasData   bool
		idSet     bool
		retry     int
		firstLine = true
	)
	for {
		line, err := readLine(br)
		if err != nil {
			return err
		}
		if firstLine {
			line = bytes.TrimPrefix(line, []byte("\xEF\xBB\xBF"))
			firstLine = false
		}
		if len(line) == 0 { // dispatch
			if hasData {
				ev := sseEvent{ID: lastID, Type: evType, Data: bytes.TrimSuffix(data.Bytes(), []byte("\n")), Retry: retry}
				if ev.Type == "" {
					ev.Type = "message"
				}
				if err := fn(ev); err != nil {
					return err
				}
			} else if idSet {
				if err := fn(sseEvent{ID: lastID, IDOnly: true}); err != nil {
					return err
				}
			}
			data.Reset()
			hasData, idSet, evType, retry = false, false, "", 0
			continue
		}
		if line[0] == ':' { // comment / keep-alive
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "data":
			data.Write(value)
			data.WriteByte('\n')
			hasData = true
		case "event":
			evType = string(value)
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				lastID, idSet = string(value), true
			}
		case "retry":
			if n, err := strconv.Atoi(string(value)); err == nil && n >= 0 {
				retry = n
			}
		}
	}
}

// readLine reads one line ending in "\n", "\r\n" or "\r" (a lone "\r" is treated as "\r\n" only
// when followed by "\n"; otherwise as a terminator). It returns io.EOF when no bytes remain.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		b, err := br.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, io.EOF // an unterminated final line is not a complete line
			}
			return nil, fmt.Errorf("read event stream: %w", err)
		}
		switch b {
		case '\n':
			return line, nil
		case '\r':
			if next, err := br.Peek(1); err == nil && next[0] == '\n' {
				_, _ = br.ReadByte()
			}
			return line, nil
		}
		if len(line) >= maxSSELine {
			return nil, errSSELine
		}
		line = append(line, b)
	}
}
