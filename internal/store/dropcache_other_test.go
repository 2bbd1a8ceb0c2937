//go:build !(linux && (amd64 || arm64))

package store

// dropCache is not supported here: cold-cache benchmarks skip.
func dropCache(string) (bool, error) { return false, nil }
