//go:build linux && (amd64 || arm64)

package store

import (
	"os"
	"syscall"
)

// dropCache evicts a file's pages from the page cache
// (posix_fadvise(POSIX_FADV_DONTNEED)), so that the next read of it goes to
// the disk: a cold-cache figure without dropping the whole machine's cache.
// The file must be clean (synced). It reports whether that is supported.
func dropCache(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return true, err
	}
	defer f.Close()
	const dontNeed = 4 // POSIX_FADV_DONTNEED
	if _, _, errno := syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), 0, 0, dontNeed, 0, 0); errno != 0 {
		return true, errno
	}
	return true, nil
}
