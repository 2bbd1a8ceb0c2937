package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// userHZ is the unit of utime and stime in /proc/PID/stat. The kernel reports them in USER_HZ,
// which is 100 on every Linux architecture Go supports; sysconf(_SC_CLK_TCK) would need cgo.
const userHZ = 100

// procStat is a broker process's CPU times and resident memory at one moment.
type procStat struct {
	User, System time.Duration // utime and stime of /proc/PID/stat, all threads, dead ones included
	RSS          int64         // resident bytes (/proc/PID/statm)
}

// readProcStat reads /proc/PID/stat and /proc/PID/statm (Linux).
func readProcStat(pid int) (procStat, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, fmt.Errorf("ingest: broker stat: %w", err)
	}
	ps, err := parseStat(stat)
	if err != nil {
		return procStat{}, err
	}
	statm, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", pid))
	if err != nil {
		return procStat{}, fmt.Errorf("ingest: broker statm: %w", err)
	}
	ps.RSS, err = parseStatmRSS(statm, int64(os.Getpagesize()))
	return ps, err
}

// parseStat takes utime and stime (fields 14 and 15, in USER_HZ ticks) from a /proc/PID/stat
// line. The command name (field 2) is in parentheses and may contain spaces and parentheses, so
// the fields are counted from the last ')'.
func parseStat(data []byte) (procStat, error) {
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("ingest: parse stat %q: no command name", data)
	}
	f := bytes.Fields(data[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return procStat{}, fmt.Errorf("ingest: parse stat %q: %d fields after the name", data, len(f))
	}
	var ticks [2]int64
	for k, field := range f[11:13] {
		v, err := strconv.ParseInt(string(field), 10, 64)
		if err != nil {
			return procStat{}, fmt.Errorf("ingest: parse stat field %d: %w", 14+k, err)
		}
		ticks[k] = v
	}
	return procStat{User: ticksToDuration(ticks[0]), System: ticksToDuration(ticks[1])}, nil
}

func ticksToDuration(t int64) time.Duration { return time.Duration(t) * time.Second / userHZ }

// parseStatmRSS returns the resident size (second field of /proc/PID/statm, in pages) in bytes.
func parseStatmRSS(data []byte, pageSize int64) (int64, error) {
	f := bytes.Fields(data)
	if len(f) < 2 {
		return 0, fmt.Errorf("ingest: parse statm %q", data)
	}
	pages, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("ingest: parse statm: %w", err)
	}
	return pages * pageSize, nil
}
