package cloud

import (
	"context"

	"github.com/outpost-iot/outpost/internal/cloud/store"
)

// RunHooked is Run that first hands the opened cloud to hook, for tests that reach inside
// (fault injection into its store).
func RunHooked(ctx context.Context, cfg Config, hook func(*Cloud)) error {
	c, err := open(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.close()
	hook(c)
	return c.serve(ctx)
}

// Store is the cloud's SQLite state.
func (c *Cloud) Store() *store.Store { return c.st }
