package broker

import (
	"slices"
	"sync"
)

// MemorySessionStore is the in-memory SessionStore used when Config.Sessions is nil.
type MemorySessionStore struct {
	mu       sync.Mutex // guards sessions
	sessions map[string][]Subscription
}

var _ SessionStore = (*MemorySessionStore)(nil)

// NewMemorySessionStore returns an empty in-memory store.
func NewMemorySessionStore() *MemorySessionStore {
	return &MemorySessionStore{sessions: map[string][]Subscription{}}
}

// LoadSession implements SessionStore.
func (m *MemorySessionStore) LoadSession(clientID string) ([]Subscription, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	subs, ok := m.sessions[clientID]
	return slices.Clone(subs), ok, nil
}

// SaveSession implements SessionStore.
func (m *MemorySessionStore) SaveSession(clientID string, subs []Subscription) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sessions[clientID] = slices.Clone(subs)
	return nil
}

// DeleteSession implements SessionStore.
func (m *MemorySessionStore) DeleteSession(clientID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.sessions, clientID)
	return nil
}
