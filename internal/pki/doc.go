// Package pki issues and loads the X.509 material Outpost needs: a persisted
// certificate authority (ECDSA P-256, ten years), server certificates for the
// hub's host names signed by it, client and self-signed device certificates,
// and the TLS server configuration shared by every listener.
//
// On-disk layout of an authority directory:
//
//	ca.pem      the CA certificate (0644)
//	ca.key      its PKCS#8 private key (0600)
//	server.pem  the server leaf followed by the CA certificate (0644)
//	server.key  the server key, PKCS#8 (0600)
//
// Every file is written atomically: a temporary file in the same directory,
// fsync, rename over the target, fsync of the directory. Key files whose
// mode grants any access to group or others are refused on load
// (RELIABILITY SEC-16).
//
// Decisions that depend on time take `now` as an argument (RELIABILITY C4);
// RenewingServerCert renews the served certificate during the handshake
// before it expires, also after the clock jumps.
// Chain verification is explicit (VerifyChain): ServerTLSConfig requests a
// client certificate but never verifies it, because which CA or thumbprint a
// device must match is known only to the registry (RELIABILITY F5).
package pki
