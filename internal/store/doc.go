// Package store is Outpost's durable segment log: an append-only, crash-safe
// log of records in segment files of one directory. The cloud's D2C event
// store is its first user; the edge hub's store-and-forward queue (readers
// with checkpoints, TTL, a byte cap) is the next, and the API is shaped for
// both: Append/AppendAsync with group commit, Read/Wait for readers that
// follow the tail, TrimBefore/TrimThrough for TTL and checkpoints, and
// Options.MaxBytes for the cap.
//
// This package is hand-written on purpose: it is the product's core, and
// every line of the commit and recovery paths was reasoned about against the
// crash model below and is exercised by the crash tests (RELIABILITY.md A1,
// A4-A8).
//
// # Files
//
// A log is one directory of segment files named %020d.seg by the seq of
// their first record (zero padding makes name order seq order). The newest
// segment is the active one; the writer appends only to it. The others are
// sealed and never written again. A sealed segment is exactly its records;
// the active one is its records followed, while the log is open or after a
// crash, by preallocated zeros. Beside a sealed segment, %020d.idx is its
// index (below), which lets Open skip scanning it; %020d.idx.tmp is one
// being written. Other files in the directory are ignored.
//
// This is format 2. Format 1 (before index files and preallocation) had
// the same segment files; a format-1 log opens as is, Open writes the
// missing indexes, and a format-1 reader would take preallocated zeros for
// a torn tail and cut them (testdata/format-v1 and format-v2 pin both
// byte for byte: TestFormat_Golden, TestIndex_OldLog_v1).
//
// # Record format
//
// Records follow each other with no padding and no file header. All integers
// are little-endian:
//
//	offset  size  field
//	0       4     len       length of data
//	4       4     crc       CRC-32C (Castagnoli) of len, seq, time and data
//	8       8     seq       the record's seq; the first record's is the file name
//	16      8     unixnano  queue time, signed nanoseconds since 1970 UTC
//	24      len   data
//
// The crc covers bytes 0-3 and 8 up to the end of the record: everything but
// itself. Seqs within a segment are consecutive, so a record in the wrong
// place is detected even when its own bytes are intact.
//
// # Index format
//
// An index file says what scanning its sealed segment would find:
//
//	offset  size  field
//	0       8     magic     "OPSTIDX1"
//	8       8     base      seq of the segment's first record (its name)
//	16      8     count     records in the segment (at least 1)
//	24      8     last      seq of its last record: base+count-1
//	32      8     size      bytes of the segment file: exactly its records
//	40      8     maxtime   newest record's queue time, unix ns (for TrimBefore)
//	48      4     n         entries of the sparse index
//	52      16*n  entries   seq uint64, offset int64: where record seq starts;
//	                        the first is (base, 0), then one per 64 KiB or more
//	52+16n  4     crc       CRC-32C of everything before it
//
// It is written when the segment is sealed (by a roll or a seal) and when
// Open had to scan a sealed segment that has none or a bad one: to
// %020d.idx.tmp, synced, renamed to %020d.idx, and the directory synced
// (by the roll's own directory sync, or once at the end of Open). A failure
// to write one is logged and costs only the scan at the next Open. A
// segment found damaged (by Open or by a read) gets no index, so it is
// scanned and its damage reported at every Open. Deleting a segment
// deletes its index after it, in the same directory sync.
//
// # Commit and fsync policy
//
// One writer goroutine takes everything queued since its last commit as one
// group (at most 4 MiB of records or 4096 calls; a call's records are never
// split) and commits it:
//
//  1. If the active segment has reached Options.SegmentBytes, roll: cut the
//     old segment to its records (dropping preallocated zeros) and sync it,
//     write its index, create the next segment (named by the next seq),
//     sync the directory. The new file's entry is durable before any record
//     goes in.
//  2. Encode the group and write it with one WriteAt right after the
//     committed records, then one Sync (fdatasync on Linux, which still
//     flushes the size when the write grew the file).
//  3. Only then: advance Last, wake Wait channels, answer every caller of the
//     group (Append returns, AppendAsync's done runs).
//
// So an acknowledged record is on stable storage, and readers never see a
// record that a crash could take back. The MaxBytes policy and
// preallocation then run on the writer, after the callers are answered and
// before the next group, so neither delays an acknowledgement.
//
// # Cohorts: holding a group open
//
// Most devices send one QoS 1 message and wait for its acknowledgement. Ten
// of them split a plain group commit into two groups per round: the first
// one back after a commit is taken alone, the other nine arrive during its
// sync and form the next group, so every round costs two syncs. Records
// appended through an Appender (one per connection) let the writer do what
// PostgreSQL's commit_delay/commit_siblings do, bounded so that no one
// waits for nothing:
//
//   - After a commit, the writer notes each appender of the group and
//     whether it is awaited: it came back within the cohort wait (1 ms)
//     after each of its previous promptStreak (3) commits, i.e. it waits
//     for each commit and returns one round trip later. An appender on a
//     timer, or one seen once, is not awaited.
//   - The next group, once it has taken what is queued, is held open until
//     every awaited appender of the last group is back in it, or the cohort
//     wait is over. On the development machine, with ten such devices on a
//     busy CPU, a 0.3 ms wait gathered 8.4 of them per group on average
//     and 0.6 ms all ten (bench/ingest, latency mode); and a commit
//     costs about 45 µs of system CPU there whatever its size, so holding
//     the group for them is cheaper than a second commit.
//   - A lone appender is its own cohort: it is back as soon as it is
//     expected, so its groups are never held. An awaited appender that stops
//     costs one wait, once; plain Append/AppendAsync callers are never
//     awaited.
//
// The cohort changes only when records are committed, never what is
// committed or how: every guarantee above holds as is.
//
// # Preallocation
//
// A commit's fdatasync is the floor of append latency. When the write grows
// the file, the fdatasync also waits for a journal commit of the new size
// and block allocation; a write into blocks that were already written and
// synced changes no metadata and skips it (on the development machine's
// ext4: about 95 µs instead of 140-180 µs; fallocate'd space does not help,
// as its unwritten extents still need a journal commit on first write). So
// the writer keeps the active segment ahead of its records in zero-filled
// chunks of 1 MiB: after a commit, when less than half a chunk is left, it
// writes zeros up to the next chunk boundary and syncs them (about 0.7 ms,
// once per MiB of records; never past SegmentBytes, so the group that
// crosses it grows the file). A failed preallocation is logged and costs
// only speed.
//
// The zeros are never records: a zero header ends a segment's records. A
// roll cuts the old segment to its records before sealing it, and Close
// cuts the active one, so only a crash leaves zeros on disk, and only in
// the active segment. Stats.Bytes counts records (and corrupt ranges kept
// on disk), not preallocated space, which Stats.Preallocated reports (at
// most 1.5 MiB); MaxBytes caps Stats.Bytes.
//
// Deleting segments (trims and the MaxBytes policy) goes oldest first, one
// Remove then one directory sync per segment; if that sync fails, the next
// deletion retries it before removing anything else. After a power loss the
// log is therefore always a suffix of what it was, never a log with a hole
// in the middle.
//
// Only sealed segments are deleted. TrimBefore also deletes the active
// segment once every record in it has expired (else a log that stops
// receiving records would keep its last ones forever): it asks the writer,
// which owns the active segment, to seal it first, exactly as a roll does,
// between two groups. The new, empty active segment is named by the next
// seq and its directory entry is durable before the old one is removed, so
// Last survives a restart. If the seal fails after creating the new file,
// the roll is retried before the next group is written (as a failed size
// roll is): no record ever goes into a segment while a file named after it
// may exist. TrimThrough and MaxBytes never seal: a queue trims through
// its checkpoint each time it drains, and each seal starts a new segment.
//
// # Failures while appending
//
// A failed WriteAt or Sync fails every caller of the group with the error
// (wrapped); their seqs were never handed out and go to the next group.
// Before the next group the writer truncates the active segment back to the
// last committed size (dropping the preallocated space with the failed
// group's bytes; the next commit preallocates again) and syncs that, so the
// next group never lands in front of leftovers of the failed one; if the
// truncate or its sync fails, that next group fails too (without writing)
// and the repair is retried before each group until it works. A disk that fills up therefore refuses
// appends, with errors, and resumes on its own when space frees (A7).
//
// A failed group never becomes visible as acknowledged. It can reappear
// after a crash only if the crash comes after its bytes reached the disk
// (an fsync that failed may still have written them) and before the repair
// was durable: its records then come back under the seqs they were given,
// consecutive with the acknowledged ones and checksummed, and the log goes
// on after them. The caller was told the append failed, so it sees at most a
// duplicate of something it retried: at-least-once, never loss or garbage.
// The same holds for any record whose caller had not been answered when the
// process died.
//
// # Recovery (Open)
//
// Open lists the segments. A sealed segment with an index whose checksum
// and fields are valid and whose size is the segment file's size is taken
// from the index without reading the segment: sealed segments never change
// after their index is written (a roll cuts and syncs the segment first,
// and nothing writes to it again), so an index that matches the size
// describes the bytes. Any other segment, and always the active one, is
// scanned from the start, checking every record (crc, expected seq, length
// within the file); a zero-filled header, a bad checksum, a wrong seq, or a
// record running past the end of the file ends the segment's valid prefix.
// Either way Open ends up with the same sparse index (seq -> offset every
// 64 KiB) that lets Read start near any seq, and Open's time grows with the
// active segment, not with the log (about 1.5 ms for a 200 MiB log with an
// 8 MiB active segment on the development machine, against 40 ms to scan
// it all; BenchmarkOpen). Open then writes the missing indexes and removes
// stale ones (a deleted segment's, the active segment's after a crash undid
// a roll) and temporary files.
//
//   - In the active (last) segment, zeros after the valid prefix, and
//     nothing else, are preallocated space: kept for the next appends, not
//     reported. Any non-zero byte there is a torn write (a group written
//     into the zeros whose sectors reached the disk only in part, in any
//     order): everything after the valid prefix is truncated away (logged
//     at warn; the bytes up to the last non-zero one are counted in
//     Stats.Truncated) and the cut is synced before anything is appended,
//     so no piece of it can resurface behind later appends.
//   - In a sealed segment, a bad record is corruption (sealed segments were
//     synced before the roll): logged at error, counted in Stats.Corrupt,
//     the valid prefix is served, the rest of that file is left untouched on
//     disk, and reading continues with the next segment. Damage in a
//     segment Open took from its index is found the same way when a read
//     reaches it (below). A gap in seqs
//     exists only there (records missing at the end of a sealed segment are
//     reported the same way).
//   - Records of a sealed segment from the next segment's first seq on are
//     treated as corruption too (segments never overlap).
//   - The next seq follows the highest valid seq of the active segment, or is
//     the active segment's name when it is empty: the active segment is only
//     deleted once sealed, after a newer one exists, so Last survives a
//     restart even after every record was trimmed, and seqs are never
//     reused.
//
// I/O errors while scanning fail Open rather than being mistaken for a torn
// tail; bytes on disk never do, and never cause a panic (FuzzOpenSegment,
// FuzzOpenIndex). An index that cannot be read is only a reason to scan.
// A record's length is bounded by the file's size and a 1 GiB format limit,
// not by Options.MaxRecord: lowering MaxRecord for an existing log must not
// turn acknowledged records into a "torn tail" that Open would cut off.
//
// A damaged record inside the active segment cannot be told apart from a
// torn write, so the records after it in that segment are cut with it; in
// sealed segments damage costs only the rest of that segment.
//
// # Reading
//
// Read serves only committed bytes and checks every record's crc again, so
// damage is reported instead of delivered. In a sealed segment a bad record
// is handled as Open would have handled it (Open does not scan a segment it
// has an index for): logged, counted in Stats.Corrupt, the rest of the
// segment skipped, and its index removed so that the next Open scans it
// and reports the damage itself. In the active segment it is an error,
// returned after the good records before it, and by every Read that starts
// there. Each segment keeps one open file for reads; a reader pins it, so a
// trim that deletes the file underneath (POSIX unlink semantics) does not
// disturb a read in progress.
//
// # Concurrency
//
// All methods are safe for concurrent use. Records queued by one goroutine
// are written in the order queued (one FIFO queue feeds the writer). Close
// stops new appends, waits for the writer to commit what was queued, and
// waits for a running trim. The only goroutine is the writer; Open starts it
// and Close stops it.
package store
