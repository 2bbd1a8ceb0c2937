//go:build !unix

package datadir

import "os"

// tryLock has no advisory lock to take off Unix; the lock file and its pid are still written,
// but a second process is not refused. Outpost's daemons target Linux.
func tryLock(*os.File) (bool, error) { return true, nil }

func unlock(*os.File) error { return nil }
