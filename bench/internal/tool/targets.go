package tool

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// AllTargets lists the canonical target names in their default run order.
var AllTargets = []string{"outpost-tls", "outpost-tcp", "mosquitto-tcp", "mosquitto-tls"}

// Target names a broker and a transport.
type Target struct {
	Name      string // canonical, e.g. outpost-tls
	System    string // outpost or mosquitto
	Transport string // tcp or tls, as launch.Broker.Target takes it
}

// ParseTargets parses a comma-separated list of target names; "outpost" and "mosquitto"
// alone mean their -tcp target. Repeats are dropped, empty names skipped, and an empty
// list is an error.
func ParseTargets(s string) ([]Target, error) {
	var out []Target
	for name := range strings.SplitSeq(s, ",") {
		name = strings.TrimSpace(name)
		switch name {
		case "outpost", "mosquitto":
			name += "-tcp"
		case "":
			continue
		}
		if !slices.Contains(AllTargets, name) {
			return nil, fmt.Errorf("unknown target %q (want %s)", name, strings.Join(AllTargets, ", "))
		}
		sys, transport, _ := strings.Cut(name, "-")
		t := Target{Name: name, System: sys, Transport: transport}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no targets")
	}
	return out, nil
}
