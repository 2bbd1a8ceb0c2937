package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Key names an identity: a device (ModuleID "") or a module.
type Key struct {
	DeviceID string
	ModuleID string
}

// String is "{device}" or "{device}/{module}": also the identity's MQTT client id.
func (k Key) String() string {
	if k.ModuleID == "" {
		return k.DeviceID
	}
	return k.DeviceID + "/" + k.ModuleID
}

// CreateIdentity inserts an identity document and its twin in one transaction.
// It returns ErrConflict when the identity exists and ErrNotFound when a module's device does not.
func (s *Store) CreateIdentity(ctx context.Context, k Key, doc, twin []byte) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if k.ModuleID != "" {
			if _, err := getDoc(ctx, tx, `SELECT doc FROM identities WHERE device_id = ? AND module_id = ''`, k.DeviceID); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO identities (device_id, module_id, doc) VALUES (?, ?, ?)`, k.DeviceID, k.ModuleID, doc)
		if err != nil {
			return fmt.Errorf("store: insert identity %s: %w", k, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrConflict
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO twins (device_id, module_id, doc) VALUES (?, ?, ?)`, k.DeviceID, k.ModuleID, twin); err != nil {
			return fmt.Errorf("store: insert twin %s: %w", k, err)
		}
		return nil
	})
}

// GetIdentity returns an identity document.
func (s *Store) GetIdentity(ctx context.Context, k Key) ([]byte, error) {
	return getDoc(ctx, s.db, `SELECT doc FROM identities WHERE device_id = ? AND module_id = ?`, k.DeviceID, k.ModuleID)
}

// UpdateIdentity rewrites an identity document with fn inside a transaction (read-modify-write).
func (s *Store) UpdateIdentity(ctx context.Context, k Key, fn func(doc []byte) ([]byte, error)) ([]byte, error) {
	return s.update(ctx, "identities", k, fn)
}

// UpdateTwin rewrites a twin document with fn inside a transaction.
func (s *Store) UpdateTwin(ctx context.Context, k Key, fn func(doc []byte) ([]byte, error)) ([]byte, error) {
	return s.update(ctx, "twins", k, fn)
}

// GetTwin returns a twin document.
func (s *Store) GetTwin(ctx context.Context, k Key) ([]byte, error) {
	return getDoc(ctx, s.db, `SELECT doc FROM twins WHERE device_id = ? AND module_id = ?`, k.DeviceID, k.ModuleID)
}

// DeleteIdentity removes an identity after check approves its current document. Deleting a
// device removes its modules, twins, C2D queue, sessions and activity.
func (s *Store) DeleteIdentity(ctx context.Context, k Key, check func(doc []byte) error) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		doc, err := getDoc(ctx, tx, `SELECT doc FROM identities WHERE device_id = ? AND module_id = ?`, k.DeviceID, k.ModuleID)
		if err != nil {
			return err
		}
		if err := check(doc); err != nil {
			return err
		}
		// A new identity with the same id must not inherit the old one's MQTT session.
		stmts := [][]any{
			{`DELETE FROM identities WHERE device_id = ? AND module_id = ?`, k.DeviceID, k.ModuleID},
			{`DELETE FROM twins WHERE device_id = ? AND module_id = ?`, k.DeviceID, k.ModuleID},
			{`DELETE FROM sessions WHERE client_id = ?`, k.String()},
			{`DELETE FROM activity WHERE client_id = ?`, k.String()},
		}
		if k.ModuleID == "" {
			stmts = [][]any{
				{`DELETE FROM identities WHERE device_id = ?`, k.DeviceID},
				{`DELETE FROM twins WHERE device_id = ?`, k.DeviceID},
				{`DELETE FROM c2d WHERE device_id = ?`, k.DeviceID},
				{`DELETE FROM sessions WHERE client_id = ? OR substr(client_id, 1, ?) = ?`, k.DeviceID, len(k.DeviceID) + 1, k.DeviceID + "/"},
				{`DELETE FROM activity WHERE client_id = ? OR substr(client_id, 1, ?) = ?`, k.DeviceID, len(k.DeviceID) + 1, k.DeviceID + "/"},
			}
		}
		for _, st := range stmts {
			if _, err := tx.ExecContext(ctx, st[0].(string), st[1:]...); err != nil {
				return fmt.Errorf("store: delete %s: %w", k, err)
			}
		}
		return nil
	})
}

// ListDevices returns up to limit device documents ordered by id (limit <= 0: all).
func (s *Store) ListDevices(ctx context.Context, limit int) ([][]byte, error) {
	if limit <= 0 {
		limit = -1
	}
	return listDocs(ctx, s.db, `SELECT doc FROM identities WHERE module_id = '' ORDER BY device_id LIMIT ?`, limit)
}

// ListModules returns the module documents of a device.
func (s *Store) ListModules(ctx context.Context, deviceID string) ([][]byte, error) {
	return listDocs(ctx, s.db, `SELECT doc FROM identities WHERE device_id = ? AND module_id != '' ORDER BY module_id`, deviceID)
}

func (s *Store) update(ctx context.Context, table string, k Key, fn func([]byte) ([]byte, error)) ([]byte, error) {
	var out []byte
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		doc, err := getDoc(ctx, tx, `SELECT doc FROM `+table+` WHERE device_id = ? AND module_id = ?`, k.DeviceID, k.ModuleID)
		if err != nil {
			return err
		}
		next, err := fn(doc)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE `+table+` SET doc = ? WHERE device_id = ? AND module_id = ?`, next, k.DeviceID, k.ModuleID); err != nil {
			return fmt.Errorf("store: update %s %s: %w", table, k, err)
		}
		out = next
		return nil
	})
	return out, err
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func getDoc(ctx context.Context, q querier, query string, args ...any) ([]byte, error) {
	var doc []byte
	err := q.QueryRowContext(ctx, query, args...).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: query: %w", err)
	}
	return doc, nil
}

func listDocs(ctx context.Context, q querier, query string, args ...any) ([][]byte, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list: %w", err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var doc []byte
		if err := rows.Scan(&doc); err != nil {
			return nil, fmt.Errorf("store: scan: %w", err)
		}
		out = append(out, doc)
	}
	return out, rows.Err()
}

func (s *Store) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}
