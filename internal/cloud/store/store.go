// Package store keeps the cloud's state in an embedded SQLite database (modernc.org/sqlite, pure
// Go, no cgo): identities, twins, C2D queues, MQTT sessions, CA certificates and settings. (D2C
// events live in a segment log, internal/store, which commits a group for a quarter of SQLite's
// cost.) Documents are stored as JSON next to the columns that queries need, so the schema
// stays small and a PostgreSQL back end can follow the same shape.
//
// Durability: WAL journal with synchronous=FULL, so a committed transaction survives kill -9 and
// power loss.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// ErrNotFound reports a missing row.
var ErrNotFound = errors.New("store: not found")

// ErrConflict reports an insert of an existing key or a failed compare-and-swap.
var ErrConflict = errors.New("store: conflict")

// Store is the SQLite-backed state of one cloud.
type Store struct {
	db *sql.DB
}

const schema = `
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS identities (device_id TEXT NOT NULL, module_id TEXT NOT NULL, doc BLOB NOT NULL,
  PRIMARY KEY (device_id, module_id));
CREATE TABLE IF NOT EXISTS twins (device_id TEXT NOT NULL, module_id TEXT NOT NULL, doc BLOB NOT NULL,
  PRIMARY KEY (device_id, module_id));
DROP TABLE IF EXISTS events;
CREATE TABLE IF NOT EXISTS c2d (id INTEGER PRIMARY KEY AUTOINCREMENT, device_id TEXT NOT NULL,
  expiry INTEGER NOT NULL, delivery_count INTEGER NOT NULL DEFAULT 0, doc BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS c2d_device ON c2d (device_id, id);
CREATE TABLE IF NOT EXISTS sessions (client_id TEXT PRIMARY KEY, doc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS certificates (name TEXT PRIMARY KEY, doc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS activity (client_id TEXT PRIMARY KEY, doc BLOB NOT NULL);
`

// Open opens (creating if needed) the database file in dir.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: create data dir: %w", err)
	}
	path := filepath.Join(dir, "outpost.db")
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(ON)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	// One connection serialises writers, which SQLite does anyway, and avoids SQLITE_BUSY.
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: create schema: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: restrict %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// OpenReadOnly opens the database file in dir for reading only: no schema, no journal mode,
// nothing written. It is for tools that read beside a running cloud (SQLite's WAL lets them)
// or on a full disk; every write through it fails.
func OpenReadOnly(dir string) (*Store, error) {
	path := filepath.Join(dir, "outpost.db")
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// GetKV reads a setting.
func (s *Store) GetKV(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := s.db.QueryRowContext(ctx, `SELECT value FROM kv WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: get %s: %w", key, err)
	}
	return v, nil
}

// PutKVIfAbsent stores a setting unless one exists, and returns the value now stored.
func (s *Store) PutKVIfAbsent(ctx context.Context, key string, value []byte) ([]byte, error) {
	if _, err := s.db.ExecContext(ctx, `INSERT OR IGNORE INTO kv (key, value) VALUES (?, ?)`, key, value); err != nil {
		return nil, fmt.Errorf("store: put %s: %w", key, err)
	}
	return s.GetKV(ctx, key)
}

func nowMillis(t time.Time) int64 { return t.UnixMilli() }

// PutKV stores a setting, replacing any previous value.
func (s *Store) PutKV(ctx context.Context, key string, value []byte) error {
	if _, err := s.db.ExecContext(ctx, `INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)`, key, value); err != nil {
		return fmt.Errorf("store: put %s: %w", key, err)
	}
	return nil
}
