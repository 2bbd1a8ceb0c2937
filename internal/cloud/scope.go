package cloud

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/outpost-iot/outpost/internal/iothub"
)

// scopeOf returns the identities an edge device's hub serves: the edge itself and its modules,
// the devices whose scope places them under it, and the modules of child edge devices.
func (c *Cloud) scopeOf(ctx context.Context, edge *iothub.Device) (*iothub.ScopeResult, error) {
	all, err := c.reg.listDevices(ctx, 0)
	if err != nil {
		return nil, err
	}
	res := &iothub.ScopeResult{Devices: []*iothub.Device{}, Modules: []*iothub.Module{}}
	for _, d := range all {
		if !inScope(d, edge) {
			continue
		}
		res.Devices = append(res.Devices, d)
		if d.Capabilities.IoTEdge {
			mods, err := c.reg.listModules(ctx, d.DeviceID)
			if err != nil {
				return nil, err
			}
			res.Modules = append(res.Modules, mods...)
		}
	}
	return res, nil
}

// inScope reports whether the hub of edge serves device d: the edge itself, the devices whose
// scope places them under it, and child edge devices (whose modules it serves too).
func inScope(d, edge *iothub.Device) bool {
	return d.DeviceID == edge.DeviceID || (!d.Capabilities.IoTEdge && d.DeviceScope == edge.DeviceScope) ||
		slices.Contains(d.ParentScopes, edge.DeviceScope)
}

// targetEdge resolves the target of an auth chain "target;...;actor" for actor edge id.
func (c *Cloud) targetEdge(ctx context.Context, actor, chain string) (*iothub.Device, error) {
	ids := strings.Split(chain, ";")
	if chain == "" {
		ids = []string{actor}
	}
	if ids[len(ids)-1] != actor {
		return nil, iothub.NewError(iothub.CodeIotHubUnauthorizedAccess, "auth chain %q does not end with %s", chain, actor)
	}
	// Every link must be an enabled edge device that is the parent of the previous one.
	var child *iothub.Device
	for i := len(ids) - 1; i >= 0; i-- {
		d, err := c.reg.getDevice(ctx, ids[i])
		if err != nil {
			return nil, err
		}
		if d.Status != "enabled" {
			return nil, iothub.NewError(iothub.CodeIotHubUnauthorizedAccess, "device %s in the auth chain is disabled", d.DeviceID)
		}
		if child != nil && !slices.Contains(d.ParentScopes, child.DeviceScope) && d.DeviceScope != child.DeviceScope {
			return nil, iothub.NewError(iothub.CodeIotHubUnauthorizedAccess, "device %s is not in the scope of %s", d.DeviceID, child.DeviceID)
		}
		child = d
	}
	return child, nil
}

type scopeRequest struct {
	PageSize         int     `json:"pageSize"`
	ContinuationLink *string `json:"continuationLink"`
	AuthChain        string  `json:"authChain"`
	TargetDeviceID   string  `json:"targetDeviceId"`
	TargetModuleID   string  `json:"targetModuleId"`
}

func (c *Cloud) handleTargetScope(w http.ResponseWriter, r *http.Request, _ *principal) error {
	var req scopeRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	target, err := c.targetEdge(r.Context(), r.PathValue("id"), req.AuthChain)
	if err != nil {
		return err
	}
	if !target.Capabilities.IoTEdge {
		return iothub.NewError(iothub.CodeArgumentInvalid, "%s is not an edge device", target.DeviceID)
	}
	res, err := c.scopeOf(r.Context(), target)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}

func (c *Cloud) handleDeviceScope(w http.ResponseWriter, r *http.Request, _ *principal) error {
	edge, err := c.reg.getDevice(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	res, err := c.scopeOf(r.Context(), edge)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}

// handleOnBehalfOf returns one identity of the actor's scope. The edge hub asks once per
// connecting child, so only the target is read, not the whole scope.
func (c *Cloud) handleOnBehalfOf(w http.ResponseWriter, r *http.Request, _ *principal) error {
	var req scopeRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	actor, err := c.reg.getDevice(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	d, err := c.reg.getDevice(ctx, req.TargetDeviceID) // an unknown device is DeviceNotFound too
	if err == nil && !inScope(d, actor) {
		err = iothub.NewError(iothub.CodeDeviceNotFound, "device %s is not in the scope of %s", req.TargetDeviceID, actor.DeviceID)
	}
	if err != nil {
		return err
	}
	res := &iothub.ScopeResult{Devices: []*iothub.Device{d}, Modules: []*iothub.Module{}}
	if d.Capabilities.IoTEdge && req.TargetModuleID != "" {
		mods, err := c.reg.listModules(ctx, d.DeviceID)
		if err != nil {
			return err
		}
		for _, m := range mods {
			if m.ModuleID == req.TargetModuleID {
				res.Modules = append(res.Modules, m)
			}
		}
	}
	return writeJSON(w, http.StatusOK, res)
}
