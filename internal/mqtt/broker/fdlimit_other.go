//go:build !unix

package broker

import "errors"

// openFileLimit has no RLIMIT_NOFILE to read on this platform.
func openFileLimit() (uint64, error) {
	return 0, errors.New("broker: no open-file limit on this platform")
}
