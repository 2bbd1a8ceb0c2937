package store

import (
	"encoding/binary"
	"hash/crc32"
)

// Record layout (little-endian), see doc.go:
//
//	len uint32 | crc32c uint32 | seq uint64 | unixnano int64 | data[len]
const (
	headerSize = 24

	// maxRecordLimit bounds Options.MaxRecord: a record and its header must
	// fit the uint32 length field with room to spare.
	maxRecordLimit = 1 << 30
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// header is a decoded record header.
type header struct {
	size  uint32 // len(data)
	crc   uint32
	seq   uint64
	nanos int64
}

// appendRecord encodes one record onto buf.
func appendRecord(buf []byte, seq uint64, nanos int64, data []byte) []byte {
	start := len(buf)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(data)))
	buf = binary.LittleEndian.AppendUint32(buf, 0) // crc, filled below
	buf = binary.LittleEndian.AppendUint64(buf, seq)
	buf = binary.LittleEndian.AppendUint64(buf, uint64(nanos))
	buf = append(buf, data...)
	rec := buf[start:]
	binary.LittleEndian.PutUint32(rec[4:8], recordCRC(rec[:headerSize], data))
	return buf
}

// decodeHeader reads a header from b, which holds at least headerSize bytes.
func decodeHeader(b []byte) header {
	return header{
		size:  binary.LittleEndian.Uint32(b[0:4]),
		crc:   binary.LittleEndian.Uint32(b[4:8]),
		seq:   binary.LittleEndian.Uint64(b[8:16]),
		nanos: int64(binary.LittleEndian.Uint64(b[16:24])),
	}
}

// recordCRC is the crc32c of the length, seq, time and data: everything but
// the crc field itself.
func recordCRC(hdr, data []byte) uint32 { return crcUpdate(headerCRC(hdr), data) }

// headerCRC starts the crc of a record whose data is checksummed in pieces
// (recovery streams data rather than buffering a record of any size).
func headerCRC(hdr []byte) uint32 {
	c := crc32.Update(0, castagnoli, hdr[0:4])
	return crc32.Update(c, castagnoli, hdr[8:headerSize])
}

// isZero reports whether b is all zero bytes: a zero-filled header is where a
// file system exposed space that was never written.
func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// crcUpdate continues a record crc over more bytes.
func crcUpdate(crc uint32, b []byte) uint32 { return crc32.Update(crc, castagnoli, b) }
