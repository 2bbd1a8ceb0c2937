package e2e

import (
	"testing"

	"github.com/outpost-iot/outpost/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }
