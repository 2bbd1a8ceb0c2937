package packet

import (
	"bufio"
	"errors"
	"io"
)

// initialChunk bounds the first allocation for a packet body; larger bodies grow
// as bytes actually arrive, so a peer that declares a large length and then
// stalls costs at most this much (RELIABILITY.md D6/D7).
const initialChunk = 16 << 10

// Reader reads packets from a byte stream. It is not safe for concurrent use.
type Reader struct {
	r   *bufio.Reader
	max int
}

// NewReader returns a Reader on r refusing remaining lengths above max
// (max <= 0 means MaxRemainingLength).
func NewReader(r io.Reader, max int) *Reader {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 4096)
	}
	return &Reader{r: br, max: max}
}

// ReadPacket reads and decodes the next packet. I/O errors are returned as they
// come from the underlying reader (io.EOF before the first byte of a packet,
// io.ErrUnexpectedEOF within one); protocol errors wrap the Err* kinds.
func (r *Reader) ReadPacket() (Packet, error) {
	header, n, err := r.readHeader()
	if err != nil {
		return nil, err
	}
	body, err := r.readBody(n)
	if err != nil {
		return nil, err
	}
	return decodeBody(Type(header>>4), header&0x0f, body)
}

// readHeader reads the fixed header: the first byte, validated, and the
// remaining length, checked against the maximum before anything is allocated.
func (r *Reader) readHeader() (header byte, remaining int, err error) {
	header, err = r.r.ReadByte()
	if err != nil {
		return 0, 0, err
	}
	t := Type(header >> 4)
	if err := checkFlags(t, header&0x0f); err != nil {
		return 0, 0, err
	}
	n, err := readVarint(r.r)
	if err != nil {
		return 0, 0, unexpectedEOF(err)
	}
	if err := checkLength(t, n, r.max); err != nil {
		return 0, 0, err
	}
	return header, n, nil
}

// readBody reads n bytes, growing the buffer as data arrives.
func (r *Reader) readBody(n int) ([]byte, error) {
	buf := make([]byte, 0, min(n, initialChunk))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(2*cap(buf), n))
			copy(grown, buf)
			buf = grown
		}
		m, err := r.r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err != nil && len(buf) < n {
			return nil, unexpectedEOF(err)
		}
	}
	return buf, nil
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
