package launch

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/outpost-iot/outpost/internal/pki"
)

// CertFiles are PEM files of a throwaway CA and a server certificate signed by it.
type CertFiles struct {
	CA, Cert, Key string
}

// writeThrowawayPKI creates a CA and a server certificate for localhost/127.0.0.1 in dir with
// internal/pki, so mosquitto's TLS listener gets the same kind of key (ECDSA P-256) and chain
// as outpost's and both TLS targets do comparable handshakes. The file names are pki's layout.
func writeThrowawayPKI(dir string, now time.Time) (CertFiles, error) {
	a, err := pki.LoadOrCreateAuthority(dir, "outpost bench throwaway CA", now)
	if err != nil {
		return CertFiles{}, fmt.Errorf("launch: ca: %w", err)
	}
	if _, err := pki.LoadOrCreateServerCert(dir, a, []string{"localhost", "127.0.0.1"}, now); err != nil {
		return CertFiles{}, fmt.Errorf("launch: server cert: %w", err)
	}
	return CertFiles{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "server.pem"), Key: filepath.Join(dir, "server.key")}, nil
}
