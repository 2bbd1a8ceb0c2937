package hubclient

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/outpost-iot/outpost/internal/iothub"
)

// scopeSegs is /devices/{edge}/modules/$edgeHub/{op}.
func scopeSegs(edgeID, op string) []string {
	return []string{"devices", edgeID, "modules", "$edgeHub", op}
}

// DevicesAndModulesInTargetDeviceScope pages through the identities in the device scope of the
// last edge in authChain ("targetEdge;...;edgeID"); continuationLink "" asks for the first page.
func (c *Client) DevicesAndModulesInTargetDeviceScope(ctx context.Context, edgeID, authChain string, pageSize int, continuationLink string) (*iothub.ScopeResult, error) {
	body := map[string]any{"pageSize": pageSize, "continuationLink": nil, "authChain": authChain}
	if continuationLink != "" {
		body["continuationLink"] = continuationLink
	}
	var out iothub.ScopeResult
	err := c.do(ctx, &request{method: http.MethodPost, segs: scopeSegs(edgeID, "devicesAndModulesInTargetDeviceScope"), json: body}, &out)
	return wrap(&out, err, "device scope of %s", edgeID)
}

// GetDeviceAndModuleOnBehalfOf reads one identity (a device, or a module when targetModuleID is
// not "") through edgeID's scope.
func (c *Client) GetDeviceAndModuleOnBehalfOf(ctx context.Context, edgeID, targetDeviceID, targetModuleID, authChain string) (*iothub.ScopeResult, error) {
	body := map[string]string{"targetDeviceId": targetDeviceID, "authChain": authChain}
	if targetModuleID != "" {
		body["targetModuleId"] = targetModuleID
	}
	var out iothub.ScopeResult
	err := c.do(ctx, &request{method: http.MethodPost, segs: scopeSegs(edgeID, "getDeviceAndModuleOnBehalfOf"), json: body}, &out)
	return wrap(&out, err, "identity %s on behalf of %s", targetDeviceID, edgeID)
}

// DevicesAndModulesInDeviceScope is the legacy (non-nested) scope listing.
func (c *Client) DevicesAndModulesInDeviceScope(ctx context.Context, edgeID string, deviceCount int, continuationToken string) (*iothub.ScopeResult, error) {
	q := url.Values{}
	if deviceCount > 0 {
		q.Set("deviceCount", strconv.Itoa(deviceCount))
	}
	if continuationToken != "" {
		q.Set("continuationToken", continuationToken)
	}
	var out iothub.ScopeResult
	err := c.do(ctx, &request{method: http.MethodGet, segs: scopeSegs(edgeID, "devicesAndModulesInDeviceScope"), query: q}, &out)
	return wrap(&out, err, "device scope of %s", edgeID)
}
