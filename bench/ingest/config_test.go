package main

import (
	"strings"
	"testing"
)

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
		{"rate adds the steady mode", []string{"-rate", "500"}, "", 3},
		{"steady alone", []string{"-modes", "steady", "-rate", "500", "-duration", "20s"}, "", 1},
		{"pipelined alone with the latency window", []string{"-modes", "pipelined", "-pipeline", "1"}, "", 1},
		{"steady without a rate", []string{"-modes", "steady"}, "-rate", 0},
		{"rate without steady", []string{"-modes", "latency", "-rate", "5"}, "-rate", 0},
		{"steady with paho", []string{"-rate", "5", "-client", "paho"}, "client raw", 0},
		{"bad steady window", []string{"-rate", "5", "-steady-window", "0"}, "-steady-window", 0},
		{"bad mode", []string{"-modes", "latency,burst"}, "unknown mode", 0},
		{"negative probe", []string{"-sync-probe", "-1"}, "-sync-probe", 0},
		{"nothing to run", []string{"-modes", "pipelined", "-pipeline", "0"}, "no mode", 0},
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
