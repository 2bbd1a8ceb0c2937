package cloud

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/outpost-iot/outpost/internal/cloud/store"
	"github.com/outpost-iot/outpost/internal/iothub"
	"github.com/outpost-iot/outpost/internal/twin"
)

// twinPatch is the service-side twin document (PATCH merges it, PUT replaces with it). It is
// the writable part of hubclient.Twin, kept here on purpose: the other members of a twin a
// client sends back are read-only and ignored, so they are not decoded (a malformed one must not
// fail the write), and a nil Properties tells an absent section from an empty one.
type twinPatch struct {
	Tags       map[string]any `json:"tags"`
	Properties *struct {
		Desired map[string]any `json:"desired"`
	} `json:"properties"`
}

func decodeTwin(k store.Key, doc []byte) (*twin.Twin, error) {
	t := twin.New()
	if err := json.Unmarshal(doc, t); err != nil {
		return nil, fmt.Errorf("cloud: decode twin %s: %w", k, err)
	}
	return t, nil
}

func (c *Cloud) loadTwin(ctx context.Context, k store.Key) (*twin.Twin, error) {
	doc, err := c.st.GetTwin(ctx, k)
	if err != nil {
		return nil, mapStoreErr(err, k)
	}
	return decodeTwin(k, doc)
}

// updateTwin applies fn to a twin in a transaction and returns the result.
func (c *Cloud) updateTwin(ctx context.Context, k store.Key, fn func(t *twin.Twin) error) (*twin.Twin, error) {
	var out *twin.Twin
	_, err := c.st.UpdateTwin(ctx, k, func(doc []byte) ([]byte, error) {
		t, err := decodeTwin(k, doc)
		if err != nil {
			return nil, err
		}
		if err := fn(t); err != nil {
			return nil, err
		}
		out = t
		return json.Marshal(t)
	})
	if err != nil {
		return nil, mapStoreErr(err, k)
	}
	return out, nil
}

// twinView renders the service twin JSON of a device or module.
func (c *Cloud) twinView(ctx context.Context, k store.Key, t *twin.Twin) (map[string]any, error) {
	d, err := c.reg.getDevice(ctx, k.DeviceID)
	if err != nil {
		return nil, err
	}
	c.overlayDevices(ctx, d)
	v := map[string]any{
		"deviceId":                  d.DeviceID,
		"etag":                      t.ETag(),
		"deviceEtag":                d.ETag,
		"status":                    d.Status,
		"statusUpdateTime":          d.StatusUpdatedTime,
		"connectionState":           d.ConnectionState,
		"lastActivityTime":          d.LastActivityTime,
		"cloudToDeviceMessageCount": d.CloudToDeviceMessageCount,
		"authenticationType":        d.Authentication.Type,
		"x509Thumbprint":            d.Authentication.X509Thumbprint,
		"modelId":                   "",
		"version":                   t.Version,
		"tags":                      nonNil(t.Tags),
		"properties":                t.Properties(),
		"capabilities":              d.Capabilities,
	}
	if d.DeviceScope != "" {
		v["deviceScope"] = d.DeviceScope
		v["parentScopes"] = d.ParentScopes
	}
	if k.ModuleID != "" {
		m, err := c.reg.getModule(ctx, k.DeviceID, k.ModuleID)
		if err != nil {
			return nil, err
		}
		c.overlayModule(m)
		v["moduleId"] = m.ModuleID
		v["connectionState"] = m.ConnectionState
		v["lastActivityTime"] = m.LastActivityTime
		v["authenticationType"] = m.Authentication.Type
		v["x509Thumbprint"] = m.Authentication.X509Thumbprint
		delete(v, "capabilities")
		delete(v, "deviceScope")
		delete(v, "parentScopes")
	}
	return v, nil
}

func nonNil(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// getTwin returns the service twin JSON.
func (c *Cloud) getTwin(ctx context.Context, k store.Key) (map[string]any, error) {
	t, err := c.loadTwin(ctx, k)
	if err != nil {
		return nil, err
	}
	c.metrics.twinOps.WithLabelValues("service_get").Inc()
	return c.twinView(ctx, k, t)
}

// writeTwin merges (replace=false) or replaces a twin's tags and desired properties from the service side.
func (c *Cloud) writeTwin(ctx context.Context, k store.Key, body []byte, ifMatch string, replace bool) (map[string]any, error) {
	var p twinPatch
	// Numbers stay json.Number so that the twin limits can check integer ranges.
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&p); err != nil {
		return nil, iothub.NewError(iothub.CodeArgumentInvalid, "twin document is not valid JSON: %v", err)
	}
	var desiredPatch map[string]any
	if p.Properties != nil {
		desiredPatch = p.Properties.Desired
	}
	now := c.now()
	before := int64(0)
	t, err := c.updateTwin(ctx, k, func(t *twin.Twin) error {
		if !etagMatches(ifMatch, t.ETag()) {
			return iothub.NewError(iothub.CodePreconditionFailed, "twin etag mismatch")
		}
		before = t.DesiredVersion
		return applyServiceTwin(t, p.Tags, desiredPatch, replace, now)
	})
	if err != nil {
		return nil, err
	}
	c.metrics.twinOps.WithLabelValues("service_update").Inc()
	if t.DesiredVersion != before {
		patch := desiredPatch
		if replace {
			patch = t.Desired
		}
		c.notifyDesired(k, patch, t.DesiredVersion)
	}
	return c.twinView(ctx, k, t)
}

func applyServiceTwin(t *twin.Twin, tags, desired map[string]any, replace bool, now time.Time) error {
	if replace {
		if err := t.ReplaceTags(nonNil(tags)); err != nil {
			return err
		}
		return t.ReplaceDesired(nonNil(desired), now)
	}
	if tags != nil {
		if err := t.PatchTags(tags); err != nil {
			return err
		}
	}
	if desired != nil {
		return t.PatchDesired(desired, now)
	}
	return nil
}

// patchReported applies a reported-properties patch from a device or module and returns the new reported version.
func (c *Cloud) patchReported(ctx context.Context, k store.Key, body []byte) (int64, error) {
	patch, err := twin.DecodeObject(body) // PatchReported checks the limits
	if err != nil {
		return 0, iothub.NewError(iothub.CodeArgumentInvalid, "reported patch is not a JSON object")
	}
	t, err := c.updateTwin(ctx, k, func(t *twin.Twin) error { return t.PatchReported(patch, c.now()) })
	if err != nil {
		return 0, err
	}
	c.metrics.twinOps.WithLabelValues("reported_patch").Inc()
	return t.ReportedVersion, nil
}

// notifyDesired pushes a desired-properties patch to the identity if it is connected and subscribed.
func (c *Cloud) notifyDesired(k store.Key, patch map[string]any, version int64) {
	conn := c.broker.Lookup(k.String())
	if conn == nil {
		return
	}
	topic := iothub.DesiredPatchTopic(version)
	if _, ok := conn.Subscribed(topic); !ok {
		return
	}
	payload, err := twin.PatchJSON(patch, version)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.operationTimeout())
	defer cancel()
	if err := conn.Publish(ctx, topic, payload, 0); err != nil {
		c.log.Debug("desired notification not sent", "client", k.String(), "err", err)
		return
	}
	c.metrics.twinOps.WithLabelValues("desired_notification").Inc()
}

// applyConfigurationContent writes modulesContent.*.properties.desired into the module twins
// of an edge device. Module twins that do not exist yet get their content when the module is created.
func (c *Cloud) applyConfigurationContent(ctx context.Context, deviceID string, body []byte) error {
	var content struct {
		ModulesContent map[string]map[string]json.RawMessage `json:"modulesContent"`
	}
	if err := json.Unmarshal(body, &content); err != nil || content.ModulesContent == nil {
		return iothub.NewError(iothub.CodeArgumentInvalid, "configuration content needs a modulesContent object")
	}
	d, err := c.reg.getDevice(ctx, deviceID)
	if err != nil {
		return err
	}
	if !d.Capabilities.IoTEdge {
		return iothub.NewError(iothub.CodeArgumentInvalid, "device %s is not an edge device", deviceID)
	}
	desired := map[string]map[string]any{}
	for mod, sections := range content.ModulesContent {
		raw, ok := sections["properties.desired"]
		if !ok {
			continue
		}
		props, err := twin.DecodeObject(raw)
		if err != nil {
			return iothub.NewError(iothub.CodeArgumentInvalid, "modulesContent.%s.properties.desired is not a JSON object", mod)
		}
		// Every module's content is checked before any twin is written: all or nothing.
		if err := iothub.ValidateTwinObject(props, false); err != nil {
			return iothub.NewError(iothub.CodeArgumentInvalid, "modulesContent.%s: %v", mod, err)
		}
		desired[mod] = props
	}
	doc, err := json.Marshal(desired)
	if err != nil {
		return err
	}
	if err := c.st.PutKV(ctx, deploymentKey(deviceID), doc); err != nil {
		return err
	}
	for mod, props := range desired {
		if err := c.replaceDesired(ctx, store.Key{DeviceID: deviceID, ModuleID: mod}, props); err != nil && !errors.Is(err, errNoModule) {
			return err
		}
	}
	return nil
}

var errNoModule = errors.New("cloud: module does not exist yet")

func deploymentKey(deviceID string) string { return "deployment/" + deviceID }

// replaceDesired replaces a module twin's desired properties and notifies the module.
func (c *Cloud) replaceDesired(ctx context.Context, k store.Key, props map[string]any) error {
	t, err := c.updateTwin(ctx, k, func(t *twin.Twin) error { return t.ReplaceDesired(props, c.now()) })
	if err != nil {
		var he *iothub.Error
		if errors.As(err, &he) && he.Status == http.StatusNotFound {
			return errNoModule
		}
		return err
	}
	c.notifyDesired(k, t.Desired, t.DesiredVersion)
	return nil
}

// applyPendingDeployment gives a newly created module the desired properties its device's last
// deployment holds for it.
func (c *Cloud) applyPendingDeployment(ctx context.Context, k store.Key) error {
	doc, err := c.st.GetKV(ctx, deploymentKey(k.DeviceID))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var desired map[string]map[string]any
	if err := json.Unmarshal(doc, &desired); err != nil {
		return fmt.Errorf("cloud: decode deployment: %w", err)
	}
	if props, ok := desired[k.ModuleID]; ok {
		return c.replaceDesired(ctx, k, props)
	}
	return nil
}
