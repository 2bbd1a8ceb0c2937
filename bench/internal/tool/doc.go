// Package tool holds what the benchmark commands (bench/ingest, bench/conns) share around
// their measurements: the target names and their parsing, main's signal handling and exit
// codes, and the JSON and ratio output of their reports.
package tool
