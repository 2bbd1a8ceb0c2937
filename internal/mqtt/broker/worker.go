package broker

import "sync"

// lazyWorker runs a connection's write goroutine only while it has work, so that an
// idle connection holds no goroutine but its read goroutine (D4).
//
// A producer queues its work, then calls Conn.startWriter; the goroutine calls tryExit
// when it finds nothing queued. Both take mu, so either tryExit sees the new work and the
// goroutine goes on, or start sees it gone and launches another: work is never stranded.
// Lock order: lazyWorker.mu before the queue's own lock (tryExit calls empty under mu).
type lazyWorker struct {
	mu      sync.Mutex // guards running and stopped
	running bool
	stopped bool
	wg      sync.WaitGroup // the goroutine; Add only under mu while !stopped
}

// begin reports whether the caller must launch the goroutine, which then calls wg.Done
// when it returns: false when one is running or the worker was stopped.
func (w *lazyWorker) begin() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running || w.stopped {
		return false
	}
	w.running = true
	w.wg.Add(1)
	return true
}

// tryExit reports whether the goroutine must return: true when empty() holds, and
// then the next begin launches a new goroutine.
func (w *lazyWorker) tryExit(empty func() bool) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !empty() {
		return false
	}
	w.running = false
	return true
}

// stop prevents new goroutines and waits for the running one, which must be ending
// (its connection is closed).
func (w *lazyWorker) stop() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
	w.wg.Wait()
}
