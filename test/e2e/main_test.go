package e2e

import (
	"os"
	"testing"

	"github.com/outpost-iot/outpost/internal/testutil"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testutil.CleanupBuilds()
	os.Exit(code)
}
