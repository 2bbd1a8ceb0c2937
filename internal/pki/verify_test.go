package pki

import (
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // thumbprint test
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

func mustCert(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	c, err := CertificateFromPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// intermediate builds an intermediate CA under a, as an Authority.
func intermediate(t *testing.T, a *Authority) *Authority {
	t.Helper()
	key, err := newKey()
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := a.leafTemplate("Intermediate", t0, 365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	tmpl.KeyUsage = x509.KeyUsageCertSign
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.Cert, key.Public(), a.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &Authority{Cert: c, Key: key, CertPEM: encodeCertPEM(der)}
}

func TestVerifyChain_F5_C4(t *testing.T) {
	ca := mustAuthority(t, t.TempDir())
	other := mustAuthority(t, t.TempDir())
	inter := intermediate(t, ca)
	devPEM, _, err := ca.IssueClient("dev1", 24*time.Hour, t0)
	if err != nil {
		t.Fatal(err)
	}
	dev := mustCert(t, devPEM)
	viaPEM, _, err := inter.IssueClient("dev2", 24*time.Hour, t0)
	if err != nil {
		t.Fatal(err)
	}
	via := mustCert(t, viaPEM)
	selfPEM, _, err := SelfSignedDevice("dev3", 24*time.Hour, t0)
	if err != nil {
		t.Fatal(err)
	}
	self := mustCert(t, selfPEM)
	roots := []*x509.Certificate{ca.Cert}
	for _, tc := range []struct {
		name          string
		leaf          *x509.Certificate
		intermediates []*x509.Certificate
		roots         []*x509.Certificate
		now           time.Time
		want          error // nil: valid; errAny: any error
	}{
		{"CA-signed device", dev, nil, roots, t0, nil},
		{"CA-signed at last second", dev, nil, roots, dev.NotAfter, nil},
		{"expired per now", dev, nil, roots, t0.Add(25 * time.Hour), ErrCertExpired},
		{"not yet valid per now", dev, nil, roots, t0.Add(-time.Hour), ErrCertNotYetValid},
		{"within backdate", dev, nil, roots, t0.Add(-Backdate + time.Second), nil},
		{"unrelated CA", dev, nil, []*x509.Certificate{other.Cert}, t0, ErrUnknownAuthority},
		{"through intermediate", via, []*x509.Certificate{inter.Cert}, roots, t0, nil},
		{"intermediate missing", via, nil, roots, t0, ErrUnknownAuthority},
		{"self-signed against itself", self, nil, []*x509.Certificate{self}, t0, nil},
		{"self-signed against CA", self, nil, roots, t0, ErrUnknownAuthority},
		{"no roots", dev, nil, nil, t0, ErrNoRoots},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyChain(tc.leaf, tc.intermediates, tc.roots, tc.now)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if err := VerifyChain(nil, nil, roots, t0); err == nil {
		t.Error("nil leaf accepted")
	}
}

func TestThumbprints(t *testing.T) {
	certPEM, _, err := SelfSignedDevice("d", time.Hour, t0)
	if err != nil {
		t.Fatal(err)
	}
	c := mustCert(t, certPEM)
	s1, s256 := Thumbprints(c)
	w1 := sha1.Sum(c.Raw) //nolint:gosec // test
	w256 := sha256.Sum256(c.Raw)
	if s1 != strings.ToUpper(hex.EncodeToString(w1[:])) || len(s1) != 40 {
		t.Errorf("sha1 %s", s1)
	}
	if s256 != strings.ToUpper(hex.EncodeToString(w256[:])) || len(s256) != 64 {
		t.Errorf("sha256 %s", s256)
	}
	colon := func(s string) string {
		var parts []string
		for i := 0; i < len(s); i += 2 {
			parts = append(parts, s[i:i+2])
		}
		return strings.Join(parts, ":")
	}
	for _, tc := range []struct {
		name, tp string
		match    bool
	}{
		{"sha1 upper", s1, true},
		{"sha1 lower", strings.ToLower(s1), true},
		{"sha1 colons", colon(strings.ToLower(s1)), true},
		{"sha256", s256, true},
		{"sha256 colons", colon(s256), true},
		{"sha256 spaces", " " + strings.ToLower(s256) + " ", true},
		{"other", strings.Repeat("A", 40), false},
		{"truncated", s1[:39], false},
		{"not hex", strings.Repeat("G", 40), false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := MatchThumbprint(c, tc.tp); got != tc.match {
				t.Fatalf("MatchThumbprint = %v", got)
			}
		})
	}
	if !MatchThumbprint(c, "", "bad", s1) {
		t.Error("second thumbprint not tried")
	}
	if ThumbprintsEqual("zz", "zz") {
		t.Error("invalid thumbprints compared equal")
	}
	if MatchThumbprint(nil, s1) {
		t.Error("nil certificate matched")
	}
}

func TestCertificatesFromPEM(t *testing.T) {
	a := mustAuthority(t, t.TempDir())
	leafPEM, keyPEM, err := a.IssueClient("d", time.Hour, t0)
	if err != nil {
		t.Fatal(err)
	}
	mixed := append(append(append([]byte{}, keyPEM...), leafPEM...), a.CertPEM...)
	certs, err := CertificatesFromPEM(mixed)
	if err != nil || len(certs) != 2 || certs[0].Subject.CommonName != "d" {
		t.Fatalf("certs %d err %v", len(certs), err)
	}
	for _, bad := range []string{"", "junk", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"} {
		if _, err := CertificateFromPEM([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzCertificateFromPEM(f *testing.F) {
	certPEM, keyPEM, err := SelfSignedDevice("seed", time.Hour, t0)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range [][]byte{certPEM, keyPEM, append(keyPEM, certPEM...), []byte("junk"), nil,
		[]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := CertificateFromPEM(data)
		if (c == nil) == (err == nil) {
			t.Fatalf("cert %v with err %v", c, err)
		}
		_, _ = ParsePrivateKeyPEM(data)
	})
}

func FuzzNormalizeThumbprint(f *testing.F) {
	for _, s := range []string{strings.Repeat("ab", 20), strings.Repeat("AB:", 31) + "CD", "", "g", strings.Repeat("0", 64)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := NormalizeThumbprint(s)
		if err != nil {
			return
		}
		if len(n) != 40 && len(n) != 64 || strings.ToUpper(n) != n {
			t.Fatalf("normalized %q to %q", s, n)
		}
		if !ThumbprintsEqual(s, n) {
			t.Fatalf("%q not equal to its normal form", s)
		}
	})
}
