package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func mustAuthority(t *testing.T, dir string) *Authority {
	t.Helper()
	return mustAuthorityAt(t, dir, t0)
}

// mustAuthorityAt loads or creates the test authority in dir at now.
func mustAuthorityAt(t *testing.T, dir string, now time.Time) *Authority {
	t.Helper()
	a, err := LoadOrCreateAuthority(dir, "Outpost Test CA", now)
	if err != nil {
		t.Fatalf("LoadOrCreateAuthority: %v", err)
	}
	return a
}

// mustKeyPEM returns a new key and its PKCS#8 PEM encoding.
func mustKeyPEM(t *testing.T) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	k, err := newKey()
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := encodeKeyPEM(k)
	if err != nil {
		t.Fatal(err)
	}
	return k, keyPEM
}

func fileMode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

func TestAuthority_SEC16_CreateModesAndReload(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	a := mustAuthority(t, dir)
	if got := fileMode(t, filepath.Join(dir, "ca.key")); got != 0o600 {
		t.Errorf("ca.key mode %04o, want 0600", got)
	}
	if got := fileMode(t, dir); got != 0o700 {
		t.Errorf("dir mode %04o, want 0700", got)
	}
	if !a.Cert.IsCA || a.Cert.Subject.CommonName != "Outpost Test CA" {
		t.Errorf("CA cert: IsCA=%v CN=%q", a.Cert.IsCA, a.Cert.Subject.CommonName)
	}
	pub, ok := a.Cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("CA key is %T, want ECDSA P-256", a.Cert.PublicKey)
	}
	if got := a.Cert.NotAfter.Sub(t0); got != CAValidity {
		t.Errorf("CA validity %v, want %v", got, CAValidity)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
	b, err := LoadOrCreateAuthority(dir, "ignored on reload", t0.Add(24*time.Hour))
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	if !bytes.Equal(a.Cert.Raw, b.Cert.Raw) || !bytes.Equal(a.CertPEM, b.CertPEM) {
		t.Error("reload returned a different certificate")
	}
	if !publicKeysEqual(b.Key.Public(), a.Key.Public()) {
		t.Error("reload returned a different key")
	}
}

func TestAuthority_SEC16_LooseKeyModeRefused(t *testing.T) {
	dir := t.TempDir()
	mustAuthority(t, dir)
	if err := os.Chmod(filepath.Join(dir, "ca.key"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadOrCreateAuthority(dir, "x", t0)
	if err == nil || !strings.Contains(err.Error(), "owner-only") {
		t.Fatalf("err = %v, want owner-only refusal", err)
	}
}

func TestAuthority_C4_OutsideValidityRefused(t *testing.T) {
	dir := t.TempDir()
	mustAuthority(t, dir)
	for _, tc := range []struct {
		name string
		now  time.Time
		want error
	}{
		{"expired", t0.Add(CAValidity + time.Hour), ErrCertExpired},
		{"clock before creation", t0.Add(-time.Hour), ErrCertNotYetValid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadOrCreateAuthority(dir, "x", tc.now)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestAuthority_KeyWithoutCertIsRecreated(t *testing.T) {
	dir := t.TempDir()
	a := mustAuthority(t, dir)
	if err := os.Remove(filepath.Join(dir, "ca.pem")); err != nil {
		t.Fatal(err)
	}
	b := mustAuthority(t, dir)
	if bytes.Equal(a.Cert.Raw, b.Cert.Raw) {
		t.Fatal("expected a new authority")
	}
}

func TestAuthority_BrokenFilesRefused(t *testing.T) {
	_, otherPEM := mustKeyPEM(t)
	for _, tc := range []struct {
		name, file string
		data       []byte
		want       string
	}{
		{"key mismatch", "ca.key", otherPEM, "does not match"},
		{"garbage cert", "ca.pem", []byte("not pem"), "no CERTIFICATE"},
		{"garbage key", "ca.key", []byte("not pem"), "no private key"},
		{"missing key", "ca.key", nil, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			mustAuthority(t, dir)
			p := filepath.Join(dir, tc.file)
			if tc.data == nil {
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
			} else if err := os.WriteFile(p, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadOrCreateAuthority(dir, "x", t0)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestIssueServer_SANs(t *testing.T) {
	a := mustAuthority(t, t.TempDir())
	for _, tc := range []struct {
		name    string
		hosts   []string
		dns     []string
		ips     []string
		wantErr bool
	}{
		{"dns only", []string{"hub.example.com"}, []string{"hub.example.com"}, nil, false},
		{"mixed", []string{"localhost", "127.0.0.1", "::1", "[fe80::1]", "*.hub.local"},
			[]string{"localhost", "*.hub.local"}, []string{"127.0.0.1", "::1", "fe80::1"}, false},
		{"ip only", []string{"10.1.2.3"}, nil, []string{"10.1.2.3"}, false},
		{"none", nil, nil, nil, true},
		{"empty", []string{"a", " "}, nil, nil, true},
		{"invalid", []string{"a b"}, nil, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := a.IssueServer(tc.hosts, time.Hour, t0)
			if tc.wantErr {
				if err == nil {
					t.Fatal("want error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(c.Leaf.DNSNames, ",") != strings.Join(tc.dns, ",") {
				t.Errorf("DNS %v, want %v", c.Leaf.DNSNames, tc.dns)
			}
			var ips []string
			for _, ip := range c.Leaf.IPAddresses {
				ips = append(ips, ip.String())
			}
			if strings.Join(ips, ",") != strings.Join(tc.ips, ",") {
				t.Errorf("IPs %v, want %v", ips, tc.ips)
			}
			if len(c.Certificate) != 2 || !bytes.Equal(c.Certificate[1], a.Cert.Raw) {
				t.Error("chain should be leaf + CA")
			}
			if len(c.Leaf.ExtKeyUsage) != 1 || c.Leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
				t.Errorf("EKU %v, want serverAuth", c.Leaf.ExtKeyUsage)
			}
			if err := VerifyChain(c.Leaf, nil, []*x509.Certificate{a.Cert}, t0); err != nil {
				t.Errorf("verify: %v", err)
			}
			if err := c.Leaf.VerifyHostname(strings.Trim(tc.hosts[0], "[]")); err != nil {
				t.Errorf("VerifyHostname: %v", err)
			}
		})
	}
}

func TestIssueServer_ClampedToCA(t *testing.T) {
	a := mustAuthority(t, t.TempDir())
	c, err := a.IssueServer([]string{"h"}, 20*CAValidity, t0)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Leaf.NotAfter.Equal(a.Cert.NotAfter) {
		t.Errorf("NotAfter %v, want CA's %v", c.Leaf.NotAfter, a.Cert.NotAfter)
	}
}

func TestIssueClient(t *testing.T) {
	a := mustAuthority(t, t.TempDir())
	certPEM, keyPEM, err := a.IssueClient("dev1", time.Hour, t0)
	if err != nil {
		t.Fatal(err)
	}
	c, err := CertificateFromPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject.CommonName != "dev1" || c.IsCA {
		t.Errorf("CN=%q IsCA=%v", c.Subject.CommonName, c.IsCA)
	}
	if len(c.ExtKeyUsage) != 1 || c.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
		t.Errorf("EKU %v, want clientAuth", c.ExtKeyUsage)
	}
	k, err := ParsePrivateKeyPEM(keyPEM)
	if err != nil || !publicKeysEqual(c.PublicKey, k.Public()) {
		t.Fatalf("key: %v", err)
	}
	if _, _, err := a.IssueClient("", time.Hour, t0); err == nil {
		t.Error("empty CN accepted")
	}
	if _, _, err := a.IssueClient("d", 0, t0); err == nil {
		t.Error("zero validity accepted")
	}
}

func TestSplitHosts_NoImplicitLocalhost(t *testing.T) {
	dns, ips, err := splitHosts([]string{"hub"})
	if err != nil || len(dns) != 1 || len(ips) != 0 {
		t.Fatalf("dns=%v ips=%v err=%v", dns, ips, err)
	}
}
