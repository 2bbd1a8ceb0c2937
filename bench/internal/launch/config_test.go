package launch

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestMosquittoConfig_Golden(t *testing.T) {
	certs := CertFiles{CA: "/t/ca.pem", Cert: "/t/server.pem", Key: "/t/server.key"}
	for name, cfg := range map[string]MosquittoConfig{
		"mosquitto.conf":          {Plain: "127.0.0.1:1883", TLS: "127.0.0.1:8883", Certs: certs, RunAs: "root"},
		"mosquitto-maxconns.conf": {Plain: "127.0.0.1:1883", TLS: "127.0.0.1:8883", Certs: certs, MaxConnections: 5001},
	} {
		got := cfg.String()
		path := filepath.Join("testdata", name+".golden")
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
			t.Errorf("%s:\n%s\nwant:\n%s", name, got, want)
		}
	}
}
