package store

import (
	"fmt"
	"io"
	"os"
)

// FS is the file work the log needs. Everything the store reads, writes,
// syncs or deletes goes through it, so that tests can substitute a file
// system that forgets un-synced writes (RELIABILITY.md H4).
type FS interface {
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	Remove(name string) error
	// Rename replaces newname with oldname atomically (index files are
	// written to a temporary name, synced, then renamed into place).
	Rename(oldname, newname string) error
	ReadDir(dir string) ([]string, error) // names only, sorted
	MkdirAll(dir string, perm os.FileMode) error
	// SyncDir makes the directory's entries (files created, renamed or
	// removed in it) durable.
	SyncDir(dir string) error
}

// File is an open segment or index file. The store writes with WriteAt
// only: records go at the committed offset, which may lie inside space the
// store filled with zeros ahead of time (see doc.go, Preallocation), so
// files are never opened with os.O_APPEND.
type File interface {
	io.ReaderAt
	io.WriterAt
	Sync() error // makes the data and the size durable (fdatasync is enough)
	Truncate(size int64) error
	Size() (int64, error)
	Close() error
}

// OSFS returns the operating system's file system. Its File.Sync uses
// fdatasync where the platform has it: the store only writes file data and
// changes sizes, and fdatasync still flushes the file size, which is all the
// metadata a reader needs.
func OSFS() FS { return osFS{} }

type osFS struct{}

var _ FS = osFS{}

func (osFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Remove(name string) error { return os.Remove(name) }

func (osFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }

func (osFS) MkdirAll(dir string, perm os.FileMode) error { return os.MkdirAll(dir, perm) }

func (osFS) ReadDir(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir) // sorted by name
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names, nil
}

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

type osFile struct{ *os.File }

func (f osFile) Sync() error { return datasync(f.File) }

func (f osFile) Size() (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("stat %s: %w", f.Name(), err)
	}
	return fi.Size(), nil
}
