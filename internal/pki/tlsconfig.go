package pki

import (
	"crypto/tls"
	"crypto/x509"
)

// aeadSuites are the TLS 1.2 cipher suites allowed: ECDHE key exchange with
// AES-GCM or ChaCha20-Poly1305 only (no RSA key exchange, no CBC; F6,
// SEC-02). TLS 1.3 suites are all AEAD and not configurable.
var aeadSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// AEADCipherSuites returns a copy of the TLS 1.2 suites ServerTLSConfig allows.
func AEADCipherSuites() []uint16 {
	return append([]uint16(nil), aeadSuites...)
}

// ServerTLSConfig returns the configuration of every TLS listener: TLS 1.2
// minimum, AEAD ECDHE suites only for TLS 1.2, and ClientAuth
// RequestClientCert so that X.509 devices can present a certificate that the
// application then verifies against the registry (VerifyChain,
// MatchThumbprint). The handshake itself never verifies client certificates.
//
// clientCAs, when given, are only advertised to clients as acceptable
// issuers in the CertificateRequest. Leave it empty to accept self-signed
// device certificates: some clients (Go's crypto/tls among them) send no
// certificate when theirs is not issued by an advertised CA.
func ServerTLSConfig(cert tls.Certificate, clientCAs ...*x509.Certificate) *tls.Config {
	cfg := baseServerTLSConfig()
	cfg.Certificates = []tls.Certificate{cert}
	if len(clientCAs) > 0 {
		pool := x509.NewCertPool()
		for _, c := range clientCAs {
			pool.AddCert(c)
		}
		cfg.ClientCAs = pool
	}
	return cfg
}

// baseServerTLSConfig is ServerTLSConfig without a certificate or client CAs.
func baseServerTLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: AEADCipherSuites(),
		ClientAuth:   tls.RequestClientCert,
	}
}
