package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/outpost-iot/outpost/internal/store"
)

// syncRecord is the size of one probe write: about one 128-byte telemetry record with its
// header, what a commit of a single message writes.
const syncRecord = 160

// syncFileBytes is the probe file's preallocated size, written and synced once before the loop.
const syncFileBytes = 1 << 20

// probeSync measures n fdatasyncs as outpost's event store pays them (internal/store/doc.go,
// "Preallocation"): a small write into a file's already written and synced blocks, then one
// fdatasync. The file is preallocated with zeros first, so no iteration changes metadata; it is
// created in dir (the filesystem of outpost's data directory) and removed afterwards.
// It opens the file through store.OSFS, so each Sync is the store's own (fdatasync on Linux).
func probeSync(dir string, n int) (lats []time.Duration, err error) {
	tmp, err := os.CreateTemp(dir, "syncprobe-")
	if err != nil {
		return nil, fmt.Errorf("ingest: sync probe: %w", err)
	}
	name := tmp.Name()
	if err := tmp.Close(); err != nil {
		return nil, errors.Join(fmt.Errorf("ingest: sync probe: %w", err), os.Remove(name))
	}
	f, err := store.OSFS().OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("ingest: sync probe: %w", err), os.Remove(name))
	}
	defer func() {
		err = errors.Join(err, f.Close(), os.Remove(name))
	}()
	if _, err := f.WriteAt(make([]byte, syncFileBytes), 0); err != nil {
		return nil, fmt.Errorf("ingest: sync probe: preallocate: %w", err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("ingest: sync probe: %w", err)
	}
	rec := make([]byte, syncRecord)
	lats = make([]time.Duration, 0, n)
	for i := range n {
		rec[0] = byte(i) // not the bytes already on disk, so the write is a real change
		off := int64(i*syncRecord) % (syncFileBytes - syncRecord)
		t0 := time.Now()
		if _, err := f.WriteAt(rec, off); err != nil {
			return lats, fmt.Errorf("ingest: sync probe: write: %w", err)
		}
		if err := f.Sync(); err != nil {
			return lats, fmt.Errorf("ingest: sync probe: %w", err)
		}
		lats = append(lats, time.Since(t0))
	}
	return lats, nil
}

// syncStats summarizes every probe of a run.
type syncStats struct {
	Dir     string
	Samples int
	P50     time.Duration
	P99     time.Duration
	Max     time.Duration
}

// summarizeSync pools the probes' samples (sorting lats in place).
func summarizeSync(dir string, lats []time.Duration) syncStats {
	slices.Sort(lats)
	s := syncStats{Dir: dir, Samples: len(lats), P50: Percentile(lats, 50), P99: Percentile(lats, 99)}
	if len(lats) > 0 {
		s.Max = lats[len(lats)-1]
	}
	return s
}

// syncDir is where the probe writes: beside outpost's data directory when outpost runs, so on
// the same filesystem, else the temp directory itself.
func (b *bench) syncDir() string {
	if d := filepath.Join(b.dir, "outpost"); dirExists(d) {
		return d
	}
	return b.dir
}

func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
