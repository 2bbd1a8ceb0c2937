package hubclient

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/outpost-iot/outpost/internal/iothub"
)

// twinSegs is /twins/{id} or /twins/{id}/modules/{mid} (moduleID "" = device twin).
func twinSegs(deviceID, moduleID string, extra ...string) []string {
	segs := []string{"twins", deviceID}
	if moduleID != "" {
		segs = append(segs, "modules", moduleID)
	}
	return append(segs, extra...)
}

func twinName(deviceID, moduleID string) string {
	if moduleID == "" {
		return deviceID
	}
	return deviceID + "/" + moduleID
}

// GetTwin reads a device twin, or a module twin when moduleID is not "".
func (c *Client) GetTwin(ctx context.Context, deviceID, moduleID string) (*Twin, error) {
	var out Twin
	err := c.do(ctx, &request{method: http.MethodGet, segs: twinSegs(deviceID, moduleID)}, &out)
	return wrap(&out, err, "get twin %s", twinName(deviceID, moduleID))
}

// PatchTwin merges patch (JSON: {"tags":{..},"properties":{"desired":{..}}}; null deletes) into the
// twin. etag "" patches unconditionally. It returns the updated twin.
func (c *Client) PatchTwin(ctx context.Context, deviceID, moduleID string, patch json.RawMessage, etag string) (*Twin, error) {
	return c.writeTwin(ctx, http.MethodPatch, deviceID, moduleID, patch, etag)
}

// ReplaceTwin replaces the twin's tags and desired properties with those in twin (JSON).
// etag "" replaces unconditionally. It returns the updated twin.
func (c *Client) ReplaceTwin(ctx context.Context, deviceID, moduleID string, twin json.RawMessage, etag string) (*Twin, error) {
	return c.writeTwin(ctx, http.MethodPut, deviceID, moduleID, twin, etag)
}

func (c *Client) writeTwin(ctx context.Context, method, deviceID, moduleID string, doc json.RawMessage, etag string) (*Twin, error) {
	if !json.Valid(doc) {
		return nil, fmt.Errorf("hubclient: twin %s: patch is not valid JSON", twinName(deviceID, moduleID))
	}
	h := ifMatch(etag)
	h.Set("Content-Type", "application/json; charset=utf-8")
	var out Twin
	err := c.do(ctx, &request{method: method, segs: twinSegs(deviceID, moduleID), header: h, body: doc}, &out)
	verb := "patch"
	if method == http.MethodPut {
		verb = "replace"
	}
	return wrap(&out, err, "%s twin %s", verb, twinName(deviceID, moduleID))
}

// InvokeMethod calls a direct method on a device, or on a module when moduleID is not "".
// A device answering with status >= 400 is not an error: the status is in the result. The hub
// answers 404 DeviceNotOnline or 504 GatewayTimeout as *Error.
func (c *Client) InvokeMethod(ctx context.Context, deviceID, moduleID string, req iothub.MethodRequest) (*iothub.MethodResult, error) {
	if req.Payload == nil {
		req.Payload = json.RawMessage("null")
	}
	if !json.Valid(req.Payload) {
		return nil, fmt.Errorf("hubclient: invoke %s on %s: payload is not valid JSON", req.MethodName, twinName(deviceID, moduleID))
	}
	if req.ConnectTimeoutInSeconds == nil {
		// The hub's default, sent as hubclient always has.
		req.ConnectTimeoutInSeconds = new(0)
	}
	wait := time.Duration(orZero(req.ResponseTimeoutInSeconds)+orZero(req.ConnectTimeoutInSeconds)) * time.Second
	var out iothub.MethodResult
	err := c.do(ctx, &request{method: http.MethodPost, segs: twinSegs(deviceID, moduleID, "methods"), json: req, timeout: wait}, &out)
	return wrap(&out, err, "invoke %s on %s", req.MethodName, twinName(deviceID, moduleID))
}

// orZero is *v, or 0 for nil (a timeout left to the hub's default).
func orZero(v *int) int {
	if v == nil {
		return 0
	}
	return *v
}

// ApplyConfigurationContent applies a deployment to an edge device. content is the manifest JSON
// and must hold "modulesContent" (Azure's {"modulesContent":{"$edgeAgent":..,"$edgeHub":..,...}}).
func (c *Client) ApplyConfigurationContent(ctx context.Context, deviceID string, content json.RawMessage) error {
	var doc struct {
		ModulesContent map[string]json.RawMessage `json:"modulesContent"`
	}
	if err := json.Unmarshal(content, &doc); err != nil || doc.ModulesContent == nil {
		return fmt.Errorf("hubclient: apply configuration to %s: content must be a JSON object with \"modulesContent\"", deviceID)
	}
	err := c.do(ctx, &request{
		method: http.MethodPost, segs: []string{"devices", deviceID, "applyConfigurationContent"},
		header: http.Header{"Content-Type": {"application/json; charset=utf-8"}}, body: content,
	}, nil)
	return wrapErr(err, "apply configuration to %s", deviceID)
}

// Healthz checks GET /healthz (no authentication needed; the token is sent anyway).
func (c *Client) Healthz(ctx context.Context) error {
	return wrapErr(c.do(ctx, &request{method: http.MethodGet, segs: []string{"healthz"}}, nil), "health")
}
