package pki

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestServerCert_C4_ReuseVsReissue(t *testing.T) {
	hosts := []string{"hub.local", "127.0.0.1"}
	for _, tc := range []struct {
		name   string
		setup  func(t *testing.T, dir string) // after the first issue
		hosts  []string
		now    time.Time
		reused bool
	}{
		{"same hosts", nil, hosts, t0.Add(24 * time.Hour), true},
		{"same set other order and case", nil, []string{"127.0.0.1", "HUB.local", "hub.local"}, t0, true},
		{"host added", nil, append([]string{"other"}, hosts...), t0, false},
		{"host removed", nil, hosts[:1], t0, false},
		{"31 days left", nil, hosts, t0.Add(ServerValidity - 31*24*time.Hour), true},
		{"29 days left", nil, hosts, t0.Add(ServerValidity - 29*24*time.Hour), false},
		{"expired", nil, hosts, t0.Add(ServerValidity + time.Hour), false},
		{"clock jumped back before issue", nil, hosts, t0.Add(-time.Hour), false},
		{"corrupt cert", func(t *testing.T, dir string) {
			writeOrFail(t, filepath.Join(dir, "server.pem"), []byte("junk"), 0o644)
		}, hosts, t0, false},
		{"missing key", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "server.key")); err != nil {
				t.Fatal(err)
			}
		}, hosts, t0, false},
		{"loose key mode", func(t *testing.T, dir string) {
			if err := os.Chmod(filepath.Join(dir, "server.key"), 0o640); err != nil {
				t.Fatal(err)
			}
		}, hosts, t0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			// The CA predates t0 so that it is valid when the clock jumps back.
			a := mustAuthorityAt(t, filepath.Join(dir, "ca"), t0.Add(-48*time.Hour))
			first, err := LoadOrCreateServerCert(dir, a, hosts, t0)
			if err != nil {
				t.Fatal(err)
			}
			if tc.setup != nil {
				tc.setup(t, dir)
			}
			now := tc.now
			second, err := LoadOrCreateServerCert(dir, a, tc.hosts, now)
			if err != nil {
				t.Fatal(err)
			}
			if got := bytes.Equal(first.Certificate[0], second.Certificate[0]); got != tc.reused {
				t.Fatalf("reused = %v, want %v", got, tc.reused)
			}
			if !ServerCertUsable(second.Leaf, a, tc.hosts, now) {
				t.Error("returned certificate is not usable at now")
			}
			if got := fileMode(t, filepath.Join(dir, "server.key")); got != 0o600 {
				t.Errorf("server.key mode %04o", got)
			}
			third, err := LoadOrCreateServerCert(dir, a, tc.hosts, now)
			if err != nil || !bytes.Equal(third.Certificate[0], second.Certificate[0]) {
				t.Errorf("the reissued certificate was not persisted (err %v)", err)
			}
		})
	}
}

func TestServerCert_OtherCAReissues(t *testing.T) {
	dir := t.TempDir()
	a := mustAuthority(t, filepath.Join(dir, "a"))
	b := mustAuthority(t, filepath.Join(dir, "b"))
	first, err := LoadOrCreateServerCert(dir, a, []string{"h"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	second, err := LoadOrCreateServerCert(dir, b, []string{"h"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(first.Certificate[0], second.Certificate[0]) {
		t.Fatal("certificate of another CA was reused")
	}
}

func writeOrFail(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
}

func TestLoadKeyPair(t *testing.T) {
	dir := t.TempDir()
	a := mustAuthority(t, filepath.Join(dir, "ca"))
	certPEM, keyPEM, err := a.IssueClient("srv", time.Hour, t0)
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey, err := SelfSignedDevice("x", time.Hour, t0)
	if err != nil {
		t.Fatal(err)
	}
	chain := append(append([]byte{}, certPEM...), a.CertPEM...)
	p := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		writeOrFail(t, path, data, 0o600)
		return path
	}
	good, goodKey := p("good.pem", chain), p("good.key", keyPEM)
	for _, tc := range []struct {
		name, cert, key, want string
	}{
		{"ok", good, goodKey, ""},
		{"missing cert", filepath.Join(dir, "nope.pem"), goodKey, "read certificate file"},
		{"missing key", good, filepath.Join(dir, "nope.key"), "read key file"},
		{"key in cert file", p("k.pem", keyPEM), goodKey, "no CERTIFICATE"},
		{"cert in key file", good, p("c.key", certPEM), "no private key"},
		{"mismatch", good, p("other.key", otherKey), "does not match"},
		{"corrupt key", good, p("bad.key", []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")), "parse PKCS#8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := LoadKeyPair(tc.cert, tc.key)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(c.Certificate) != 2 || c.Leaf == nil || c.Leaf.Subject.CommonName != "srv" {
					t.Errorf("chain %d, leaf %v", len(c.Certificate), c.Leaf)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
