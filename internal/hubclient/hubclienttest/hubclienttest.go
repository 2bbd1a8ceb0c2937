// Package hubclienttest is a fake service API for tests of hubclient and its users: a TLS
// server that refuses requests without a valid service SAS token and api-version, records every
// request, and hands the others to the test's handler.
package hubclienttest

import (
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/iothub"
)

// APIVersion is the api-version every request must carry (hubclient.APIVersion; this package
// cannot import hubclient, whose own tests use it).
const APIVersion = "2021-04-12"

// Auth is the service policy requests must be signed with.
type Auth struct {
	Host, Policy, Key string
	Now               func() time.Time // the verifier's clock; nil means time.Now
}

// Request is one request as the server received it.
type Request struct {
	Method, Path, RawPath, Query string
	Header                       http.Header
	Body                         string
}

// Handler answers an authenticated request; body is the request body, already read.
type Handler func(w http.ResponseWriter, r *http.Request, body []byte)

// Server is a running fake hub.
type Server struct {
	URL    string // https://127.0.0.1:port
	CAFile string // PEM file of the server's certificate
	srv    *httptest.Server
	auth   Auth
	handle Handler
	mu     sync.Mutex // guards reqs
	reqs   []Request
}

// New starts a server for the test; it stops when the test ends.
func New(t testing.TB, auth Auth, handle Handler) *Server {
	t.Helper()
	s := &Server{auth: auth, handle: handle}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	s.URL = s.srv.URL
	s.CAFile = filepath.Join(t.TempDir(), "ca.pem")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
	if err := os.WriteFile(s.CAFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.reqs = append(s.reqs, Request{r.Method, r.URL.Path, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Clone(), string(body)})
	s.mu.Unlock()
	if msg := s.auth.Check(r); msg != "" {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("iothub-errorcode", "IotHubUnauthorizedAccess")
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]string{"Message": "ErrorCode:IotHubUnauthorizedAccess;" + msg})
		return
	}
	s.handle(w, r, body)
}

// Check returns "" when r carries a valid SAS token of the policy for the hub and the
// api-version, else what is wrong (never the key).
func (a Auth) Check(r *http.Request) string {
	if v := r.URL.Query().Get("api-version"); v != APIVersion {
		return "api-version " + v
	}
	tok, err := iothub.ParseSASToken(r.Header.Get("Authorization"))
	if err != nil {
		return err.Error()
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	if err := tok.Verify([]string{a.Key}, now(), 2*time.Hour); err != nil {
		return err.Error()
	}
	host, dev, mod, err := tok.Audience()
	if err != nil || host != a.Host || dev != "" || mod != "" || tok.KeyName != a.Policy {
		return "bad audience or key name"
	}
	return ""
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}
