package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const (
	// CAValidity is the lifetime of a newly created authority.
	CAValidity = 10 * 365 * 24 * time.Hour
	// Backdate is subtracted from `now` for NotBefore of every certificate
	// issued here, so that peers whose clock is slightly behind accept it.
	Backdate = 5 * time.Minute

	caCertFile = "ca.pem"
	caKeyFile  = "ca.key"
)

// Authority is the cloud's (or edge's) certificate authority, persisted in a directory.
type Authority struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
}

// LoadOrCreateAuthority loads dir/ca.pem and dir/ca.key, or creates them
// (ECDSA P-256, valid CAValidity from now, subject CN commonName) when
// ca.pem does not exist. The directory is created 0700 if missing; the key
// is written 0600 before the certificate, each atomically, so a crash
// between the two leaves a key without a certificate, which is replaced on
// the next call. A loaded authority that is expired or not yet valid at now,
// or whose key does not match its certificate, is an error: replacing it
// silently would invalidate every certificate it issued.
func LoadOrCreateAuthority(dir, commonName string, now time.Time) (*Authority, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki: create authority dir: %w", err)
	}
	certPath := filepath.Join(dir, caCertFile)
	ok, err := fileExists(certPath)
	if err != nil {
		return nil, err
	}
	if ok {
		return loadAuthority(dir, now)
	}
	return createAuthority(dir, commonName, now)
}

// loadAuthority reads and checks a persisted authority.
func loadAuthority(dir string, now time.Time) (*Authority, error) {
	certPath := filepath.Join(dir, caCertFile)
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("pki: read CA certificate: %w", err)
	}
	cert, err := CertificateFromPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: %s: %w", certPath, err)
	}
	keyPEM, err := readKeyFile(filepath.Join(dir, caKeyFile))
	if err != nil {
		return nil, err
	}
	key, err := ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: CA key: %w", err)
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, fmt.Errorf("pki: %s does not match the key in %s", certPath, caKeyFile)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("pki: %s is not a CA certificate", certPath)
	}
	if err := checkValidity(cert, now); err != nil {
		return nil, fmt.Errorf("pki: CA %s: %w (remove ca.pem and ca.key to create a new authority)", certPath, err)
	}
	return &Authority{Cert: cert, Key: key, CertPEM: certPEM}, nil
}

// createAuthority generates and persists a new authority.
func createAuthority(dir, commonName string, now time.Time) (*Authority, error) {
	if strings.TrimSpace(commonName) == "" {
		return nil, errors.New("pki: authority common name is empty")
	}
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	tmpl, err := baseTemplate(commonName, now, CAValidity)
	if err != nil {
		return nil, err
	}
	tmpl.IsCA = true
	tmpl.BasicConstraintsValid = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("pki: create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: parse new CA certificate: %w", err)
	}
	keyPEM, err := encodeKeyPEM(key)
	if err != nil {
		return nil, err
	}
	certPEM := encodeCertPEM(der)
	if err := writeFileAtomic(filepath.Join(dir, caKeyFile), keyPEM, keyFileMode); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(dir, caCertFile), certPEM, certFileMode); err != nil {
		return nil, err
	}
	return &Authority{Cert: cert, Key: key, CertPEM: certPEM}, nil
}

// IssueServer issues a server certificate (serverAuth) for hosts: entries
// that parse as IP addresses (optionally in brackets) become IP SANs, the
// others DNS SANs; nothing is added implicitly. The subject CN is the first
// host. NotAfter is now+validity, clamped to the CA's NotAfter. The returned
// certificate's chain is the leaf followed by the CA certificate, and Leaf
// is set.
func (a *Authority) IssueServer(hosts []string, validity time.Duration, now time.Time) (tls.Certificate, error) {
	dns, ips, err := splitHosts(hosts)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl, err := a.leafTemplate(strings.Trim(hosts[0], "[]"), now, validity)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl.DNSNames, tmpl.IPAddresses = dns, ips
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	key, der, err := a.sign(tmpl)
	if err != nil {
		return tls.Certificate{}, err
	}
	return a.tlsCertificate(der, key)
}

// IssueClient issues a client certificate (clientAuth) with subject CN
// commonName, for CA-signed device authentication. certPEM holds the leaf
// only (the CA is a.CertPEM); keyPEM is PKCS#8.
func (a *Authority) IssueClient(commonName string, validity time.Duration, now time.Time) (certPEM, keyPEM []byte, err error) {
	if strings.TrimSpace(commonName) == "" {
		return nil, nil, errors.New("pki: client common name is empty")
	}
	tmpl, err := a.leafTemplate(commonName, now, validity)
	if err != nil {
		return nil, nil, err
	}
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	key, der, err := a.sign(tmpl)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err = encodeKeyPEM(key)
	if err != nil {
		return nil, nil, err
	}
	return encodeCertPEM(der), keyPEM, nil
}

// leafTemplate is a non-CA template whose NotAfter does not outlive the CA.
func (a *Authority) leafTemplate(commonName string, now time.Time, validity time.Duration) (*x509.Certificate, error) {
	tmpl, err := baseTemplate(commonName, now, validity)
	if err != nil {
		return nil, err
	}
	if tmpl.NotAfter.After(a.Cert.NotAfter) {
		tmpl.NotAfter = a.Cert.NotAfter
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	return tmpl, nil
}

// sign generates a key for tmpl and signs it with the authority.
func (a *Authority) sign(tmpl *x509.Certificate) (*ecdsa.PrivateKey, []byte, error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.Cert, key.Public(), a.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: sign certificate for %q: %w", tmpl.Subject.CommonName, err)
	}
	return key, der, nil
}

// tlsCertificate assembles leaf+CA chain and key into a tls.Certificate.
func (a *Authority) tlsCertificate(der []byte, key crypto.Signer) (tls.Certificate, error) {
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: parse issued certificate: %w", err)
	}
	return tls.Certificate{
		Certificate: [][]byte{der, a.Cert.Raw},
		PrivateKey:  key,
		Leaf:        leaf,
	}, nil
}

// baseTemplate fills serial, subject and validity window.
func baseTemplate(commonName string, now time.Time, validity time.Duration) (*x509.Certificate, error) {
	if validity <= 0 {
		return nil, fmt.Errorf("pki: validity %v is not positive", validity)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("pki: generate serial: %w", err)
	}
	return &x509.Certificate{
		SerialNumber: serial.Add(serial, big.NewInt(1)),
		Subject:      pkix.Name{CommonName: commonName},
		NotBefore:    now.Add(-Backdate).UTC(),
		NotAfter:     now.Add(validity).UTC(),
	}, nil
}

// newKey generates an ECDSA P-256 key.
func newKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: generate key: %w", err)
	}
	return k, nil
}

// splitHosts separates IP and DNS SANs; at least one non-empty host is required.
func splitHosts(hosts []string) (dns []string, ips []net.IP, err error) {
	if len(hosts) == 0 {
		return nil, nil, errors.New("pki: no host names for server certificate")
	}
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		if h == "" {
			return nil, nil, errors.New("pki: empty host name for server certificate")
		}
		if ip := net.ParseIP(strings.Trim(h, "[]")); ip != nil {
			ips = append(ips, ip)
			continue
		}
		if strings.ContainsAny(h, " /:[]") {
			return nil, nil, fmt.Errorf("pki: invalid host name %q", h)
		}
		dns = append(dns, h)
	}
	return dns, ips, nil
}

// publicKeysEqual compares two public keys of any standard type.
func publicKeysEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}
