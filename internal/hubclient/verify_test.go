package hubclient

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/pki"
)

// TestIPEndpointVerifiesHubName_B7: dialling an IP address, the certificate must be valid for the
// hub's host name (or that address); a certificate for another name is refused.
func TestIPEndpointVerifiesHubName_B7(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.LoadOrCreateAuthority(dir, "test CA", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem") // written by LoadOrCreateAuthority
	for _, tc := range []struct {
		certHost, hubHost string
		ok                bool
	}{
		{"hub.example", "hub.example", true},
		{"other.example", "hub.example", false},
	} {
		cert, err := ca.IssueServer([]string{tc.certHost}, time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) }))
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		srv.StartTLS()
		c, err := New(Config{ConnectionString: "HostName=" + tc.hubHost + ";SharedAccessKeyName=iothubowner;SharedAccessKey=" + strings.Repeat("QUFB", 11) + "QQ==",
			CAFile: caFile, Endpoint: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		err = c.Healthz(context.Background())
		srv.Close()
		if (err == nil) != tc.ok {
			t.Fatalf("cert for %s, hub %s: %v", tc.certHost, tc.hubHost, err)
		}
	}
}
