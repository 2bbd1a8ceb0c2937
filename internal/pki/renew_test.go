package pki

import (
	"crypto/tls"
	"crypto/x509"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

func TestRenewingServerCert_C4_SEC04(t *testing.T) {
	dir := t.TempDir()
	a := mustAuthorityAt(t, filepath.Join(dir, "ca"), t0.Add(-48*time.Hour))
	var clock atomic.Int64
	clock.Store(t0.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()).UTC() }
	r, err := NewRenewingServerCert(dir, a, []string{"localhost"}, now)
	if err != nil {
		t.Fatal(err)
	}
	first, err := r.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		at      time.Time
		renewed bool
	}{
		{"a day later", t0.Add(24 * time.Hour), false},
		{"31 days before expiry", first.Leaf.NotAfter.Add(-31 * 24 * time.Hour), false},
		{"jump to 29 days before expiry", first.Leaf.NotAfter.Add(-29 * 24 * time.Hour), true},
	} {
		clock.Store(tc.at.UnixNano())
		c, err := r.GetCertificate(nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := c.Leaf.SerialNumber.Cmp(first.Leaf.SerialNumber) != 0; got != tc.renewed {
			t.Fatalf("%s: renewed = %v, want %v", tc.name, got, tc.renewed)
		}
		if err := VerifyChain(c.Leaf, nil, []*x509.Certificate{a.Cert}, tc.at); err != nil {
			t.Fatalf("%s: served certificate invalid: %v", tc.name, err)
		}
	}
	// Clock jumps back before the renewed certificate's NotBefore: renewed again.
	renewed, _ := r.GetCertificate(nil)
	back := renewed.Leaf.NotBefore.Add(-time.Hour)
	c, err := r.Current(back)
	if err != nil {
		t.Fatal(err)
	}
	if c.Leaf.SerialNumber.Cmp(renewed.Leaf.SerialNumber) == 0 || back.Before(c.Leaf.NotBefore) {
		t.Fatal("not renewed after the clock jumped back")
	}
	cfg := r.TLSConfig()
	if cfg.GetCertificate == nil || len(cfg.Certificates) != 0 || cfg.MinVersion != tls.VersionTLS12 {
		t.Fatalf("TLSConfig %+v", cfg)
	}
	clock.Store(back.UnixNano())
	pool := x509.NewCertPool()
	pool.AddCert(a.Cert)
	st, err := handshake(t, cfg, &tls.Config{RootCAs: pool, ServerName: "localhost", Time: now})
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if st.Version != tls.VersionTLS13 {
		t.Errorf("version %s", tls.VersionName(st.Version))
	}
}
