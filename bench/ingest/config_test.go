package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestMosquittoConfig_Golden(t *testing.T) {
	got := mosquittoConfig("127.0.0.1:1883", "127.0.0.1:8883",
		certFiles{CA: "/t/ca.pem", Cert: "/t/server.pem", Key: "/t/server.key"}, "root")
	path := filepath.Join("testdata", "mosquitto.conf.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("mosquitto config:\n%s\nwant:\n%s", got, want)
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		modes   int
	}{
		{"defaults", nil, "", 2},
		{"pipeline off", []string{"-pipeline", "0"}, "", 1},
		{"pipeline equal to inflight runs once", []string{"-inflight", "16"}, "", 1},
		{"bad target", []string{"-targets", "emqx"}, "unknown target", 0},
		{"bad counts", []string{"-devices", "0", "-inflight", "0"}, "-devices", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseFlags(tc.args, &strings.Builder{})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n := len(o.modes()); n != tc.modes {
				t.Errorf("%d modes, want %d", n, tc.modes)
			}
		})
	}
}
