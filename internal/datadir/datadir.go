// Package datadir guards a role's data directory against a second process: the cloud (and the
// edge hub after it) holds an exclusive lock on DIR/LOCK for its whole life, so two processes
// never append to the same logs and databases, where each would lose what the other
// acknowledged. The lock is an advisory flock on Unix: the kernel drops it when the holder
// exits, kill -9 included, so there is no stale lock to clean up after a crash.
package datadir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// LockFile is the name of the lock file inside a data directory.
const LockFile = "LOCK"

// ErrLocked reports a data directory held by another process; the *LockedError that carries
// it names the directory and the holder.
var ErrLocked = errors.New("datadir: in use by another process")

// LockedError is returned by Lock when another process holds the directory.
type LockedError struct {
	Dir string
	PID int // the holder's pid as it wrote it; 0 when unknown
}

func (e *LockedError) Error() string {
	holder := "another process"
	if e.PID > 0 {
		holder = "process " + strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("datadir: %s is in use by %s (lock file %s); stop it first or choose another data directory",
		e.Dir, holder, filepath.Join(e.Dir, LockFile))
}

// Is makes errors.Is(err, ErrLocked) true for a *LockedError.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// Lock is a held data-directory lock.
type Lock struct {
	f *os.File
}

// Acquire creates dir if needed and locks it for this process, writing the pid into DIR/LOCK.
// It fails at once with a *LockedError when another process holds the lock (no waiting: a
// second server is an operator's mistake, not contention). The pid is informational: when it
// cannot be written (a full disk) the lock is still held and returned.
func Acquire(dir string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("datadir: create %s: %w", dir, err)
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("datadir: open %s: %w", path, err)
	}
	held, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("datadir: lock %s: %w", path, err)
	}
	if !held {
		pid := readPID(f)
		f.Close()
		return nil, &LockedError{Dir: dir, PID: pid}
	}
	_ = writePID(f, os.Getpid()) // see the doc comment: the lock matters, the pid only helps
	return &Lock{f: f}, nil
}

// Release drops the lock. The file stays: removing it would let a process that opened it
// before the removal and one that creates a new one both believe they hold the lock.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := unlock(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	if err != nil {
		return fmt.Errorf("datadir: release lock: %w", err)
	}
	return nil
}

func readPID(f *os.File) int {
	buf := make([]byte, 32)
	n, _ := f.ReadAt(buf, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// writePID overwrites the file in place and then cuts it to length: on a full disk an
// overwrite of the block the previous holder wrote needs no new space, where a truncate to 0
// and a fresh write could.
func writePID(f *os.File, pid int) error {
	s := strconv.Itoa(pid) + "\n"
	if _, err := f.WriteAt([]byte(s), 0); err != nil {
		return err
	}
	return f.Truncate(int64(len(s)))
}
