package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
)

// crashFS is the H4 crash file system (RELIABILITY.md): an in-memory FS that
// tracks which file bytes were made durable by File.Sync and which directory
// entries by SyncDir, and can then "lose power": Crash keeps only what was
// durable, or a random torn version of what was not (the LazyFS/CrashMonkey
// model, in process).
//
// Every mutating call (create, write, sync, truncate, remove, sync dir) is
// one numbered operation. arm(n) freezes the FS at operation n: that call
// and every later one fail with errCrashed, as if the process had died
// there (a write at the crash point may leave a torn prefix). inject makes
// chosen operations fail without freezing (disk full, EIO), optionally after
// doing part of their work, as a real disk may.
type crashFS struct {
	mu      sync.Mutex // guards everything below and every inode
	rng     *rand.Rand
	gen     int                   // bumped by Crash: older handles are dead
	files   map[string]*inode     // the namespace as the running process sees it
	durable map[string]*inode     // the namespace as of each directory's last SyncDir
	dirs    map[string]bool       // directories (always durable: not modelled)
	ops     int                   // mutating operations so far
	crashAt int                   // freeze at this operation (0: never)
	crashed bool                  // frozen
	faults  map[int]error         // operation -> injected error
	readErr error                 // returned by every ReadAt while set
	removed map[string]uint64     // removed segment -> its next segment's base - 1
	onOp    func(op, name string) // optional trace, for debugging a seed
}

// inode is a file's contents: data as the process sees it, synced as it is
// on disk.
type inode struct {
	data      []byte
	synced    []byte // never shares memory with data
	dirtyFrom int    // data[:dirtyFrom] == synced[:dirtyFrom]: Sync copies only the rest
}

// sync makes the file's data durable.
func (ino *inode) sync() {
	ino.synced = append(ino.synced[:ino.dirtyFrom], ino.data[ino.dirtyFrom:]...)
	ino.dirtyFrom = len(ino.data)
}

// changed notes that data changed from offset off on.
func (ino *inode) changed(off int) { ino.dirtyFrom = min(ino.dirtyFrom, off) }

var errCrashed = errors.New("crashfs: crashed")

// crashMode says what survives a crash of un-synced state.
type crashMode int

const (
	dropUnsynced crashMode = iota // exactly what was made durable
	tornData                      // plus a random part of un-synced writes, the real bytes
	tornZeros                     // ... filled with zeros (space allocated, never written)
	tornGarbage                   // ... filled with random bytes
)

func (m crashMode) String() string {
	return [...]string{"drop-unsynced", "torn", "torn-zeros", "torn-garbage"}[m]
}

func newCrashFS(seed uint64) *crashFS {
	return &crashFS{
		rng:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		files:   map[string]*inode{},
		durable: map[string]*inode{},
		dirs:    map[string]bool{},
		faults:  map[int]error{},
		removed: map[string]uint64{},
	}
}

var _ FS = (*crashFS)(nil)

// arm freezes the FS at the n-th operation from now (n >= 1).
func (c *crashFS) arm(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.crashAt = c.ops + n
}

// inject makes the n-th operation from now fail with err.
func (c *crashFS) inject(n int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults[c.ops+n] = err
}

func (c *crashFS) isCrashed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.crashed
}

// removedBound is the highest seq of any segment ever removed: records up to
// it may be legitimately gone.
func (c *crashFS) removedBound() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b uint64
	for _, v := range c.removed {
		b = max(b, v)
	}
	return b
}

// step numbers a mutating operation and returns its injected outcome.
// Caller holds mu.
func (c *crashFS) step(op, name string) error {
	if c.crashed {
		return errCrashed
	}
	c.ops++
	if c.onOp != nil {
		c.onOp(op, name)
	}
	if c.crashAt > 0 && c.ops >= c.crashAt {
		c.crashed = true
		return errCrashed
	}
	if err, ok := c.faults[c.ops]; ok {
		delete(c.faults, c.ops)
		return err
	}
	return nil
}

// Crash simulates power loss and restart: the namespace and every file
// become what the mode lets survive, all faults are cleared and the FS
// works again. Handles opened before are dead.
func (c *crashFS) Crash(mode crashMode) {
	c.mu.Lock()
	defer c.mu.Unlock()
	names := map[string]bool{}
	for n := range c.files {
		names[n] = true
	}
	for n := range c.durable {
		names[n] = true
	}
	after := map[string]*inode{}
	for _, n := range slices.Sorted(maps.Keys(names)) {
		ino := c.durable[n]
		if cur := c.files[n]; mode != dropUnsynced && cur != ino && c.rng.IntN(2) == 0 {
			ino = cur // an un-synced create or remove that made it to disk anyway
		}
		if ino == nil {
			continue
		}
		data := ino.synced
		if mode != dropUnsynced {
			data = c.tear(ino, mode)
		}
		after[n] = &inode{data: slices.Clone(data), synced: slices.Clone(data), dirtyFrom: len(data)}
	}
	c.files = after
	c.durable = maps.Clone(after)
	c.gen++
	c.crashed, c.crashAt = false, 0
	c.faults = map[int]error{}
	c.readErr = nil
}

// tear returns a torn version of a file: the bytes it shares with its synced
// state, then a random length of the rest, taken from what the process
// wrote (or from what was synced before a truncate) or filled.
func (c *crashFS) tear(ino *inode, mode crashMode) []byte {
	cur, old := ino.data, ino.synced
	p := 0
	for p < len(cur) && p < len(old) && cur[p] == old[p] {
		p++
	}
	hi := max(len(cur), len(old))
	n := p + c.rng.IntN(hi-p+1)
	out := slices.Clone(cur[:p])
	for i := p; i < n; i++ {
		switch {
		case mode == tornZeros:
			out = append(out, 0)
		case mode == tornGarbage:
			out = append(out, byte(c.rng.Uint32()))
		case i < len(cur):
			out = append(out, cur[i])
		default:
			out = append(out, old[i])
		}
	}
	return out
}

func pathErr(op, name string, err error) error { return &os.PathError{Op: op, Path: name, Err: err} }

func (c *crashFS) OpenFile(name string, flag int, _ os.FileMode) (File, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	name = filepath.Clean(name)
	if !c.dirs[filepath.Dir(name)] {
		return nil, pathErr("open", name, fs.ErrNotExist)
	}
	ino := c.files[name]
	mutates := (ino == nil && flag&os.O_CREATE != 0) || (ino != nil && flag&os.O_TRUNC != 0)
	if mutates {
		if err := c.step("open", name); err != nil {
			return nil, pathErr("open", name, err)
		}
	}
	switch {
	case ino == nil && flag&os.O_CREATE == 0:
		return nil, pathErr("open", name, fs.ErrNotExist)
	case ino == nil:
		ino = &inode{}
		c.files[name] = ino
	case flag&os.O_TRUNC != 0:
		ino.data = ino.data[:0:0]
		ino.changed(0)
	}
	writable := flag&(os.O_WRONLY|os.O_RDWR) != 0
	return &memFile{fs: c, ino: ino, name: name, gen: c.gen, writable: writable, appendOnly: flag&os.O_APPEND != 0}, nil
}

func (c *crashFS) Remove(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	name = filepath.Clean(name)
	if err := c.step("remove", name); err != nil {
		return pathErr("remove", name, err)
	}
	if c.files[name] == nil {
		return pathErr("remove", name, fs.ErrNotExist)
	}
	c.noteRemoved(name)
	delete(c.files, name)
	return nil
}

// noteRemoved records the seqs a removed segment may have held: everything
// below the next segment's base.
func (c *crashFS) noteRemoved(name string) {
	var later []uint64
	for n := range c.files {
		if filepath.Dir(n) == filepath.Dir(name) && n > name {
			if b, ok := parseSegmentName(filepath.Base(n)); ok {
				later = append(later, b)
			}
		}
	}
	if len(later) > 0 {
		c.removed[name] = slices.Min(later) - 1
	}
}

func (c *crashFS) ReadDir(dir string) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	dir = filepath.Clean(dir)
	if !c.dirs[dir] {
		return nil, pathErr("readdir", dir, fs.ErrNotExist)
	}
	var names []string
	for n := range c.files {
		if filepath.Dir(n) == dir {
			names = append(names, filepath.Base(n))
		}
	}
	sort.Strings(names)
	return names, nil
}

func (c *crashFS) MkdirAll(dir string, _ os.FileMode) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for d := filepath.Clean(dir); !c.dirs[d]; d = filepath.Dir(d) {
		c.dirs[d] = true
	}
	return nil
}

func (c *crashFS) SyncDir(dir string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	dir = filepath.Clean(dir)
	if err := c.step("syncdir", dir); err != nil {
		return pathErr("fsync", dir, err)
	}
	for n := range c.durable {
		if filepath.Dir(n) == dir && c.files[n] == nil {
			delete(c.durable, n)
		}
	}
	for n, ino := range c.files {
		if filepath.Dir(n) == dir {
			c.durable[n] = ino
		}
	}
	return nil
}

// memFile is an open crashFS file. Writes must be O_APPEND: the store only
// appends, and the model stays small.
type memFile struct {
	fs         *crashFS
	ino        *inode
	name       string
	gen        int
	writable   bool
	appendOnly bool
	closed     bool
}

// live checks the handle; caller holds fs.mu.
func (f *memFile) live(op string) error {
	switch {
	case f.closed:
		return pathErr(op, f.name, os.ErrClosed)
	case f.gen != f.fs.gen:
		return pathErr(op, f.name, errCrashed)
	}
	return nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.live("read"); err != nil {
		return 0, err
	}
	if f.fs.readErr != nil {
		return 0, pathErr("read", f.name, f.fs.readErr)
	}
	if off >= int64(len(f.ino.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.ino.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.live("write"); err != nil {
		return 0, err
	}
	if !f.writable || !f.appendOnly {
		return 0, pathErr("write", f.name, fmt.Errorf("crashfs: only O_APPEND writes are modelled"))
	}
	err := f.fs.step("write", f.name)
	n := len(p)
	if err != nil {
		n = f.fs.rng.IntN(len(p) + 1) // a short write: part may have landed
	}
	f.ino.changed(len(f.ino.data))
	f.ino.data = append(f.ino.data, p[:n]...)
	if err != nil {
		return n, pathErr("write", f.name, err)
	}
	return n, nil
}

func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.live("sync"); err != nil {
		return err
	}
	if err := f.fs.step("sync", f.name); err != nil {
		if !errors.Is(err, errCrashed) && f.fs.rng.IntN(2) == 0 {
			f.ino.sync() // fsync failed, yet the data reached the disk
		}
		return pathErr("sync", f.name, err)
	}
	f.ino.sync()
	return nil
}

func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.live("truncate"); err != nil {
		return err
	}
	if !f.writable {
		return pathErr("truncate", f.name, syscall.EBADF)
	}
	if err := f.fs.step("truncate", f.name); err != nil {
		return pathErr("truncate", f.name, err)
	}
	f.ino.changed(int(min(size, int64(len(f.ino.data)))))
	if size <= int64(len(f.ino.data)) {
		f.ino.data = slices.Clone(f.ino.data[:size])
	} else {
		f.ino.data = append(f.ino.data, make([]byte, size-int64(len(f.ino.data)))...)
	}
	return nil
}

func (f *memFile) Size() (int64, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.live("stat"); err != nil {
		return 0, err
	}
	return int64(len(f.ino.data)), nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return pathErr("close", f.name, os.ErrClosed)
	}
	f.closed = true
	return nil
}

// readFile returns a file's current contents (test inspection).
func (c *crashFS) readFile(name string) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ino := c.files[filepath.Clean(name)]; ino != nil {
		return bytes.Clone(ino.data)
	}
	return nil
}

// writeFile creates a file with contents, durable (test setup).
func (c *crashFS) writeFile(name string, data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	name = filepath.Clean(name)
	for d := filepath.Dir(name); !c.dirs[d]; d = filepath.Dir(d) {
		c.dirs[d] = true
	}
	ino := &inode{data: bytes.Clone(data), synced: bytes.Clone(data), dirtyFrom: len(data)}
	c.files[name] = ino
	c.durable[name] = ino
}

// segmentFiles lists the segment files in dir (test inspection).
func (c *crashFS) segmentFiles(dir string) []string {
	names, _ := c.ReadDir(dir)
	var out []string
	for _, n := range names {
		if strings.HasSuffix(n, segSuffix) {
			out = append(out, n)
		}
	}
	return out
}
