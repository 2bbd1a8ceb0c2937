//go:build unix

package broker

import (
	"fmt"
	"syscall"
)

// openFileLimit returns the soft RLIMIT_NOFILE of the process.
func openFileLimit() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("broker: getrlimit nofile: %w", err)
	}
	return uint64(rl.Cur), nil // Cur is int64 on some BSDs
}
