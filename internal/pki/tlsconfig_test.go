package pki

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"
)

// handshake runs a TLS handshake between cfg (server) and client over
// loopback and returns the client's error and the server's view.
func handshake(t *testing.T, server, client *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		state tls.ConnectionState
		err   error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		sc := tls.Server(c, server)
		err = sc.Handshake()
		done <- result{sc.ConnectionState(), err}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	cc := tls.Client(c, client)
	cerr := cc.Handshake()
	if cerr == nil {
		// TLS 1.3 reports a server-side refusal of the client certificate only on read.
		_, _ = cc.Write([]byte{0})
	}
	r := <-done
	if cerr == nil && r.err != nil {
		cerr = r.err
	}
	return r.state, cerr
}

func TestServerTLSConfig_F6_SEC02(t *testing.T) {
	ca := mustAuthority(t, t.TempDir())
	now := time.Now()
	srvCert, err := ca.IssueServer([]string{"localhost", "127.0.0.1"}, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	devPEM, devKey, err := ca.IssueClient("dev1", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	devCert, err := tls.X509KeyPair(devPEM, devKey)
	if err != nil {
		t.Fatal(err)
	}
	selfPEM, selfKey, err := SelfSignedDevice("dev2", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	selfCert, err := tls.X509KeyPair(selfPEM, selfKey)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	base := func() *tls.Config { return &tls.Config{RootCAs: roots, ServerName: "localhost"} }
	for _, tc := range []struct {
		name    string
		client  func(*tls.Config)
		ok      bool
		version uint16
		peerCN  string
	}{
		{"TLS 1.1 refused", func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS11 }, false, 0, ""},
		{"TLS 1.2 CBC only refused", func(c *tls.Config) {
			c.MaxVersion = tls.VersionTLS12
			c.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256}
		}, false, 0, ""},
		{"TLS 1.2 RSA key exchange only refused", func(c *tls.Config) {
			c.MaxVersion = tls.VersionTLS12
			c.CipherSuites = []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_256_GCM_SHA384}
		}, false, 0, ""},
		{"TLS 1.2 AEAD works", func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 }, true, tls.VersionTLS12, ""},
		{"TLS 1.3 works", func(c *tls.Config) { c.MinVersion = tls.VersionTLS13 }, true, tls.VersionTLS13, ""},
		{"TLS 1.3 with CA-signed client cert", func(c *tls.Config) {
			c.MinVersion = tls.VersionTLS13
			c.Certificates = []tls.Certificate{devCert}
		}, true, tls.VersionTLS13, "dev1"},
		{"TLS 1.2 with self-signed client cert (not verified by the handshake)", func(c *tls.Config) {
			c.MaxVersion = tls.VersionTLS12
			c.Certificates = []tls.Certificate{selfCert}
		}, true, tls.VersionTLS12, "dev2"},
		{"wrong server name refused by client", func(c *tls.Config) { c.ServerName = "evil.example" }, false, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := base()
			tc.client(client)
			st, err := handshake(t, ServerTLSConfig(srvCert), client)
			if !tc.ok {
				t.Logf("refused: %v", err)
				if err == nil {
					t.Fatalf("handshake succeeded with %s %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
				}
				return
			}
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if st.Version != tc.version {
				t.Errorf("version %s", tls.VersionName(st.Version))
			}
			switch {
			case tc.peerCN == "" && len(st.PeerCertificates) != 0:
				t.Errorf("unexpected client certificate")
			case tc.peerCN != "" && (len(st.PeerCertificates) == 0 || st.PeerCertificates[0].Subject.CommonName != tc.peerCN):
				t.Errorf("server did not see client certificate %q", tc.peerCN)
			}
		})
	}
}

func TestServerTLSConfig_Settings(t *testing.T) {
	ca := mustAuthority(t, t.TempDir())
	cfg := ServerTLSConfig(tls.Certificate{}, ca.Cert)
	if cfg.MinVersion != tls.VersionTLS12 || cfg.ClientAuth != tls.RequestClientCert || cfg.ClientCAs == nil {
		t.Fatalf("cfg %+v", cfg)
	}
	insecure := map[uint16]bool{}
	for _, s := range tls.InsecureCipherSuites() {
		insecure[s.ID] = true
	}
	for _, id := range cfg.CipherSuites {
		name := tls.CipherSuiteName(id)
		if insecure[id] || !containsAny(name, "_GCM_", "CHACHA20_POLY1305") || !containsAny(name, "ECDHE") {
			t.Errorf("suite %s not ECDHE+AEAD", name)
		}
	}
	if ServerTLSConfig(tls.Certificate{}).ClientCAs != nil {
		t.Error("ClientCAs set without CAs")
	}
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
