package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"testing"

	"github.com/outpost-iot/outpost/bench/mqttload"
	"github.com/outpost-iot/outpost/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		targets int
	}{
		{"defaults", nil, "", 4},
		{"some targets, repeated", []string{"-targets", "outpost-tls, mosquitto-tls,outpost-tls"}, "", 2},
		{"bad target", []string{"-targets", "emqx"}, "unknown target", 0},
		{"no target", []string{"-targets", ","}, "no targets", 0},
		{"bad counts", []string{"-conns", "0"}, "-conns", 0},
		{"bad keep-alive", []string{"-keepalive", "1s"}, "-keepalive", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseFlags(tc.args, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(o.targets) != tc.targets || o.conns != 5000 || o.budget != defaultBudget {
				t.Errorf("targets %v, conns %d, budget %d", o.targets, o.conns, o.budget)
			}
		})
	}
}

func TestVMRSS(t *testing.T) {
	got, err := vmRSS([]byte("Name:\tmosquitto\nVmPeak:\t  20000 kB\nVmRSS:\t    9728 kB\nThreads:\t1\n"))
	if err != nil || got != 9728<<10 {
		t.Errorf("vmRSS = %d, %v; want %d", got, err, 9728<<10)
	}
	if _, err := vmRSS([]byte("Name:\tx\n")); err == nil {
		t.Error("no VmRSS line: no error")
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, "connected"},
		{fmt.Errorf("wrapped: %w", &mqttload.RefusedError{ClientID: "d", Code: 3}), "connack 0x03"},
		{fmt.Errorf("mqttload: read connack: %w", io.EOF), "closed"},
		{fmt.Errorf("read: %w", syscall.ECONNRESET), "closed"},
		{errors.New("dial: connection refused"), "error: dial: connection refused"},
	} {
		if got := classify(tc.err); got != tc.want {
			t.Errorf("classify(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestReport_DerivedFiguresRatiosAndChecks(t *testing.T) {
	o, err := parseFlags([]string{"-conns", "1000", "-budget", "50000"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ok := outcome{Result: "connected", Millis: 2}
	results := []result{
		{Target: "outpost-tls", Conns: 1000, ConnectSec: 2, Before: procSample{RSS: 10 << 20, FDs: 16},
			Held: procSample{RSS: 10<<20 + 60_000_000, FDs: 1016}, After: procSample{FDs: 18},
			Probe: ok, OverCap: outcome{Result: "connack 0x03", Millis: 1}},
		{Target: "outpost-tcp", Conns: 1000, ConnectSec: 1, Before: procSample{RSS: 10 << 20, FDs: 16},
			Held: procSample{RSS: 10<<20 + 30_000_000, FDs: 1016}, After: procSample{FDs: 16},
			Probe: outcome{Result: "connected", Millis: 1500}, OverCap: ok},
		{Target: "mosquitto-tls", Conns: 1000, ConnectSec: 1, Before: procSample{RSS: 1 << 20, FDs: 9},
			Held: procSample{RSS: 1<<20 + 15_000_000, FDs: 1009}, After: procSample{FDs: 9}, Probe: ok, OverCap: ok},
	}
	rep := newReport(o, 20000, results)
	if r := rep.Results[0]; r.BytesPerConn != 60000 || r.FDsPerConn != 1 || r.FDLeak != 2 {
		t.Errorf("outpost-tls derived: %+v", r)
	}
	if len(rep.Ratios) != 1 || *rep.Ratios[0].BytesPerConn != 4 || *rep.Ratios[0].ConnectTime != 2 {
		t.Errorf("ratios: %+v", rep.Ratios)
	}
	want := []string{
		"outpost-tls: 60000 bytes per idle connection, budget 50000, 2 descriptors leaked",
		"outpost-tcp: probe client: connected after 1500 ms, over the cap: connected after 2 ms",
	}
	if got := rep.failedChecks(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("failed checks:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var text strings.Builder
	rep.writeText(&text)
	for _, s := range []string{"outpost-tls", "4.00x", "FAIL: 60000 bytes"} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("text report lacks %q:\n%s", s, text.String())
		}
	}
}
