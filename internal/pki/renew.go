package pki

import (
	"crypto/tls"
	"sync"
	"time"
)

// RenewingServerCert serves a server certificate persisted by
// LoadOrCreateServerCert and renews it during the handshake when it has
// less than RenewBefore left or the clock moved before its NotBefore (C4,
// SEC-04), so a long-running process never serves an expired certificate.
// It is safe for concurrent use.
type RenewingServerCert struct {
	dir   string
	a     *Authority
	hosts []string
	now   func() time.Time

	mu   sync.Mutex // guards cert
	cert *tls.Certificate
}

// NewRenewingServerCert loads or issues the certificate at now() and
// returns a source that keeps it fresh.
func NewRenewingServerCert(dir string, a *Authority, hosts []string, now func() time.Time) (*RenewingServerCert, error) {
	r := &RenewingServerCert{dir: dir, a: a, hosts: append([]string(nil), hosts...), now: now}
	if _, err := r.Current(now()); err != nil {
		return nil, err
	}
	return r, nil
}

// Current returns the certificate to serve at now, renewing it first if
// needed. When renewal fails the error is returned (never an expired
// certificate).
func (r *RenewingServerCert) Current(now time.Time) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cert != nil && r.fresh(now) {
		return r.cert, nil
	}
	c, err := LoadOrCreateServerCert(r.dir, r.a, r.hosts, now)
	if err != nil {
		return nil, err
	}
	r.cert = &c
	return r.cert, nil
}

// fresh is the cheap part of ServerCertUsable: hosts and CA do not change.
func (r *RenewingServerCert) fresh(now time.Time) bool {
	leaf := r.cert.Leaf
	return !now.Before(leaf.NotBefore) && leaf.NotAfter.Sub(now) > RenewBefore
}

// GetCertificate is a tls.Config.GetCertificate using the injected clock.
func (r *RenewingServerCert) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.Current(r.now())
}

// TLSConfig is ServerTLSConfig with the certificate served by r.
func (r *RenewingServerCert) TLSConfig() *tls.Config {
	cfg := baseServerTLSConfig()
	cfg.GetCertificate = r.GetCertificate
	return cfg
}
