package pki

import (
	"crypto/sha1" //nolint:gosec // SHA-1 thumbprints are what Azure IoT Hub registers for X.509 devices.
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors returned (wrapped) by VerifyChain, for errors.Is.
var (
	ErrCertExpired       = errors.New("certificate expired")
	ErrCertNotYetValid   = errors.New("certificate not yet valid")
	ErrUnknownAuthority  = errors.New("certificate signed by unknown authority")
	ErrNoRoots           = errors.New("no trusted roots")
	ErrInvalidThumbprint = errors.New("invalid thumbprint")
)

// VerifyChain verifies that leaf chains to one of roots through
// intermediates at time now (C4), for any extended key usage. The leaf's own
// validity window is checked first so that the error says which bound
// failed (ErrCertExpired, ErrCertNotYetValid); an unrelated issuer yields
// ErrUnknownAuthority. A self-signed leaf verifies when it is itself one of
// roots.
func VerifyChain(leaf *x509.Certificate, intermediates []*x509.Certificate, roots []*x509.Certificate, now time.Time) error {
	if leaf == nil {
		return errors.New("pki: verify chain: no certificate")
	}
	if len(roots) == 0 {
		return fmt.Errorf("pki: verify chain: %w", ErrNoRoots)
	}
	if err := checkValidity(leaf, now); err != nil {
		return fmt.Errorf("pki: verify chain: %w", err)
	}
	opts := x509.VerifyOptions{
		Roots:         x509.NewCertPool(),
		Intermediates: x509.NewCertPool(),
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}
	for _, r := range roots {
		opts.Roots.AddCert(r)
	}
	for _, c := range intermediates {
		opts.Intermediates.AddCert(c)
	}
	if _, err := leaf.Verify(opts); err != nil {
		return fmt.Errorf("pki: verify chain of %q: %w", leaf.Subject.CommonName, classify(err))
	}
	return nil
}

// classify adds a sentinel to x509 verification errors that have one.
func classify(err error) error {
	var ua x509.UnknownAuthorityError
	if errors.As(err, &ua) {
		return fmt.Errorf("%w: %w", ErrUnknownAuthority, err)
	}
	var ci x509.CertificateInvalidError
	if errors.As(err, &ci) && ci.Reason == x509.Expired {
		// An intermediate or root outside its window at now.
		return fmt.Errorf("%w: %w", ErrCertExpired, err)
	}
	return err
}

// checkValidity checks c's NotBefore/NotAfter against now.
func checkValidity(c *x509.Certificate, now time.Time) error {
	if now.Before(c.NotBefore) {
		return fmt.Errorf("%w: %q valid from %s, now %s", ErrCertNotYetValid,
			c.Subject.CommonName, c.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if now.After(c.NotAfter) {
		return fmt.Errorf("%w: %q expired at %s, now %s", ErrCertExpired,
			c.Subject.CommonName, c.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

// Thumbprints returns the SHA-1 and SHA-256 digests of the certificate's DER
// encoding as upper-case hex without separators, as Azure shows them.
func Thumbprints(cert *x509.Certificate) (sha1Hex, sha256Hex string) {
	s1 := sha1.Sum(cert.Raw) //nolint:gosec // thumbprint, not a signature.
	s256 := sha256.Sum256(cert.Raw)
	return strings.ToUpper(hex.EncodeToString(s1[:])), strings.ToUpper(hex.EncodeToString(s256[:]))
}

// NormalizeThumbprint returns s upper-cased with ':' separators and spaces
// removed. It fails unless the result is 40 (SHA-1) or 64 (SHA-256) hex
// digits.
func NormalizeThumbprint(s string) (string, error) {
	n := strings.ToUpper(strings.NewReplacer(":", "", " ", "").Replace(strings.TrimSpace(s)))
	if len(n) != 40 && len(n) != 64 {
		return "", fmt.Errorf("pki: %w: %d hex digits, want 40 or 64", ErrInvalidThumbprint, len(n))
	}
	if _, err := hex.DecodeString(n); err != nil {
		return "", fmt.Errorf("pki: %w: not hex", ErrInvalidThumbprint)
	}
	return n, nil
}

// ThumbprintsEqual reports whether a and b denote the same thumbprint,
// ignoring case and ':' separators. Invalid thumbprints are never equal.
func ThumbprintsEqual(a, b string) bool {
	na, errA := NormalizeThumbprint(a)
	nb, errB := NormalizeThumbprint(b)
	if errA != nil || errB != nil {
		return false
	}
	return constantTimeEqual(na, nb)
}

// MatchThumbprint reports whether cert's SHA-1 or SHA-256 thumbprint equals
// any of the given thumbprints (case-insensitive, ':' tolerated); empty
// entries are ignored. Each candidate is normalised once and compared in
// constant time with the certificate's own (already normal) thumbprints.
func MatchThumbprint(cert *x509.Certificate, thumbprints ...string) bool {
	if cert == nil {
		return false
	}
	s1, s256 := Thumbprints(cert)
	for _, t := range thumbprints {
		n, err := NormalizeThumbprint(t)
		if err != nil {
			continue
		}
		if constantTimeEqual(n, s1) || constantTimeEqual(n, s256) {
			return true
		}
	}
	return false
}

func constantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
