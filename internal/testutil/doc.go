// Package testutil holds small helpers shared by Outpost's tests: free
// loopback ports, polling with a deadline (never sleep-then-assert), a
// throw-away certificate authority, building the outpost binary once per
// test binary, and child processes that are stopped at cleanup with their
// output captured.
//
// It depends only on the standard library and internal/pki. Helpers that
// fail the test call t.Fatal and must therefore run on the test's own
// goroutine.
package testutil
