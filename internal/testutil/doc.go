// Package testutil holds small helpers shared by Outpost's tests: free
// loopback ports, polling with a deadline (never sleep-then-assert), a
// throw-away certificate authority, building the outpost binary once per
// test binary (with Main as the TestMain that removes it), child processes
// that are stopped at cleanup with their output captured, Buffer, a log
// sink safe for concurrent writers, and a QoS 1 burst with its PUBACK counter.
//
// It depends only on the standard library, internal/pki and internal/mqtt/packet. Helpers that
// fail the test call t.Fatal and must therefore run on the test's own
// goroutine.
package testutil
