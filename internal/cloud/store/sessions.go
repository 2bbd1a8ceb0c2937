package store

import (
	"context"
	"fmt"
)

// GetSession returns a persisted MQTT session document.
func (s *Store) GetSession(ctx context.Context, clientID string) ([]byte, error) {
	return getDoc(ctx, s.db, `SELECT doc FROM sessions WHERE client_id = ?`, clientID)
}

// PutSession stores an MQTT session document.
func (s *Store) PutSession(ctx context.Context, clientID string, doc []byte) error {
	if _, err := s.db.ExecContext(ctx, `INSERT OR REPLACE INTO sessions (client_id, doc) VALUES (?, ?)`, clientID, doc); err != nil {
		return fmt.Errorf("store: put session %s: %w", clientID, err)
	}
	return nil
}

// DeleteSession removes an MQTT session.
func (s *Store) DeleteSession(ctx context.Context, clientID string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE client_id = ?`, clientID); err != nil {
		return fmt.Errorf("store: delete session %s: %w", clientID, err)
	}
	return nil
}

// PutCertificate stores a CA certificate document under name.
func (s *Store) PutCertificate(ctx context.Context, name string, doc []byte) error {
	if _, err := s.db.ExecContext(ctx, `INSERT OR REPLACE INTO certificates (name, doc) VALUES (?, ?)`, name, doc); err != nil {
		return fmt.Errorf("store: put certificate %s: %w", name, err)
	}
	return nil
}

// GetCertificate returns a CA certificate document.
func (s *Store) GetCertificate(ctx context.Context, name string) ([]byte, error) {
	return getDoc(ctx, s.db, `SELECT doc FROM certificates WHERE name = ?`, name)
}

// ListCertificates returns every CA certificate document.
func (s *Store) ListCertificates(ctx context.Context) ([][]byte, error) {
	return listDocs(ctx, s.db, `SELECT doc FROM certificates ORDER BY name`)
}

// DeleteCertificate removes a CA certificate; ErrNotFound when absent.
func (s *Store) DeleteCertificate(ctx context.Context, name string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM certificates WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("store: delete certificate %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// PutActivity stores an identity's activity document (the last activity of a connection that
// ended), keyed like sessions by the identity's client id.
func (s *Store) PutActivity(ctx context.Context, clientID string, doc []byte) error {
	if _, err := s.db.ExecContext(ctx, `INSERT OR REPLACE INTO activity (client_id, doc) VALUES (?, ?)`, clientID, doc); err != nil {
		return fmt.Errorf("store: put activity %s: %w", clientID, err)
	}
	return nil
}

// ListActivity returns every activity document by client id.
func (s *Store) ListActivity(ctx context.Context) (map[string][]byte, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT client_id, doc FROM activity`)
	if err != nil {
		return nil, fmt.Errorf("store: list activity: %w", err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var id string
		var doc []byte
		if err := rows.Scan(&id, &doc); err != nil {
			return nil, fmt.Errorf("store: scan activity: %w", err)
		}
		out[id] = doc
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list activity: %w", err)
	}
	return out, nil
}
