package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// procSample is a broker process's resident memory and open descriptors at one moment.
type procSample struct {
	RSS int64 `json:"rssBytes"` // VmRSS
	FDs int   `json:"fds"`      // entries of /proc/PID/fd
}

// sample reads /proc/PID/status and /proc/PID/fd (Linux).
func sample(pid int) (procSample, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procSample{}, fmt.Errorf("conns: broker status: %w", err)
	}
	rss, err := vmRSS(status)
	if err != nil {
		return procSample{}, err
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return procSample{}, fmt.Errorf("conns: broker descriptors: %w", err)
	}
	return procSample{RSS: rss, FDs: len(fds)}, nil
}

// vmRSS returns the VmRSS line of a /proc/PID/status text in bytes (the kernel prints kB).
func vmRSS(status []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("conns: parse VmRSS %q: %w", v, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("conns: no VmRSS in /proc status")
}
