package main

import (
	"os"
	"runtime"
	"testing"
	"time"
)

func TestParseStat_NameWithSpacesAndParens(t *testing.T) {
	line := []byte("4242 (my (odd) broker) S 1 4242 4242 0 -1 4194560 1203 0 0 0 250 37 0 0 20 0 9 0 1234 1000000 500 18446744073709551615\n")
	ps, err := parseStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if ps.User != 2500*time.Millisecond || ps.System != 370*time.Millisecond {
		t.Errorf("user %v system %v, want 2.5s and 370ms (250 and 37 ticks at 100 Hz)", ps.User, ps.System)
	}
	for _, bad := range []string{"", "1 (x) S 1 2", "1 (x) S 1 2 3 4 5 6 7 8 9 10 ten 12"} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q) succeeded", bad)
		}
	}
}

func TestParseStatmRSS(t *testing.T) {
	rss, err := parseStatmRSS([]byte("5000 1200 300 10 0 900 0\n"), 4096)
	if err != nil || rss != 1200*4096 {
		t.Errorf("parseStatmRSS = %d, %v; want %d", rss, err, 1200*4096)
	}
	if _, err := parseStatmRSS([]byte("5000"), 4096); err == nil {
		t.Error("one field accepted")
	}
}

func TestReadProcStat_Self(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("no /proc off Linux; the tool needs Linux")
	}
	ps, err := readProcStat(os.Getpid())
	if err != nil {
		t.Fatal(err) // on Linux the live format must parse
	}
	if ps.RSS <= 0 {
		t.Errorf("own RSS %d", ps.RSS)
	}
}

func TestProbeSync(t *testing.T) {
	dir := t.TempDir()
	lats, err := probeSync(dir, 20)
	if err != nil {
		t.Fatal(err)
	}
	if len(lats) != 20 {
		t.Fatalf("%d samples, want 20", len(lats))
	}
	s := summarizeSync(dir, lats)
	if s.Samples != 20 || s.P50 <= 0 || s.P99 < s.P50 || s.Max < s.P99 {
		t.Errorf("summary %+v", s)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("probe left %d files behind", len(left))
	}
}
