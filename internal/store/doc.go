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
// their first record (zero padding makes name order seq order). Other files
// in the directory are ignored. The newest segment is the active one; the
// writer appends only to it. The others are sealed and never written again.
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
// place is detected even when its own bytes are intact. testdata/format-v1
// pins the format byte for byte (TestFormat_Golden).
//
// # Commit and fsync policy
//
// One writer goroutine takes everything queued since its last commit as one
// group (at most 4 MiB of records or 4096 calls; a call's records are never
// split) and commits it:
//
//  1. If the active segment has reached Options.SegmentBytes, roll: sync the
//     old segment, create the next one (named by the next seq), sync the
//     directory. The new file's entry is durable before any record goes in.
//  2. Encode the group and write it to the active segment with one Write,
//     then one Sync (fdatasync on Linux: the file only grows, and fdatasync
//     still flushes the size).
//  3. Only then: advance Last, wake Wait channels, answer every caller of the
//     group (Append returns, AppendAsync's done runs).
//
// So an acknowledged record is on stable storage, and readers never see a
// record that a crash could take back. The MaxBytes policy then runs on the
// writer, after the callers are answered and before the next group, so
// deleting a segment never delays an acknowledgement.
//
// Deleting segments (trims and the MaxBytes policy) goes oldest first, one
// Remove then one directory sync per segment; if that sync fails, the next
// deletion retries it before removing anything else. After a power loss the
// log is therefore always a suffix of what it was, never a log with a hole
// in the middle.
//
// # Failures while appending
//
// A failed Write or Sync fails every caller of the group with the error
// (wrapped); their seqs were never handed out and go to the next group.
// Before the next group the writer truncates the active segment back to the
// last committed size and syncs that; if the truncate or its sync fails,
// that next group fails too (without writing) and the repair is retried
// before each group until it works. A disk that fills up therefore refuses
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
// Open lists the segments and scans each from the start, checking every
// record (crc, expected seq, length within the file); a zero-filled header,
// a bad checksum, a wrong seq, or a record running past the end of the file
// ends the segment's valid prefix. While scanning it builds a sparse index
// (seq -> offset every 64 KiB) that lets Read start near any seq.
//
//   - In the active (last) segment, anything after the valid prefix is a torn
//     write: it is truncated away (logged at warn, counted in
//     Stats.Truncated) and the cut is synced before anything is appended.
//   - In a sealed segment, a bad record is corruption (sealed segments were
//     synced before the roll): logged at error, counted in Stats.Corrupt,
//     the valid prefix is served, the rest of that file is left untouched on
//     disk, and reading continues with the next segment. A gap in seqs
//     exists only there (records missing at the end of a sealed segment are
//     reported the same way).
//   - Records of a sealed segment from the next segment's first seq on are
//     treated as corruption too (segments never overlap).
//   - The next seq follows the highest valid seq of the active segment, or is
//     the active segment's name when it is empty: the active segment is never
//     deleted, so Last survives a restart even after every record was
//     trimmed, and seqs are never reused.
//
// I/O errors while scanning fail Open rather than being mistaken for a torn
// tail; bytes on disk never do, and never cause a panic (FuzzOpenSegment).
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
// bit rot after Open is reported (as an error, after the good records
// before it) instead of delivered. Each segment keeps one open file for
// reads; a reader pins it, so a trim that deletes the file underneath
// (POSIX unlink semantics) does not disturb a read in progress.
//
// # Concurrency
//
// All methods are safe for concurrent use. Records queued by one goroutine
// are written in the order queued (one FIFO queue feeds the writer). Close
// stops new appends, waits for the writer to commit what was queued, and
// waits for a running trim. The only goroutine is the writer; Open starts it
// and Close stops it.
package store
