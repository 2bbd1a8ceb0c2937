package cloud

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/outpost-iot/outpost/internal/cloud/store"
	"github.com/outpost-iot/outpost/internal/iothub"
	"github.com/outpost-iot/outpost/internal/mqtt/broker"
	"github.com/outpost-iot/outpost/internal/pki"
)

// Rights of shared access policies, as IoT Hub names them.
const (
	RightRegistryRead   = "RegistryRead"
	RightRegistryWrite  = "RegistryWrite"
	RightServiceConnect = "ServiceConnect"
	RightDeviceConnect  = "DeviceConnect"
)

// Policy is a shared access policy for services.
type Policy struct {
	KeyName      string   `json:"keyName"`
	PrimaryKey   string   `json:"primaryKey"`
	SecondaryKey string   `json:"secondaryKey"`
	Rights       []string `json:"rights"`
}

// defaultPolicies are IoT Hub's built-in policies.
var defaultPolicies = map[string][]string{
	"iothubowner":       {RightRegistryRead, RightRegistryWrite, RightServiceConnect, RightDeviceConnect},
	"service":           {RightServiceConnect},
	"device":            {RightDeviceConnect},
	"registryRead":      {RightRegistryRead},
	"registryReadWrite": {RightRegistryRead, RightRegistryWrite},
}

const policiesKey = "policies"

// loadPolicies returns the persisted policies, creating them with fresh keys on first start.
// An existing document is only read: a start on a full disk must not need a write.
func loadPolicies(ctx context.Context, st *store.Store) (map[string]*Policy, error) {
	stored, err := st.GetKV(ctx, policiesKey)
	if errors.Is(err, store.ErrNotFound) {
		stored, err = createPolicies(ctx, st)
	}
	if err != nil {
		return nil, err
	}
	out := map[string]*Policy{}
	if err := json.Unmarshal(stored, &out); err != nil {
		return nil, fmt.Errorf("cloud: decode policies: %w", err)
	}
	return out, nil
}

// createPolicies stores IoT Hub's policies with fresh keys, unless another start got there
// first, and returns the document stored.
func createPolicies(ctx context.Context, st *store.Store) ([]byte, error) {
	fresh := map[string]*Policy{}
	for name, rights := range defaultPolicies {
		fresh[name] = &Policy{KeyName: name, PrimaryKey: newKey(), SecondaryKey: newKey(), Rights: rights}
	}
	doc, err := json.Marshal(fresh)
	if err != nil {
		return nil, err
	}
	return st.PutKVIfAbsent(ctx, policiesKey, doc)
}

// principal is an authenticated REST caller: a service policy or a device/module identity.
type principal struct {
	policy *Policy
	device store.Key // set for device and module tokens
}

func (p *principal) has(right string) bool {
	return p.policy != nil && slices.Contains(p.policy.Rights, right)
}

func unauthorized(format string, args ...any) error {
	return iothub.NewError(iothub.CodeIotHubUnauthorizedAccess, format, args...)
}

// authenticator checks credentials against the hub's hostnames, policies and registry.
type authenticator struct {
	hostnames   []string
	policies    map[string]*Policy
	reg         *registry
	st          *store.Store
	now         func() time.Time
	maxLifetime time.Duration
	failures    func(reason string)
}

func (a *authenticator) fail(reason string, err error) error {
	if a.failures != nil {
		a.failures(reason)
	}
	return err
}

func (a *authenticator) isHubHost(host string) bool {
	return slices.ContainsFunc(a.hostnames, func(h string) bool { return iothub.SameHost(h, host) })
}

// authenticateHTTP validates the Authorization header of a REST call.
func (a *authenticator) authenticateHTTP(ctx context.Context, header string) (*principal, error) {
	if header == "" {
		return nil, a.fail("missing_token", unauthorized("missing Authorization header"))
	}
	tok, err := iothub.ParseSASToken(header)
	if err != nil {
		return nil, a.fail("malformed_token", unauthorized("malformed SharedAccessSignature"))
	}
	host, dev, mod, err := tok.Audience()
	if err != nil || !a.isHubHost(host) {
		return nil, a.fail("wrong_audience", unauthorized("token audience is not this hub"))
	}
	if tok.KeyName != "" && dev == "" {
		p, ok := a.policies[tok.KeyName]
		if !ok {
			return nil, a.fail("unknown_policy", unauthorized("unknown shared access policy"))
		}
		if err := tok.Verify([]string{p.PrimaryKey, p.SecondaryKey}, a.now(), a.maxLifetime); err != nil {
			return nil, a.fail(sasReason(err), unauthorized("invalid token: %v", err))
		}
		return &principal{policy: p}, nil
	}
	if dev == "" {
		return nil, a.fail("wrong_audience", unauthorized("token names no policy and no device"))
	}
	k := store.Key{DeviceID: dev, ModuleID: mod}
	id, err := a.reg.lookup(ctx, k)
	if err != nil && !isRefusal(err) {
		return nil, err // the registry failed: a server error (wireError), not a 401
	}
	if err != nil {
		return nil, a.fail("unknown_identity", unauthorized("unknown identity"))
	}
	if err := a.verifyIdentityToken(tok, id); err != nil {
		return nil, err
	}
	return &principal{device: store.Key{DeviceID: id.DeviceID, ModuleID: id.ModuleID}}, nil
}

func (a *authenticator) verifyIdentityToken(tok iothub.SASToken, id *identity) error {
	if !id.Enabled {
		return a.fail("disabled", unauthorized("identity is disabled"))
	}
	if id.Auth.Type != iothub.AuthSAS {
		return a.fail("wrong_auth_type", unauthorized("identity does not use SAS authentication"))
	}
	if err := tok.Verify(id.keys(), a.now(), a.maxLifetime); err != nil {
		return a.fail(sasReason(err), unauthorized("invalid token: %v", err))
	}
	return nil
}

func sasReason(err error) string {
	switch {
	case errors.Is(err, iothub.ErrSASExpired):
		return "expired_token"
	case errors.Is(err, iothub.ErrSASSignature):
		return "bad_signature"
	case errors.Is(err, iothub.ErrSASLifetime):
		return "token_lifetime"
	}
	return "malformed_token"
}

// authenticateSAS validates an MQTT password for the identity id and returns the token's
// expiry. Besides the identity's own token it accepts, on behalf of the identity, the $edgeHub
// token of the edge device that is its parent or owns it (IOTEDGE-REFERENCE §3.6).
func (a *authenticator) authenticateSAS(ctx context.Context, password string, id *identity) (time.Time, error) {
	tok, err := iothub.ParseSASToken(password)
	if err != nil {
		return time.Time{}, a.fail("malformed_token", refused(broker.CodeBadCredentials, "malformed SAS token"))
	}
	host, dev, mod, err := tok.Audience()
	if err != nil || !a.isHubHost(host) {
		return time.Time{}, a.fail("wrong_audience", refused(broker.CodeNotAuthorized, "token audience is not this hub"))
	}
	signer := id
	if !strings.EqualFold(dev, id.DeviceID) || !strings.EqualFold(mod, id.ModuleID) {
		if mod != "$edgeHub" || !a.actsFor(ctx, dev, id) {
			return time.Time{}, a.fail("wrong_audience", refused(broker.CodeNotAuthorized, "token is for another identity"))
		}
		if signer, err = a.reg.lookup(ctx, store.Key{DeviceID: dev, ModuleID: "$edgeHub"}); err != nil && !isRefusal(err) {
			return time.Time{}, fmt.Errorf("cloud: look up the edge hub of %s: %w", dev, err) // CONNACK 3
		}
		if err != nil {
			return time.Time{}, a.fail("unknown_identity", refused(broker.CodeNotAuthorized, "unknown edge hub"))
		}
		if !id.Enabled {
			return time.Time{}, a.fail("disabled", refused(broker.CodeNotAuthorized, "identity is disabled"))
		}
	}
	if err := a.verifyIdentityToken(tok, signer); err != nil {
		return time.Time{}, refused(broker.CodeNotAuthorized, err.Error())
	}
	return tok.Expiry, nil
}

// actsFor reports whether the edge device edgeID may act on behalf of id: its own modules, and
// devices whose scope places them under it.
func (a *authenticator) actsFor(ctx context.Context, edgeID string, id *identity) bool {
	if id.DeviceID == edgeID {
		return true
	}
	edge, err := a.reg.getDevice(ctx, edgeID)
	if err != nil || !edge.Capabilities.IoTEdge || edge.Status != "enabled" {
		return false
	}
	return id.DeviceScope == edge.DeviceScope && !id.Edge || slices.Contains(id.ParentScopes, edge.DeviceScope)
}

// authenticateX509 validates a client certificate for a device or module and returns the
// authentication method for the iothub-connection-auth-method stamp.
func (a *authenticator) authenticateX509(ctx context.Context, chain []*x509.Certificate, id *identity) (string, error) {
	if len(chain) == 0 {
		return "", a.fail("no_credentials", refused(broker.CodeBadCredentials, "no password and no client certificate"))
	}
	if !id.Enabled {
		return "", a.fail("disabled", refused(broker.CodeNotAuthorized, "identity is disabled"))
	}
	leaf, now := chain[0], a.now()
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return "", a.fail("certificate_expired", refused(broker.CodeNotAuthorized, "client certificate is outside its validity period"))
	}
	switch id.Auth.Type {
	case iothub.AuthSelfSigned:
		t := id.Auth.X509Thumbprint
		if !pki.MatchThumbprint(leaf, deref(t.PrimaryThumbprint), deref(t.SecondaryThumbprint)) {
			return "", a.fail("thumbprint_mismatch", refused(broker.CodeNotAuthorized, "certificate thumbprint does not match"))
		}
		return iothub.AuthSelfSigned, nil
	case iothub.AuthCertificateAuthority:
		want := id.DeviceID
		if id.ModuleID != "" {
			want = id.ModuleID
		}
		if leaf.Subject.CommonName != want {
			return "", a.fail("certificate_subject", refused(broker.CodeNotAuthorized, "certificate common name is not the identity id"))
		}
		roots, err := a.registeredCAs(ctx)
		if err != nil || len(roots) == 0 {
			return "", a.fail("unknown_ca", refused(broker.CodeNotAuthorized, "no CA certificate registered"))
		}
		if err := pki.VerifyChain(leaf, chain[1:], roots, now); err != nil {
			return "", a.fail("unknown_ca", refused(broker.CodeNotAuthorized, "certificate chain is not trusted"))
		}
		return iothub.AuthCertificateAuthority, nil
	}
	return "", a.fail("wrong_auth_type", refused(broker.CodeNotAuthorized, "identity does not use X.509 authentication"))
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (a *authenticator) registeredCAs(ctx context.Context) ([]*x509.Certificate, error) {
	docs, err := a.st.ListCertificates(ctx)
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for _, doc := range docs {
		var c caCertificate
		if err := json.Unmarshal(doc, &c); err != nil {
			continue
		}
		if cert, err := pki.CertificateFromPEM([]byte(c.Properties.Certificate)); err == nil {
			out = append(out, cert)
		}
	}
	return out, nil
}

// refused is a CONNECT refusal with its CONNACK return code.
func refused(code byte, reason string) error {
	return &broker.ConnectError{Code: code, Reason: reason}
}
