package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ErrQueueFull reports a C2D queue at its depth limit.
var ErrQueueFull = errors.New("store: queue full")

// C2DMessage is one queued cloud-to-device message.
type C2DMessage struct {
	ID            int64
	DeviceID      string
	Expiry        time.Time
	DeliveryCount int
	Doc           []byte
}

// EnqueueC2D appends a message to a device's queue unless the device is unknown (ErrNotFound)
// or the queue holds maxDepth unexpired messages (ErrQueueFull).
func (s *Store) EnqueueC2D(ctx context.Context, m *C2DMessage, maxDepth int, now time.Time) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := getDoc(ctx, tx, `SELECT doc FROM identities WHERE device_id = ? AND module_id = ''`, m.DeviceID); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM c2d WHERE device_id = ? AND expiry > ?`, m.DeviceID, nowMillis(now)).Scan(&n); err != nil {
			return fmt.Errorf("store: count c2d: %w", err)
		}
		if n >= maxDepth {
			return ErrQueueFull
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO c2d (device_id, expiry, delivery_count, doc) VALUES (?, ?, 0, ?)`, m.DeviceID, nowMillis(m.Expiry), m.Doc)
		if err != nil {
			return fmt.Errorf("store: enqueue c2d: %w", err)
		}
		m.ID, err = res.LastInsertId()
		return err
	})
}

// ListC2D returns a device's queued messages, oldest first, expired ones included.
func (s *Store) ListC2D(ctx context.Context, deviceID string) ([]*C2DMessage, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, device_id, expiry, delivery_count, doc FROM c2d WHERE device_id = ? ORDER BY id`, deviceID)
	if err != nil {
		return nil, fmt.Errorf("store: list c2d: %w", err)
	}
	defer rows.Close()
	var out []*C2DMessage
	for rows.Next() {
		m := &C2DMessage{}
		var exp int64
		if err := rows.Scan(&m.ID, &m.DeviceID, &exp, &m.DeliveryCount, &m.Doc); err != nil {
			return nil, fmt.Errorf("store: scan c2d: %w", err)
		}
		m.Expiry = time.UnixMilli(exp).UTC()
		out = append(out, m)
	}
	return out, rows.Err()
}

// NextC2D returns the oldest unexpired message of a device with its delivery count already
// incremented (the attempt is recorded before the message goes out), or ErrNotFound.
func (s *Store) NextC2D(ctx context.Context, deviceID string, now time.Time) (*C2DMessage, error) {
	var m *C2DMessage
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		row := tx.QueryRowContext(ctx, `SELECT id, expiry, delivery_count, doc FROM c2d WHERE device_id = ? AND expiry > ? ORDER BY id LIMIT 1`, deviceID, nowMillis(now))
		c := &C2DMessage{DeviceID: deviceID}
		var exp int64
		if err := row.Scan(&c.ID, &exp, &c.DeliveryCount, &c.Doc); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound
			}
			return fmt.Errorf("store: next c2d: %w", err)
		}
		c.Expiry = time.UnixMilli(exp).UTC()
		c.DeliveryCount++
		if _, err := tx.ExecContext(ctx, `UPDATE c2d SET delivery_count = ? WHERE id = ?`, c.DeliveryCount, c.ID); err != nil {
			return fmt.Errorf("store: count delivery: %w", err)
		}
		m = c
		return nil
	})
	return m, err
}

// DeleteC2D removes a message (completed, expired or dead-lettered).
func (s *Store) DeleteC2D(ctx context.Context, id int64) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM c2d WHERE id = ?`, id); err != nil {
		return fmt.Errorf("store: delete c2d %d: %w", id, err)
	}
	return nil
}

// PurgeExpiredC2D deletes expired messages and returns how many it deleted.
func (s *Store) PurgeExpiredC2D(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM c2d WHERE expiry <= ?`, nowMillis(now))
	if err != nil {
		return 0, fmt.Errorf("store: purge expired c2d: %w", err)
	}
	return res.RowsAffected()
}

// CountC2DByDevice returns the number of unexpired messages queued per device (devices with
// none are absent).
func (s *Store) CountC2DByDevice(ctx context.Context, now time.Time) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT device_id, COUNT(*) FROM c2d WHERE expiry > ? GROUP BY device_id`, nowMillis(now))
	if err != nil {
		return nil, fmt.Errorf("store: count c2d: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("store: scan c2d count: %w", err)
		}
		out[id] = n
	}
	return out, rows.Err()
}
