package pki

import (
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"
)

// SelfSignedDevice creates a self-signed device certificate (clientAuth,
// not a CA) with subject CN commonName, valid from now-Backdate to
// now+validity, for thumbprint authentication. keyPEM is PKCS#8.
func SelfSignedDevice(commonName string, validity time.Duration, now time.Time) (certPEM, keyPEM []byte, err error) {
	if strings.TrimSpace(commonName) == "" {
		return nil, nil, errors.New("pki: device common name is empty")
	}
	tmpl, err := baseTemplate(commonName, now, validity)
	if err != nil {
		return nil, nil, err
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	tmpl.BasicConstraintsValid = true
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: create device certificate: %w", err)
	}
	keyPEM, err = encodeKeyPEM(key)
	if err != nil {
		return nil, nil, err
	}
	return encodeCertPEM(der), keyPEM, nil
}
