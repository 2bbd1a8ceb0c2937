package iothub

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/outpost-iot/outpost/internal/message"
)

// wireKeys maps the system property keys used on the wire to message system
// names (§1.6). Both directions use this one table, so it must be one-to-one
// (TestWireKeyTable); "ack" is also accepted on input (wireAliases).
var wireKeys = map[string]string{
	"$.mid":            message.MessageID,
	"$.cid":            message.CorrelationID,
	"$.uid":            message.UserID,
	"$.to":             message.To,
	"$.exp":            message.ExpiryTime,
	"$.ct":             message.ContentType,
	"$.ce":             message.ContentEncoding,
	"$.ctime":          message.CreationTime,
	"$.schema":         message.MessageSchema,
	"$.on":             message.OutputName,
	"$.cdid":           message.ConnectionDeviceID,
	"$.cmid":           message.ConnectionModuleID,
	"$.ifid":           message.InterfaceID,
	"$.sub":            message.ComponentName,
	"iothub-operation": message.Operation,
	"iothub-ack":       message.Ack,
	"$.diagid":         message.DiagID,
	"$.diagctx":        message.DiagContext,
}

// wireAliases are extra input-only wire keys.
var wireAliases = map[string]string{"ack": message.Ack}

// systemName returns the message system name for a decoded wire key such as
// "$.mid", and false when the key is an application property.
func systemName(wireKey string) (string, bool) {
	if n, ok := wireKeys[wireKey]; ok {
		return n, true
	}
	n, ok := wireAliases[wireKey]
	return n, ok
}

// ParsePropertyBag percent-decodes keys and values ("+" literal; an invalid
// escape is kept as is), maps wire system keys ($.mid, %24.mid, ...) to
// message system names, everything else to application properties. A key
// without "=" gets the value "". Empty segments are skipped; an empty key is
// an error. When a key repeats, the last value wins.
func ParsePropertyBag(bag string) (system, app map[string]string, err error) {
	system, app = map[string]string{}, map[string]string{}
	for f := range strings.SplitSeq(bag, "&") {
		if f == "" {
			continue
		}
		k, v, _ := strings.Cut(f, "=")
		k, v = unescapeLenient(k), unescapeLenient(v)
		if k == "" {
			return nil, nil, fmt.Errorf("iothub: parse property bag: empty key in %q", truncate(f))
		}
		if name, ok := systemName(k); ok {
			system[name] = v
		} else {
			app[k] = v
		}
	}
	return system, app, nil
}

// EncodePropertyBag writes system props with their wire keys ($.mid, ...)
// then application props, each group sorted by wire key, keys and values
// percent-encoded like IoT Hub does ("$" becomes %24). System properties
// without a wire form are skipped.
func EncodePropertyBag(m *message.Message) string {
	if m == nil {
		return ""
	}
	parts := make([]string, 0, len(m.System)+len(m.Properties))
	for _, w := range sortedWireKeys {
		if v, ok := m.System[wireKeys[w]]; ok {
			parts = append(parts, EncodeResource(w)+"="+EncodeResource(v))
		}
	}
	for _, k := range sortedKeys(m.Properties) {
		parts = append(parts, EncodeResource(k)+"="+EncodeResource(m.Properties[k]))
	}
	return strings.Join(parts, "&")
}

// sortedWireKeys are the keys of wireKeys in the order EncodePropertyBag
// writes them.
var sortedWireKeys = sortedKeys(wireKeys)

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
