package broker

import (
	"bufio"
	"net"
	"sync"
	"syscall"

	"github.com/outpost-iot/outpost/internal/mqtt/packet"
)

// readBufSize is the read buffer of a connection while it has data to read.
const readBufSize = 4096

// readerPool holds the read buffers of plain TCP connections waiting for a packet.
var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufSize) }}

// connReader reads packets for the read goroutine (only). On a plain TCP connection it
// waits for the next packet without a buffer (waitReadable) and holds a pooled buffer
// only while bytes are buffered, so an idle connection costs no read buffer (D4). Other
// connections (TLS, WebSocket) keep their own buffer: their Read hides whether bytes
// are already decoded and waiting.
type connReader struct {
	nc  net.Conn
	raw syscall.RawConn // nil: the buffer is the connection's own
	max int
	br  *bufio.Reader // nil while a pooled buffer is not held
	pr  *packet.Reader
}

func newConnReader(nc net.Conn, max int) *connReader {
	r := &connReader{nc: nc, max: max}
	if tc, ok := nc.(*net.TCPConn); ok && canWaitReadable {
		if raw, err := tc.SyscallConn(); err == nil {
			r.raw = raw
			return r
		}
	}
	r.br = bufio.NewReaderSize(nc, readBufSize)
	r.pr = packet.NewReader(r.br, max)
	return r
}

// ReadPacket reads the next packet within the connection's read deadline.
func (r *connReader) ReadPacket() (packet.Packet, error) {
	if r.raw == nil {
		return r.pr.ReadPacket()
	}
	if r.br == nil {
		if err := waitReadable(r.raw); err != nil {
			return nil, err
		}
		r.br = readerPool.Get().(*bufio.Reader)
		r.br.Reset(r.nc)
		r.pr = packet.NewReader(r.br, r.max)
	}
	p, err := r.pr.ReadPacket()
	if err != nil || r.br.Buffered() == 0 {
		r.release()
	}
	return p, err
}

// release returns a pooled buffer; the connection must not be read concurrently.
func (r *connReader) release() {
	if r.raw == nil || r.br == nil {
		return
	}
	r.br.Reset(nil)
	readerPool.Put(r.br)
	r.br, r.pr = nil, nil
}
