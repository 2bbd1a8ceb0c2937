package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Event is one stored D2C message.
type Event struct {
	Seq      int64
	Enqueued time.Time
	DeviceID string
	ModuleID string
	Doc      []byte // the message, encoded by the caller
}

// maxRowsPerInsert keeps a multi-row INSERT under SQLite's limit of bound variables.
const maxRowsPerInsert = 500

// AppendEvents stores events in one transaction (one fsync for the group) and fills in their
// sequence numbers. Rows go in with multi-row INSERTs: one statement per 500 events instead of
// one per event. The context only bounds waiting to start; once started, the group is written.
func (s *Store) AppendEvents(ctx context.Context, events []*Event) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for start := 0; start < len(events); start += maxRowsPerInsert {
			if err := insertEvents(tx, events[start:min(start+maxRowsPerInsert, len(events))]); err != nil {
				return err
			}
		}
		return nil
	})
}

func insertEvents(tx *sql.Tx, events []*Event) error {
	var q strings.Builder
	q.WriteString(`INSERT INTO events (enqueued, device_id, module_id, doc) VALUES `)
	args := make([]any, 0, 4*len(events))
	for i, e := range events {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString("(?,?,?,?)")
		args = append(args, nowMillis(e.Enqueued), e.DeviceID, e.ModuleID, e.Doc)
	}
	res, err := tx.Exec(q.String(), args...)
	if err != nil {
		return fmt.Errorf("store: append events: %w", err)
	}
	last, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("store: event seq: %w", err)
	}
	// One statement on the only writer connection: its rows got consecutive sequence numbers.
	for i, e := range events {
		e.Seq = last - int64(len(events)-1-i)
	}
	return nil
}

// EventFilter selects events; empty fields match everything.
type EventFilter struct {
	DeviceID string
	ModuleID string
}

// ReadEvents returns up to limit events with seq > after that match f, in order.
func (s *Store) ReadEvents(ctx context.Context, after int64, f EventFilter, limit int) ([]*Event, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, enqueued, device_id, module_id, doc FROM events
		WHERE seq > ? AND (? = '' OR device_id = ?) AND (? = '' OR module_id = ?) ORDER BY seq LIMIT ?`,
		after, f.DeviceID, f.DeviceID, f.ModuleID, f.ModuleID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: read events: %w", err)
	}
	defer rows.Close()
	var out []*Event
	for rows.Next() {
		e := &Event{}
		var ms int64
		if err := rows.Scan(&e.Seq, &ms, &e.DeviceID, &e.ModuleID, &e.Doc); err != nil {
			return nil, fmt.Errorf("store: scan event: %w", err)
		}
		e.Enqueued = time.UnixMilli(ms).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// LastEventSeq returns the highest sequence number stored (0 when empty).
func (s *Store) LastEventSeq(ctx context.Context) (int64, error) {
	var seq sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT MAX(seq) FROM events`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("store: last event: %w", err)
	}
	return seq.Int64, nil
}

// TrimEvents deletes events enqueued before cutoff and returns how many went.
func (s *Store) TrimEvents(ctx context.Context, cutoff time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM events WHERE enqueued < ?`, nowMillis(cutoff))
	if err != nil {
		return 0, fmt.Errorf("store: trim events: %w", err)
	}
	return res.RowsAffected()
}
