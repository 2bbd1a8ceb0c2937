// Package launch starts the brokers the benchmarks compare, each as a child process on
// loopback ports inside a directory the caller owns: `outpost cloud serve` (MQTT over TLS,
// its plain development listener, HTTPS and metrics) and Debian's mosquitto (a plain and a
// TLS listener with a throwaway CA). For outpost it also registers devices through the
// service REST API and issues their SAS tokens, so a benchmark connects as IoT Hub devices do.
// Children are killed if the benchmark dies (Linux), and only ever signalled by their pid.
package launch
