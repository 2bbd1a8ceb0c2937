package datadir

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// holder returns the pid written in dir's lock file, 0 if there is none.
func holder(dir string) int {
	f, err := os.Open(filepath.Join(dir, LockFile))
	if err != nil {
		return 0
	}
	defer f.Close()
	return readPID(f)
}

func TestAcquire_SecondIsRefusedWithDirAndPID(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	_, err = Acquire(dir)
	var le *LockedError
	if !errors.As(err, &le) || !errors.Is(err, ErrLocked) {
		t.Fatalf("second Acquire: %v, want a *LockedError", err)
	}
	pid := strconv.Itoa(os.Getpid())
	if le.PID != os.Getpid() || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), pid) {
		t.Fatalf("error %q (pid %d) should name %s and pid %s", err, le.PID, dir, pid)
	}
	if got := holder(dir); got != os.Getpid() {
		t.Fatalf("holder = %d, want %d", got, os.Getpid())
	}
}

func TestRelease_LetsTheNextHolderIn(t *testing.T) {
	dir := t.TempDir()
	// A longer pid left by an earlier holder must not survive as trailing digits.
	if err := os.WriteFile(filepath.Join(dir, LockFile), []byte("123456789012\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := holder(dir); got != os.Getpid() {
		t.Fatalf("holder = %d, want %d", got, os.Getpid())
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(); err != nil {
		t.Fatalf("second Release: %v", err)
	}
	l2, err := Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	_ = l2.Release()
}

func TestLockedError_UnknownHolder(t *testing.T) {
	err := &LockedError{Dir: "/d"}
	if !strings.Contains(err.Error(), "/d is in use by another process") {
		t.Fatal(err)
	}
}
