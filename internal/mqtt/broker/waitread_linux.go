package broker

import "syscall"

const canWaitReadable = true

// waitReadable returns when the socket has bytes to read, its peer closed or failed,
// or the read deadline passed or the connection was closed (then with that error). It
// peeks at one byte, so nothing is consumed and no buffer is held while waiting.
func waitReadable(raw syscall.RawConn) error {
	return raw.Read(peekReadable) // the read error, as a Read would return it
}

// peekReadable is waitReadable's poll callback: false (wait) while the socket has
// nothing to read. A plain function, not a closure, so that waiting allocates nothing.
func peekReadable(fd uintptr) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err != syscall.EAGAIN && err != syscall.EINTR
}
