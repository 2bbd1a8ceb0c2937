package twin

// MergePatch applies patch to dst as a JSON merge patch (RFC 7396): a null
// member deletes, an object member merges recursively, anything else
// (arrays included) replaces. Values are deep-copied from patch. A nil dst is
// allocated. It returns dst.
func MergePatch(dst, patch map[string]any) map[string]any {
	if dst == nil {
		dst = map[string]any{}
	}
	for k, v := range patch {
		switch pv := v.(type) {
		case nil:
			delete(dst, k)
		case map[string]any:
			sub, ok := dst[k].(map[string]any)
			if !ok {
				sub = map[string]any{}
			}
			dst[k] = MergePatch(sub, pv)
		default:
			dst[k] = copyValue(v)
		}
	}
	return dst
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = copyValue(v)
	}
	return out
}

func copyValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return copyMap(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = copyValue(e)
		}
		return out
	}
	return v
}
