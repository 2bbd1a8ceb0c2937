package broker

import "math"

// DefaultMaxConnections derives a connection budget from the process's open-file limit
// (RLIMIT_NOFILE, whose soft value Go raises to the hard one at start); the cloud uses it
// as the budget of MQTT and HTTPS connections together (connlimit.Config.Max). Every
// connection holds a file descriptor, so the budget leaves the rest of the process a reserve
// for what else it opens: its database files, listeners, HTTPS and metrics clients and the
// brief descriptors of refused connections. The reserve is a tenth of the limit, at least
// 256 descriptors but never more than half the limit: 1,024 gives 768 connections, 20,000
// gives 18,000. Reaching the limit itself would make accept fail (EMFILE) for every
// listener, HTTPS included, and the accept loop back off; below the cap that cannot happen
// because of MQTT. It returns 0 (no cap) when the limit cannot be read.
func DefaultMaxConnections() int {
	n, err := openFileLimit()
	if err != nil {
		return 0
	}
	return maxConnectionsFor(n)
}

// maxConnectionsFor is DefaultMaxConnections' rule for an open-file limit of nofile.
func maxConnectionsFor(nofile uint64) int {
	reserve := max(nofile/10, min(256, nofile/2))
	return int(min(nofile-reserve, math.MaxInt32))
}
