package store

import (
	"context"
	"database/sql"
	"fmt"
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

// AppendEvents stores events in one transaction (one fsync for the group) and fills in their
// sequence numbers.
func (s *Store) AppendEvents(ctx context.Context, events []*Event) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO events (enqueued, device_id, module_id, doc) VALUES (?, ?, ?, ?)`)
		if err != nil {
			return fmt.Errorf("store: prepare append: %w", err)
		}
		defer stmt.Close()
		for _, e := range events {
			res, err := stmt.ExecContext(ctx, nowMillis(e.Enqueued), e.DeviceID, e.ModuleID, e.Doc)
			if err != nil {
				return fmt.Errorf("store: append event: %w", err)
			}
			if e.Seq, err = res.LastInsertId(); err != nil {
				return fmt.Errorf("store: event seq: %w", err)
			}
		}
		return nil
	})
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
