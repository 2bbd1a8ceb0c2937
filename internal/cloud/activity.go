package cloud

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/outpost-iot/outpost/internal/cloud/store"
)

// activity is what the registry keeps of a connection that ended: IoT Hub's lastActivityTime
// and connectionStateUpdatedTime outlive the connection, and so do they here, across restarts.
// Written once per disconnect; a crash loses the activity of the connections it cut.
type activity struct {
	// GenerationID ties the record to one identity: a new one with the same id starts afresh
	// (an old in-memory record is ignored, the stored one was deleted with the identity).
	GenerationID string    `json:"generationId"`
	LastActivity time.Time `json:"lastActivityTime"`
	Disconnected time.Time `json:"disconnectedTime"`
}

// loadActivity reads the stored activity records; a failure costs only the history.
func (c *Cloud) loadActivity(ctx context.Context) {
	docs, err := c.st.ListActivity(ctx)
	if err != nil {
		c.log.Warn("last activity of disconnected identities unavailable", "err", err)
		return
	}
	for id, doc := range docs {
		var a activity
		if err := json.Unmarshal(doc, &a); err != nil {
			c.log.Warn("undecodable activity record ignored", "client", id, "err", err)
			continue
		}
		dev, mod, _ := strings.Cut(id, "/")
		c.seen[store.Key{DeviceID: dev, ModuleID: mod}] = a
	}
}

// saveActivity persists the activity of a connection that ended. A failure (a full disk) is
// logged: the record stays in memory.
func (c *Cloud) saveActivity(k store.Key, a activity) {
	doc, err := json.Marshal(a)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.operationTimeout())
		err = c.st.PutActivity(ctx, k.String(), doc)
		cancel()
	}
	if err != nil {
		c.failures.log(c, "store last activity", fmt.Errorf("cloud: activity of %s: %w", k, err))
	}
}

// seenLocked returns the activity of a disconnected identity of generation gen; c.connMu must
// be held.
func (c *Cloud) seenLocked(k store.Key, gen string) (activity, bool) {
	a, ok := c.seen[k]
	return a, ok && a.GenerationID == gen
}
