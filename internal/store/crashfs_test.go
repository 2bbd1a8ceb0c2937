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
	reads   map[string]int64      // bytes read by ReadAt, per file name (test inspection)
	onOp    func(op, name string) // optional trace, for debugging a seed
}

// inode is a file's contents: data as the process sees it, synced as it is
// on disk, and the ranges written or cut since the last sync (what a crash
// may tear).
type inode struct {
	data   []byte
	synced []byte // never shares memory with data
	dirty  []span // ranges of data changed since the last sync; may overlap
}

// span is the byte range [from, to) of a file.
type span struct{ from, to int }

// sync makes the file's data and size durable.
func (ino *inode) sync() {
	if len(ino.synced) > len(ino.data) {
		ino.synced = ino.synced[:len(ino.data)]
	} else {
		ino.synced = append(ino.synced, make([]byte, len(ino.data)-len(ino.synced))...)
	}
	for _, sp := range ino.dirty {
		if from, to := sp.from, min(sp.to, len(ino.data)); from < to {
			copy(ino.synced[from:to], ino.data[from:to])
		}
	}
	ino.dirty = ino.dirty[:0]
}

// write puts p at off, growing the file (with zeros before off if it was
// shorter).
func (ino *inode) write(p []byte, off int) {
	if end := off + len(p); end > len(ino.data) {
		ino.data = append(ino.data, make([]byte, end-len(ino.data))...)
	}
	copy(ino.data[off:], p)
	ino.dirty = append(ino.dirty, span{off, off + len(p)})
}

// truncate cuts or extends (with zeros) the file to size.
func (ino *inode) truncate(size int) {
	n := len(ino.data)
	ino.dirty = append(ino.dirty, span{min(n, size), max(n, size)})
	if size <= n {
		ino.data = slices.Clone(ino.data[:size])
	} else {
		ino.data = append(ino.data, make([]byte, size-n)...)
	}
}

var errCrashed = errors.New("crashfs: crashed")

// crashMode says what survives a crash of un-synced state.
type crashMode int

const (
	dropUnsynced crashMode = iota // exactly what was made durable
	tornData                      // plus random parts of un-synced writes, the real bytes
	tornZeros                     // ... filled with zeros (space allocated, never written)
	tornGarbage                   // ... filled with random bytes
)

// tearPiece is the largest piece of an un-synced write that a scattered
// tear keeps or drops as a whole (a sector, scaled down to small records).
const tearPiece = 48

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
		reads:   map[string]int64{},
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

// failReads makes every ReadAt fail with err; nil makes reads work again.
func (c *crashFS) failReads(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readErr = err
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
		after[n] = &inode{data: slices.Clone(data), synced: slices.Clone(data)}
	}
	c.files = after
	c.durable = maps.Clone(after)
	c.gen++
	c.crashed, c.crashAt = false, 0
	c.faults = map[int]error{}
	c.readErr = nil
}

// tear returns a torn version of a file. Its size is the synced size, the
// current one or anything between (an un-synced size change may or may not
// have reached the disk); bytes nobody wrote since the last sync are as
// synced (zeros past the synced end: allocated, never written); of the
// bytes written since, random pieces reached the disk: either in order up
// to a random point (an append that got part of the way) or scattered
// pieces of up to tearPiece bytes (sectors written back out of order).
// What reached the disk is the written bytes, zeros or garbage by mode.
func (c *crashFS) tear(ino *inode, mode crashMode) []byte {
	cur, old := ino.data, ino.synced
	lo, hi := min(len(cur), len(old)), max(len(cur), len(old))
	out := make([]byte, lo+c.rng.IntN(hi-lo+1))
	copy(out, old)
	total := 0
	for _, sp := range ino.dirty {
		total += sp.to - sp.from
	}
	ordered, cut := c.rng.IntN(2) == 0, c.rng.IntN(total+1)
	for _, sp := range ino.dirty {
		for i := sp.from; i < min(sp.to, len(out)); {
			end := min(i+1+c.rng.IntN(tearPiece), sp.to, len(out))
			landed := c.rng.IntN(2) == 0
			if ordered {
				end, landed = min(end, i+max(cut, 1)), cut > 0
				cut -= min(cut, end-i)
			}
			if landed {
				c.land(out[i:end], cur, i, mode)
			}
			i = end
		}
	}
	return out
}

// land fills dst, the torn file's bytes from offset off on, with what an
// un-synced write left there.
func (c *crashFS) land(dst, cur []byte, off int, mode crashMode) {
	for j := range dst {
		switch {
		case mode == tornZeros:
			dst[j] = 0
		case mode == tornGarbage:
			dst[j] = byte(c.rng.Uint32())
		case off+j < len(cur):
			dst[j] = cur[off+j]
		}
	}
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
		ino.truncate(0)
	}
	if flag&os.O_APPEND != 0 {
		return nil, pathErr("open", name, fmt.Errorf("crashfs: O_APPEND is not modelled: the store writes with WriteAt"))
	}
	writable := flag&(os.O_WRONLY|os.O_RDWR) != 0
	return &memFile{fs: c, ino: ino, name: name, gen: c.gen, writable: writable}, nil
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

// Rename moves a name to another inode, replacing what newname named. Like
// any directory change it is durable only after SyncDir; a torn crash may
// keep either name's change without the other's (a superset of what a
// journaling file system allows: the store must cope with both or neither).
func (c *crashFS) Rename(oldname, newname string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	oldname, newname = filepath.Clean(oldname), filepath.Clean(newname)
	if err := c.step("rename", oldname); err != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	ino := c.files[oldname]
	if ino == nil || !c.dirs[filepath.Dir(newname)] {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: fs.ErrNotExist}
	}
	c.noteRemoved(newname)
	c.files[newname] = ino
	delete(c.files, oldname)
	return nil
}

// noteRemoved records the seqs a removed segment may have held: everything
// below the next segment's base.
func (c *crashFS) noteRemoved(name string) {
	if _, ok := parseSegmentName(filepath.Base(name)); !ok || c.files[name] == nil {
		return
	}
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

// memFile is an open crashFS file.
type memFile struct {
	fs       *crashFS
	ino      *inode
	name     string
	gen      int
	writable bool
	closed   bool
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
	f.fs.reads[f.name] += int64(n)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteAt writes p at off; a failed or crashed write may leave a prefix of p.
func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.live("write"); err != nil {
		return 0, err
	}
	if !f.writable {
		return 0, pathErr("write", f.name, syscall.EBADF)
	}
	err := f.fs.step("write", f.name)
	n := len(p)
	if err != nil {
		n = f.fs.rng.IntN(len(p) + 1) // a short write: part may have landed
	}
	f.ino.write(p[:n], int(off))
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
	f.ino.truncate(int(size))
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
	ino := &inode{data: bytes.Clone(data), synced: bytes.Clone(data)}
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

// clone returns an independent copy of the FS in its current state (files,
// what is durable, directories), for opening the same crash state twice.
func (c *crashFS) clone() *crashFS {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := newCrashFS(c.rng.Uint64())
	inodes := map[*inode]*inode{} // a name in files and durable shares one inode
	cp := func(ino *inode) *inode {
		if inodes[ino] == nil {
			inodes[ino] = &inode{data: slices.Clone(ino.data), synced: slices.Clone(ino.synced), dirty: slices.Clone(ino.dirty)}
		}
		return inodes[ino]
	}
	for n, ino := range c.files {
		d.files[n] = cp(ino)
	}
	for n, ino := range c.durable {
		d.durable[n] = cp(ino)
	}
	maps.Copy(d.dirs, c.dirs)
	return d
}

// removeIndexes deletes every segment index file in dir, durably (test setup).
func (c *crashFS) removeIndexes(dir string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range []map[string]*inode{c.files, c.durable} {
		for n := range m {
			if _, ok := parseIndexName(filepath.Base(n)); ok && filepath.Dir(n) == filepath.Clean(dir) {
				delete(m, n)
			}
		}
	}
}
