//go:build unix

package main

import (
	"fmt"
	"syscall"
)

// raiseNoFile sets the soft RLIMIT_NOFILE to the hard limit and returns it. The call is
// explicit (Go raises its own soft limit at start, but then restores the original one in
// children), so the brokers started afterwards inherit the raised limit too. It fails when
// the hard limit is below need.
func raiseNoFile(need uint64) (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("conns: getrlimit: %w", err)
	}
	if uint64(rl.Max) < need {
		return 0, fmt.Errorf("conns: open-file hard limit %d is below the %d needed: lower -conns or raise it (prlimit --nofile=%d)", rl.Max, need, need)
	}
	rl.Cur = rl.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("conns: setrlimit: %w", err)
	}
	return uint64(rl.Cur), nil
}
