//go:build !linux

package main

import "os"

// datasync falls back to a full fsync where fdatasync is not available, as internal/store does.
func datasync(f *os.File) error { return f.Sync() }
