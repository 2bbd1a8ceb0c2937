package iothub

import (
	"encoding/base64"
	"flag"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

func signB64(t *testing.T, key, sr, se string) string {
	t.Helper()
	k, err := base64.StdEncoding.DecodeString(key)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sign(k, sr, se))
}
