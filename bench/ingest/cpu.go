package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// processCPU returns a probe of the total on-CPU time of every thread of pid, read from
// /proc/PID/task/*/schedstat (nanoseconds, first field). It is Linux-only; elsewhere the probe
// fails and the CPU columns stay empty. Threads that have exited are not counted; neither
// mosquitto (single-threaded) nor the Go runtime retires threads in a steady run.
func processCPU(pid int) func() (time.Duration, error) {
	return func() (time.Duration, error) {
		files, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
		if err != nil || len(files) == 0 {
			return 0, fmt.Errorf("ingest: no schedstat for pid %d", pid)
		}
		var total time.Duration
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				continue // thread exited between Glob and ReadFile
			}
			ns, err := parseSchedstat(data)
			if err != nil {
				return 0, err
			}
			total += ns
		}
		return total, nil
	}
}

// parseSchedstat reads the first field of a schedstat line: time on CPU in nanoseconds.
func parseSchedstat(data []byte) (time.Duration, error) {
	first, _, _ := bytes.Cut(bytes.TrimSpace(data), []byte(" "))
	ns, err := strconv.ParseInt(string(first), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("ingest: parse schedstat %q: %w", data, err)
	}
	return time.Duration(ns), nil
}
