package cloud

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/outpost-iot/outpost/internal/cloud/store"
	"github.com/outpost-iot/outpost/internal/iothub"
	"github.com/outpost-iot/outpost/internal/twin"
)

// systemModules are created with every edge device (IOTEDGE-REFERENCE §4.5).
var systemModules = []string{"$edgeAgent", "$edgeHub"}

// registry manages device and module identities.
type registry struct {
	st  *store.Store
	now func() time.Time
	// onChange is told when an identity changes or goes, so that live connections can be
	// re-checked (disabled devices and rotated keys are disconnected).
	onChange func(k store.Key)
}

func notFound(k store.Key) error {
	if k.ModuleID == "" {
		return iothub.NewError(iothub.CodeDeviceNotFound, "device %s not found", k.DeviceID)
	}
	return iothub.NewError(iothub.CodeModuleNotFound, "module %s on device %s not found", k.ModuleID, k.DeviceID)
}

func mapStoreErr(err error, k store.Key) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return notFound(k)
	case errors.Is(err, store.ErrConflict):
		if k.ModuleID == "" {
			return iothub.NewError(iothub.CodeDeviceAlreadyExists, "device %s already exists", k.DeviceID)
		}
		return iothub.NewError(iothub.CodeModuleAlreadyExists, "module %s on device %s already exists", k.ModuleID, k.DeviceID)
	}
	return err
}

func newTwinDoc() ([]byte, error) {
	return json.Marshal(twin.New())
}

// getDevice loads a device.
func (r *registry) getDevice(ctx context.Context, id string) (*iothub.Device, error) {
	k := store.Key{DeviceID: id}
	doc, err := r.st.GetIdentity(ctx, k)
	if err != nil {
		return nil, mapStoreErr(err, k)
	}
	d := &iothub.Device{}
	return d, decodeJSON(doc, d)
}

// getModule loads a module.
func (r *registry) getModule(ctx context.Context, deviceID, moduleID string) (*iothub.Module, error) {
	k := store.Key{DeviceID: deviceID, ModuleID: moduleID}
	doc, err := r.st.GetIdentity(ctx, k)
	if err != nil {
		return nil, mapStoreErr(err, k)
	}
	m := &iothub.Module{}
	return m, decodeJSON(doc, m)
}

// lookup returns the authentication view of a device or module.
func (r *registry) lookup(ctx context.Context, k store.Key) (*identity, error) {
	d, err := r.getDevice(ctx, k.DeviceID)
	if err != nil {
		return nil, err
	}
	if k.ModuleID == "" {
		return deviceIdentity(d), nil
	}
	m, err := r.getModule(ctx, k.DeviceID, k.ModuleID)
	if err != nil {
		return nil, err
	}
	return moduleIdentity(m, d), nil
}

// createDevice creates a device (and, for edge devices, its system modules).
func (r *registry) createDevice(ctx context.Context, in *iothub.Device) (*iothub.Device, error) {
	if err := validateID("device", in.DeviceID); err != nil {
		return nil, err
	}
	now := r.now().UTC()
	d := *in
	d.GenerationID = newGenerationID(now)
	d.ETag = newETag()
	d.ConnectionState = "Disconnected"
	d.ConnectionStateUpdatedTime, d.StatusUpdatedTime, d.LastActivityTime = time.Time{}, now, time.Time{}
	d.CloudToDeviceMessageCount = 0
	if d.Status == "" {
		d.Status = "enabled"
	}
	if d.Status != "enabled" && d.Status != "disabled" {
		return nil, iothub.NewError(iothub.CodeArgumentInvalid, "status must be enabled or disabled")
	}
	if err := normalizeAuth(&d.Authentication); err != nil {
		return nil, err
	}
	if err := r.resolveScopes(ctx, &d); err != nil {
		return nil, err
	}
	if err := r.insert(ctx, store.Key{DeviceID: d.DeviceID}, &d); err != nil {
		return nil, err
	}
	if d.Capabilities.IoTEdge {
		for _, mid := range systemModules {
			m := &iothub.Module{ModuleID: mid, DeviceID: d.DeviceID}
			if _, err := r.createModule(ctx, m); err != nil {
				return nil, err
			}
		}
	}
	return &d, nil
}

// resolveScopes checks and completes the parent/child relationship of a new or updated device.
// An edge device gets its own scope; a leaf's deviceScope names its parent edge's scope.
func (r *registry) resolveScopes(ctx context.Context, d *iothub.Device) error {
	parent := d.DeviceScope
	if d.Capabilities.IoTEdge {
		if len(d.ParentScopes) > 0 {
			parent = d.ParentScopes[0]
		} else if parent == edgeScope(d.DeviceID, d.GenerationID) {
			parent = ""
		}
		d.DeviceScope = edgeScope(d.DeviceID, d.GenerationID)
	}
	d.ParentScopes = []string{}
	if parent == "" || d.Capabilities.IoTEdge && parent == d.DeviceScope {
		if !d.Capabilities.IoTEdge {
			d.DeviceScope = ""
		}
		return nil
	}
	if _, err := r.edgeByScope(ctx, parent); err != nil {
		return err
	}
	if !d.Capabilities.IoTEdge {
		d.DeviceScope = parent
	}
	d.ParentScopes = []string{parent}
	return nil
}

// edgeByScope finds the edge device that owns a device scope.
func (r *registry) edgeByScope(ctx context.Context, scope string) (*iothub.Device, error) {
	rest, ok := strings.CutPrefix(scope, "ms-azure-iot-edge://")
	i := strings.LastIndex(rest, "-")
	if !ok || i <= 0 {
		return nil, iothub.NewError(iothub.CodeArgumentInvalid, "device scope %q is not an edge device scope", scope)
	}
	d, err := r.getDevice(ctx, rest[:i])
	if err != nil || !d.Capabilities.IoTEdge || d.DeviceScope != scope {
		return nil, iothub.NewError(iothub.CodeArgumentInvalid, "device scope %q names no edge device", scope)
	}
	return d, nil
}

func (r *registry) insert(ctx context.Context, k store.Key, v any) error {
	doc, err := json.Marshal(v)
	if err != nil {
		return err
	}
	twinDoc, err := newTwinDoc()
	if err != nil {
		return err
	}
	return mapStoreErr(r.st.CreateIdentity(ctx, k, doc, twinDoc), k)
}

// updateDevice replaces a device's mutable fields, honouring If-Match.
func (r *registry) updateDevice(ctx context.Context, in *iothub.Device, ifMatch string) (*iothub.Device, error) {
	k := store.Key{DeviceID: in.DeviceID}
	var out iothub.Device
	_, err := r.st.UpdateIdentity(ctx, k, func(doc []byte) ([]byte, error) {
		var cur iothub.Device
		if err := decodeJSON(doc, &cur); err != nil {
			return nil, err
		}
		if !etagMatches(ifMatch, cur.ETag) {
			return nil, iothub.NewError(iothub.CodePreconditionFailed, "etag mismatch for device %s", in.DeviceID)
		}
		next := *in
		next.GenerationID, next.ConnectionState = cur.GenerationID, cur.ConnectionState
		next.ConnectionStateUpdatedTime, next.LastActivityTime = cur.ConnectionStateUpdatedTime, cur.LastActivityTime
		next.CloudToDeviceMessageCount = cur.CloudToDeviceMessageCount
		next.StatusUpdatedTime = cur.StatusUpdatedTime
		if next.Status == "" {
			next.Status = cur.Status
		}
		if next.Status != "enabled" && next.Status != "disabled" {
			return nil, iothub.NewError(iothub.CodeArgumentInvalid, "status must be enabled or disabled")
		}
		if next.Status != cur.Status {
			next.StatusUpdatedTime = r.now().UTC()
		}
		if next.Capabilities.IoTEdge != cur.Capabilities.IoTEdge {
			return nil, iothub.NewError(iothub.CodeArgumentInvalid, "the iotEdge capability of device %s cannot change", in.DeviceID)
		}
		keepKeys(&next.Authentication, cur.Authentication)
		if err := normalizeAuth(&next.Authentication); err != nil {
			return nil, err
		}
		if err := r.resolveScopes(ctx, &next); err != nil {
			return nil, err
		}
		next.ETag = newETag()
		out = next
		return json.Marshal(&next)
	})
	if err != nil {
		return nil, mapStoreErr(err, k)
	}
	r.changed(k)
	return &out, nil
}

// deleteDevice removes a device and everything it owns.
func (r *registry) deleteDevice(ctx context.Context, id, ifMatch string) error {
	return r.deleteIdentity(ctx, store.Key{DeviceID: id}, ifMatch)
}

// deleteIdentity removes a device or module whose etag matches ifMatch.
func (r *registry) deleteIdentity(ctx context.Context, k store.Key, ifMatch string) error {
	err := r.st.DeleteIdentity(ctx, k, func(doc []byte) error {
		var cur struct {
			ETag string `json:"etag"`
		}
		if err := decodeJSON(doc, &cur); err != nil {
			return err
		}
		if !etagMatches(ifMatch, cur.ETag) {
			return iothub.NewError(iothub.CodePreconditionFailed, "etag mismatch for %s", k)
		}
		return nil
	})
	if err != nil {
		return mapStoreErr(err, k)
	}
	r.changed(k)
	return nil
}

func (r *registry) listDevices(ctx context.Context, top int) ([]*iothub.Device, error) {
	docs, err := r.st.ListDevices(ctx, top)
	if err != nil {
		return nil, err
	}
	return decodeAll[iothub.Device](docs)
}

// createModule creates a module on an existing device.
func (r *registry) createModule(ctx context.Context, in *iothub.Module) (*iothub.Module, error) {
	if err := validateID("module", in.ModuleID); err != nil {
		return nil, err
	}
	now := r.now().UTC()
	m := *in
	m.GenerationID = newGenerationID(now)
	m.ETag = newETag()
	m.ConnectionState = "Disconnected"
	m.ConnectionStateUpdatedTime, m.LastActivityTime = time.Time{}, time.Time{}
	if err := normalizeAuth(&m.Authentication); err != nil {
		return nil, err
	}
	if err := r.insert(ctx, store.Key{DeviceID: m.DeviceID, ModuleID: m.ModuleID}, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// updateModule replaces a module's mutable fields, honouring If-Match.
func (r *registry) updateModule(ctx context.Context, in *iothub.Module, ifMatch string) (*iothub.Module, error) {
	k := store.Key{DeviceID: in.DeviceID, ModuleID: in.ModuleID}
	var out iothub.Module
	_, err := r.st.UpdateIdentity(ctx, k, func(doc []byte) ([]byte, error) {
		var cur iothub.Module
		if err := decodeJSON(doc, &cur); err != nil {
			return nil, err
		}
		if !etagMatches(ifMatch, cur.ETag) {
			return nil, iothub.NewError(iothub.CodePreconditionFailed, "etag mismatch for module %s", k)
		}
		next := *in
		next.GenerationID, next.ConnectionState = cur.GenerationID, cur.ConnectionState
		next.ConnectionStateUpdatedTime, next.LastActivityTime = cur.ConnectionStateUpdatedTime, cur.LastActivityTime
		keepKeys(&next.Authentication, cur.Authentication)
		if err := normalizeAuth(&next.Authentication); err != nil {
			return nil, err
		}
		next.ETag = newETag()
		out = next
		return json.Marshal(&next)
	})
	if err != nil {
		return nil, mapStoreErr(err, k)
	}
	r.changed(k)
	return &out, nil
}

func (r *registry) deleteModule(ctx context.Context, deviceID, moduleID, ifMatch string) error {
	return r.deleteIdentity(ctx, store.Key{DeviceID: deviceID, ModuleID: moduleID}, ifMatch)
}

func (r *registry) listModules(ctx context.Context, deviceID string) ([]*iothub.Module, error) {
	if _, err := r.getDevice(ctx, deviceID); err != nil {
		return nil, err
	}
	docs, err := r.st.ListModules(ctx, deviceID)
	if err != nil {
		return nil, err
	}
	return decodeAll[iothub.Module](docs)
}

func (r *registry) changed(k store.Key) {
	if r.onChange != nil {
		r.onChange(k)
	}
}

// keepKeys keeps an identity's SAS keys when an update omits them, so that an update of other
// fields never rotates keys by accident.
func keepKeys(next *iothub.Authentication, cur iothub.Authentication) {
	if next.Type != "" && next.Type != iothub.AuthSAS || cur.SymmetricKey == nil {
		return
	}
	if next.SymmetricKey == nil || next.SymmetricKey.PrimaryKey == "" && next.SymmetricKey.SecondaryKey == "" {
		k := *cur.SymmetricKey
		next.SymmetricKey = &k
	}
}

// decodeAll decodes stored JSON documents.
func decodeAll[T any](docs [][]byte) ([]*T, error) {
	out := make([]*T, 0, len(docs))
	for _, doc := range docs {
		v := new(T)
		if err := decodeJSON(doc, v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
