package hubclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// PutCertificate registers (or replaces, given etag) a CA certificate in PEM form under name.
func (c *Client) PutCertificate(ctx context.Context, name, pemText, etag string) (*Certificate, error) {
	body := map[string]any{"properties": map[string]string{"certificate": pemText}}
	var h http.Header
	if etag != "" {
		h = ifMatch(etag)
	}
	var out Certificate
	err := c.do(ctx, &request{method: http.MethodPut, segs: []string{"certificates", name}, header: h, json: body}, &out)
	return wrap(&out, err, "put certificate %s", name)
}

// ListCertificates lists the registered CA certificates. Both a bare JSON array and Azure's
// {"value":[...]} are accepted.
func (c *Client) ListCertificates(ctx context.Context) ([]Certificate, error) {
	var raw json.RawMessage
	if err := c.do(ctx, &request{method: http.MethodGet, segs: []string{"certificates"}}, &raw); err != nil {
		return nil, fmt.Errorf("hubclient: list certificates: %w", err)
	}
	var out []Certificate
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, nil
	}
	var err error
	if raw[0] == '[' {
		err = json.Unmarshal(raw, &out)
	} else {
		var doc struct{ Value []Certificate }
		err = json.Unmarshal(raw, &doc)
		out = doc.Value
	}
	if err != nil {
		return nil, fmt.Errorf("hubclient: list certificates: decode response: %w", err)
	}
	return out, nil
}

// DeleteCertificate removes a CA certificate; etag "" deletes unconditionally.
func (c *Client) DeleteCertificate(ctx context.Context, name, etag string) error {
	err := c.do(ctx, &request{method: http.MethodDelete, segs: []string{"certificates", name}, header: ifMatch(etag)}, nil)
	return wrapErr(err, "delete certificate %s", name)
}
