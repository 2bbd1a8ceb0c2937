package pki

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileAtomic_SEC16_ReplacesAndSetsMode(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "k")
	writeOrFail(t, p, []byte("old"), 0o644)
	if err := writeFileAtomic(p, []byte("new"), keyFileMode); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil || string(b) != "new" {
		t.Fatalf("content %q, err %v", b, err)
	}
	if got := fileMode(t, p); got != keyFileMode {
		t.Errorf("mode %04o, want %04o", got, keyFileMode)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want 1 (temp file left?)", len(entries))
	}
	if err := writeFileAtomic(filepath.Join(dir, "missing", "k"), nil, keyFileMode); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}

func TestParsePrivateKeyPEM_Formats(t *testing.T) {
	k, pkcs8 := mustKeyPEM(t)
	for _, tc := range []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"pkcs8", pkcs8, true},
		{"pkcs8 after a certificate", append([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), pkcs8...), true},
		{"sec1 garbage", []byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"), false},
		{"pkcs1 garbage", []byte("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"), false},
		{"empty", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParsePrivateKeyPEM(tc.in)
			if tc.ok != (err == nil) {
				t.Fatalf("err = %v", err)
			}
			if tc.ok && !publicKeysEqual(s.Public(), k.Public()) {
				t.Fatal("different key")
			}
		})
	}
}
