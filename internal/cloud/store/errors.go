package store

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Unavailable reports whether err is a storage failure that passes once the operator acts or
// the moment passes: a full disk, an I/O error, a read-only file system or database, a lock
// held too long. The cloud answers those with IoT Hub's 503 ServiceUnavailable, which SDKs
// retry, rather than a 500 or, worse, a 400 that they treat as permanent. It looks at types
// (SQLite result codes, errnos), never at messages.
func Unavailable(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff { // the primary result code; extended codes add bits above
		case sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_BUSY,
			sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_NOMEM:
			return true
		}
		return false
	}
	for _, errno := range []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT, syscall.EIO, syscall.EROFS} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}

// SetQueryOnly makes the database refuse every write (SQLITE_READONLY) while on is true, reads
// still served. Fault tests use it to drive the write-failure paths with SQLite's own errors.
func (s *Store) SetQueryOnly(ctx context.Context, on bool) error {
	v := "OFF"
	if on {
		v = "ON"
	}
	// One connection (Open sets MaxOpenConns(1)), so the pragma applies to every later statement.
	if _, err := s.db.ExecContext(ctx, "PRAGMA query_only = "+v); err != nil {
		return fmt.Errorf("store: query_only %s: %w", v, err)
	}
	return nil
}
