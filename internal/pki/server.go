package pki

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

const (
	// ServerValidity is the lifetime of a server certificate issued by
	// LoadOrCreateServerCert.
	ServerValidity = 365 * 24 * time.Hour
	// RenewBefore is how long before expiry a persisted server certificate
	// stops being reused.
	RenewBefore = 30 * 24 * time.Hour

	serverCertFile = "server.pem"
	serverKeyFile  = "server.key"
)

// LoadOrCreateServerCert returns the server certificate persisted in
// dir/server.pem and dir/server.key when it is usable at now (see
// ServerCertUsable), and otherwise issues a new one from a for hosts
// (ServerValidity) and persists it atomically, key first (0600).
func LoadOrCreateServerCert(dir string, a *Authority, hosts []string, now time.Time) (tls.Certificate, error) {
	if cert, err := loadServerCert(dir); err == nil && ServerCertUsable(cert.Leaf, a, hosts, now) {
		return cert, nil
	}
	cert, err := a.IssueServer(hosts, ServerValidity, now)
	if err != nil {
		return tls.Certificate{}, err
	}
	key, ok := cert.PrivateKey.(crypto.Signer)
	if !ok {
		return tls.Certificate{}, fmt.Errorf("pki: unexpected server key type %T", cert.PrivateKey)
	}
	keyPEM, err := encodeKeyPEM(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: create server cert dir: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(dir, serverKeyFile), keyPEM, keyFileMode); err != nil {
		return tls.Certificate{}, err
	}
	if err := writeFileAtomic(filepath.Join(dir, serverCertFile), encodeCertPEM(cert.Certificate...), certFileMode); err != nil {
		return tls.Certificate{}, err
	}
	return cert, nil
}

// loadServerCert reads the persisted server pair; any problem is an error
// (the caller then reissues).
func loadServerCert(dir string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, serverCertFile))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: read server certificate: %w", err)
	}
	keyPEM, err := readKeyFile(filepath.Join(dir, serverKeyFile))
	if err != nil {
		return tls.Certificate{}, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: persisted server key pair: %w", err)
	}
	return cert, nil
}

// ServerCertUsable reports whether leaf can keep serving hosts at now: it
// chains to a at now, its SAN set equals hosts (order- and case-insensitive
// for DNS names, nothing more and nothing less), and more than RenewBefore
// remains before NotAfter. A clock that jumped back before NotBefore makes
// it unusable too (C4).
func ServerCertUsable(leaf *x509.Certificate, a *Authority, hosts []string, now time.Time) bool {
	if leaf == nil || a == nil {
		return false
	}
	if VerifyChain(leaf, nil, []*x509.Certificate{a.Cert}, now) != nil {
		return false
	}
	if leaf.NotAfter.Sub(now) <= RenewBefore {
		return false
	}
	return slices.Equal(hostSet(hosts), certHostSet(leaf))
}

// hostSet normalizes requested hosts: lower-case DNS names, canonical IPs, sorted, unique.
func hostSet(hosts []string) []string {
	var out []string
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		if ip := net.ParseIP(strings.Trim(h, "[]")); ip != nil {
			out = append(out, "ip:"+ip.String())
			continue
		}
		out = append(out, "dns:"+strings.ToLower(h))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// certHostSet is hostSet for a certificate's SANs.
func certHostSet(c *x509.Certificate) []string {
	var out []string
	for _, d := range c.DNSNames {
		out = append(out, "dns:"+strings.ToLower(d))
	}
	for _, ip := range c.IPAddresses {
		out = append(out, "ip:"+ip.String())
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// LoadKeyPair loads a user-provided certificate chain and private key (PEM
// files). Errors name the file and the problem: unreadable file, no
// certificate, unparsable key, key not matching the certificate.
func LoadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: read certificate file: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: read key file: %w", err)
	}
	certs, err := CertificatesFromPEM(certPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: certificate file %s: %w", certFile, err)
	}
	key, err := ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: key file %s: %w", keyFile, err)
	}
	if !publicKeysEqual(certs[0].PublicKey, key.Public()) {
		return tls.Certificate{}, fmt.Errorf("pki: key file %s does not match the first certificate in %s", keyFile, certFile)
	}
	out := tls.Certificate{PrivateKey: key, Leaf: certs[0]}
	for _, c := range certs {
		out.Certificate = append(out.Certificate, c.Raw)
	}
	return out, nil
}
