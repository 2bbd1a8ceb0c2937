package hubclient

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// CreateDevice creates a device identity (PUT /devices/{id} without If-Match).
func (c *Client) CreateDevice(ctx context.Context, d *Device) (*Device, error) {
	var out Device
	err := c.do(ctx, &request{method: http.MethodPut, segs: []string{"devices", d.DeviceID}, json: d}, &out)
	return wrap(&out, err, "create device %s", d.DeviceID)
}

// GetDevice reads a device identity.
func (c *Client) GetDevice(ctx context.Context, id string) (*Device, error) {
	var out Device
	err := c.do(ctx, &request{method: http.MethodGet, segs: []string{"devices", id}}, &out)
	return wrap(&out, err, "get device %s", id)
}

// ListDevices lists device identities; top > 0 limits the count.
func (c *Client) ListDevices(ctx context.Context, top int) ([]Device, error) {
	q := url.Values{}
	if top > 0 {
		q.Set("top", strconv.Itoa(top))
	}
	var out []Device
	err := c.do(ctx, &request{method: http.MethodGet, segs: []string{"devices"}, query: q}, &out)
	return wrap(out, err, "list devices")
}

// UpdateDevice replaces a device identity (PUT with If-Match: d.ETag, or "*" when empty).
func (c *Client) UpdateDevice(ctx context.Context, d *Device) (*Device, error) {
	var out Device
	err := c.do(ctx, &request{method: http.MethodPut, segs: []string{"devices", d.DeviceID}, header: ifMatch(d.ETag), json: d}, &out)
	return wrap(&out, err, "update device %s", d.DeviceID)
}

// DeleteDevice deletes a device identity; etag "" deletes unconditionally.
func (c *Client) DeleteDevice(ctx context.Context, id, etag string) error {
	err := c.do(ctx, &request{method: http.MethodDelete, segs: []string{"devices", id}, header: ifMatch(etag)}, nil)
	return wrapErr(err, "delete device %s", id)
}

// CreateModule creates a module identity (PUT /devices/{id}/modules/{mid}).
func (c *Client) CreateModule(ctx context.Context, m *Module) (*Module, error) {
	var out Module
	err := c.do(ctx, &request{method: http.MethodPut, segs: moduleSegs(m.DeviceID, m.ModuleID), json: m}, &out)
	return wrap(&out, err, "create module %s/%s", m.DeviceID, m.ModuleID)
}

// GetModule reads a module identity.
func (c *Client) GetModule(ctx context.Context, deviceID, moduleID string) (*Module, error) {
	var out Module
	err := c.do(ctx, &request{method: http.MethodGet, segs: moduleSegs(deviceID, moduleID)}, &out)
	return wrap(&out, err, "get module %s/%s", deviceID, moduleID)
}

// ListModules lists a device's module identities.
func (c *Client) ListModules(ctx context.Context, deviceID string) ([]Module, error) {
	var out []Module
	err := c.do(ctx, &request{method: http.MethodGet, segs: []string{"devices", deviceID, "modules"}}, &out)
	return wrap(out, err, "list modules of %s", deviceID)
}

// UpdateModule replaces a module identity (PUT with If-Match: m.ETag, or "*" when empty).
func (c *Client) UpdateModule(ctx context.Context, m *Module) (*Module, error) {
	var out Module
	err := c.do(ctx, &request{method: http.MethodPut, segs: moduleSegs(m.DeviceID, m.ModuleID), header: ifMatch(m.ETag), json: m}, &out)
	return wrap(&out, err, "update module %s/%s", m.DeviceID, m.ModuleID)
}

// DeleteModule deletes a module identity; etag "" deletes unconditionally.
func (c *Client) DeleteModule(ctx context.Context, deviceID, moduleID, etag string) error {
	err := c.do(ctx, &request{method: http.MethodDelete, segs: moduleSegs(deviceID, moduleID), header: ifMatch(etag)}, nil)
	return wrapErr(err, "delete module %s/%s", deviceID, moduleID)
}

func moduleSegs(deviceID, moduleID string) []string {
	return []string{"devices", deviceID, "modules", moduleID}
}

// wrap returns (v, nil) on success and (the zero T, wrapErr(err, ...)) otherwise.
func wrap[T any](v T, err error, format string, args ...any) (T, error) {
	if err != nil {
		var zero T
		return zero, wrapErr(err, format, args...)
	}
	return v, nil
}

// wrapErr prefixes err with "hubclient: " and the formatted operation; nil stays nil.
func wrapErr(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("hubclient: "+format+": %w", append(args, err)...)
}
