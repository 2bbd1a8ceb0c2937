package iothub

import (
	"fmt"
	"strings"
)

// Username is a parsed MQTT CONNECT username (§1.4).
type Username struct {
	HostName, DeviceID, ModuleID, APIVersion, ClientType, ModelID, AuthChain string
}

// ParseUsername parses {host}/{device}/?query or {host}/{device}/{module}/?query
// with edgeHub's rules (MqttUsernameParser): when the last segment starts with
// "?", 3 segments are a device and 4 a module; otherwise the legacy form
// without "?" is read the same way. Query keys read are api-version (required,
// non-empty), DeviceClientType, model-id and auth-chain; the first occurrence
// of a key wins; values are percent-decoded ("+" stays literal).
func ParseUsername(s string) (Username, error) {
	segs := strings.Split(s, "/")
	if len(segs) != 3 && len(segs) != 4 {
		return Username{}, userErr("want host/device/?query or host/device/module/?query")
	}
	var u Username
	u.HostName, u.DeviceID = segs[0], segs[1]
	if len(segs) == 4 {
		u.ModuleID = segs[2]
	}
	if u.HostName == "" || u.DeviceID == "" || len(segs) == 4 && u.ModuleID == "" {
		return Username{}, userErr("empty host, device or module segment")
	}
	q := parseQuery(strings.TrimPrefix(segs[len(segs)-1], "?"))
	u.APIVersion, u.ClientType, u.ModelID, u.AuthChain = q["api-version"], q["DeviceClientType"], q["model-id"], q["auth-chain"]
	if u.APIVersion == "" {
		return Username{}, userErr("api-version is required")
	}
	return u, nil
}

func userErr(msg string) error {
	return fmt.Errorf("iothub: parse username: %s", msg)
}

// parseQuery splits "k=v&k=v" with percent-decoding; the first duplicate wins.
func parseQuery(q string) map[string]string {
	out := map[string]string{}
	for f := range strings.SplitSeq(q, "&") {
		k, v, _ := strings.Cut(f, "=")
		k = unescapeLenient(k)
		if _, dup := out[k]; dup || k == "" {
			continue
		}
		out[k] = unescapeLenient(v)
	}
	return out
}
