// Package tool holds what the benchmark commands (bench/ingest, bench/conns) share around
// their measurements: the target names and their parsing.
package tool
