package cloud

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/outpost-iot/outpost/internal/cloud/store"
	"github.com/outpost-iot/outpost/internal/mqtt/broker"
)

// sessionStore persists MQTT subscriptions so that they survive reconnects and restarts
// (the Node SDK does not re-subscribe after a token renewal, IOTEDGE-REFERENCE §1.4).
type sessionStore struct {
	st *store.Store
}

var _ broker.SessionStore = (*sessionStore)(nil)

func (s *sessionStore) LoadSession(clientID string) ([]broker.Subscription, bool, error) {
	doc, err := s.st.GetSession(context.Background(), clientID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	var subs []broker.Subscription
	if err := json.Unmarshal(doc, &subs); err != nil {
		return nil, false, fmt.Errorf("cloud: decode session %s: %w", clientID, err)
	}
	return subs, true, nil
}

// SaveSession writes only a change: SDKs subscribe again to what their session already holds
// after every reconnect, and on a full disk that must not cost the connection.
func (s *sessionStore) SaveSession(clientID string, subs []broker.Subscription) error {
	doc, err := json.Marshal(subs)
	if err != nil {
		return err
	}
	ctx := context.Background()
	if old, err := s.st.GetSession(ctx, clientID); err == nil && bytes.Equal(old, doc) {
		return nil
	}
	return s.st.PutSession(ctx, clientID, doc)
}

func (s *sessionStore) DeleteSession(clientID string) error {
	return s.st.DeleteSession(context.Background(), clientID)
}
