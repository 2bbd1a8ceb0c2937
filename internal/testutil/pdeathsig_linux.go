package testutil

import "syscall"

// setDeathSignal asks the kernel to SIGKILL the child if the test binary
// dies without running cleanups (a `go test -timeout` panic, say), so no
// orphan keeps a port or a data directory busy.
func setDeathSignal(a *syscall.SysProcAttr) {
	a.Pdeathsig = syscall.SIGKILL
}
