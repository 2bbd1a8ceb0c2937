package hubclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/outpost-iot/outpost/internal/iothub"
)

// APIVersion is sent as the api-version query parameter on every request.
const APIVersion = "2021-04-12"

// DefaultTokenTTL is the lifetime of the SAS token signed for each request.
const DefaultTokenTTL = time.Hour

// DefaultTimeout bounds each non-streaming request unless its context has an earlier deadline.
const DefaultTimeout = 60 * time.Second

// DefaultStreamIdleTimeout is three of the cloud's 15-second keep-alive intervals.
const DefaultStreamIdleTimeout = 45 * time.Second

// maxResponse caps the size of a response body read into memory.
const maxResponse = 64 << 20

// Config configures a Client.
type Config struct {
	// ConnectionString is a service connection string (HostName, SharedAccessKeyName,
	// SharedAccessKey), or one carrying a ready-made SharedAccessSignature. A device or module
	// connection string with a SharedAccessKey is accepted too: requests are then signed for that
	// identity (an edge's $edgeHub module uses it for the device-scope API).
	ConnectionString string
	// CAFile is an optional PEM file; when set, only its certificates are trusted.
	CAFile string
	// Endpoint overrides the base URL (default "https://{HostName}:443"), e.g. "https://127.0.0.1:8443".
	Endpoint string
	// HTTPClient replaces the client built from CAFile (tests).
	HTTPClient *http.Client
	// TokenTTL is the lifetime of each request's SAS token; 0 means DefaultTokenTTL.
	TokenTTL time.Duration
	// Timeout bounds each non-streaming request; 0 means DefaultTimeout.
	Timeout time.Duration
	// StreamIdleTimeout drops and reconnects an event stream that delivered no byte (not even a
	// keep-alive comment; the cloud sends one every 15 s) for this long; 0 means
	// DefaultStreamIdleTimeout.
	StreamIdleTimeout time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Logger receives stream reconnect diagnostics; nil discards them.
	Logger *slog.Logger
}

// Client talks to one hub's service API. It is safe for concurrent use.
type Client struct {
	cs       iothub.ConnectionString
	base     *url.URL
	http     *http.Client
	tokenTTL time.Duration
	timeout  time.Duration
	idle     time.Duration
	now      func() time.Time
	log      *slog.Logger
}

// New validates cfg and returns a Client. It does not contact the hub.
func New(cfg Config) (*Client, error) {
	cs, err := iothub.ParseConnectionString(cfg.ConnectionString)
	if err != nil {
		return nil, fmt.Errorf("hubclient: %w", err)
	}
	if cs.SharedAccessSignature == "" && cs.SharedAccessKey == "" {
		return nil, errors.New("hubclient: connection string has no SharedAccessKey (x509 identities cannot use the service API)")
	}
	if cs.DeviceID == "" && cs.SharedAccessKeyName == "" && cs.SharedAccessSignature == "" {
		return nil, errors.New("hubclient: service connection string without SharedAccessKeyName")
	}
	base, err := endpointURL(cfg.Endpoint, cs.HostName)
	if err != nil {
		return nil, err
	}
	hc := cfg.HTTPClient
	if hc == nil {
		if hc, err = newHTTPClient(cfg.CAFile, hubNames(base, cs.HostName)); err != nil {
			return nil, err
		}
	}
	c := &Client{cs: cs, base: base, http: hc, tokenTTL: cfg.TokenTTL, timeout: cfg.Timeout, now: cfg.Now, log: cfg.Logger}
	if c.tokenTTL <= 0 {
		c.tokenTTL = DefaultTokenTTL
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.idle = cfg.StreamIdleTimeout; c.idle <= 0 {
		c.idle = DefaultStreamIdleTimeout
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// HostName is the hub host name from the connection string (the HostName of device connection strings).
func (c *Client) HostName() string { return c.cs.HostName }

// Endpoint is the base URL requests are sent to.
func (c *Client) Endpoint() string { return c.base.String() }

func endpointURL(endpoint, host string) (*url.URL, error) {
	if endpoint == "" {
		endpoint = "https://" + host + ":443"
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("hubclient: endpoint: %w", err)
	}
	if u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("hubclient: endpoint %q: want https://host[:port]", endpoint)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

// hubNames are the names the hub's certificate may be verified against. When the endpoint
// dials an IP address (a local cloud, like a device dialling a gateway), the hub's host name
// from the connection string is accepted as well as the address itself.
func hubNames(base *url.URL, hubHost string) []string {
	if net.ParseIP(base.Hostname()) != nil {
		return []string{hubHost, base.Hostname()}
	}
	return nil
}

func newHTTPClient(caFile string, names []string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	var roots *x509.CertPool
	if caFile != "" {
		pemBytes, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("hubclient: read CA file: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("hubclient: CA file %s: no PEM certificates", caFile)
		}
		tr.TLSClientConfig.RootCAs = roots
	}
	if len(names) > 0 {
		// Chain and name are verified here instead, against any of names: the documented way
		// to customise verification, not a way to skip it.
		tr.TLSClientConfig.InsecureSkipVerify = true //nolint:gosec // VerifyConnection verifies
		tr.TLSClientConfig.VerifyConnection = verifyAnyName(roots, names)
	}
	return &http.Client{Transport: tr}, nil
}

// token returns the Authorization header value for one request.
func (c *Client) token() (string, error) {
	if c.cs.SharedAccessSignature != "" {
		return c.cs.SharedAccessSignature, nil
	}
	tok, err := SignConnectionString(c.cs, c.now().Add(c.tokenTTL))
	if err != nil {
		return "", fmt.Errorf("sign request: %w", err)
	}
	return tok, nil
}

// SignConnectionString signs a SAS token with the SharedAccessKey of cs for the identity it
// names: {host}/devices/{id}/modules/{mid} for a module, {host}/devices/{id} for a device, and
// {host} with skn = SharedAccessKeyName for a service (policy) connection string.
func SignConnectionString(cs iothub.ConnectionString, expiry time.Time) (string, error) {
	switch {
	case cs.ModuleID != "":
		return iothub.NewSASToken(iothub.ModuleResource(cs.HostName, cs.DeviceID, cs.ModuleID), cs.SharedAccessKey, "", expiry)
	case cs.DeviceID != "":
		return iothub.NewSASToken(iothub.DeviceResource(cs.HostName, cs.DeviceID), cs.SharedAccessKey, "", expiry)
	}
	return iothub.NewSASToken(cs.HostName, cs.SharedAccessKey, cs.SharedAccessKeyName, expiry)
}

// request describes one API call.
type request struct {
	method  string
	segs    []string // path segments, escaped individually
	query   url.Values
	header  http.Header
	body    []byte
	json    any // marshalled as the body when non-nil
	timeout time.Duration
}

func (c *Client) url(segs []string, q url.Values) *url.URL {
	u := *c.base
	var raw, plain strings.Builder
	for _, s := range segs {
		plain.WriteString("/" + s)
		raw.WriteString("/" + url.PathEscape(s))
	}
	u.Path = c.base.Path + plain.String()
	u.RawPath = c.base.EscapedPath() + raw.String()
	if q == nil {
		q = url.Values{}
	}
	q.Set("api-version", APIVersion)
	u.RawQuery = q.Encode()
	return &u
}

func (c *Client) newRequest(ctx context.Context, r *request) (*http.Request, error) {
	body := r.body
	if r.json != nil {
		b, err := json.Marshal(r.json)
		if err != nil {
			return nil, fmt.Errorf("encode body: %w", err)
		}
		body = b
	}
	req, err := http.NewRequestWithContext(ctx, r.method, c.url(r.segs, r.query).String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	if r.json != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	tok, err := c.token()
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", tok)
	return req, nil
}

// do sends r and decodes a 2xx JSON response into out (when out is non-nil).
func (c *Client) do(ctx context.Context, r *request, out any) error {
	timeout := c.timeout + r.timeout
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := c.newRequest(ctx, r)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return decodeError(resp.StatusCode, resp.Header, data)
	}
	if out == nil || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode response: %w", err)
	}
	return nil
}

// ifMatch formats an etag for the If-Match header as Azure's SDKs do: quoted, "*" when empty.
func ifMatch(etag string) http.Header {
	switch {
	case etag == "" || etag == "*":
		return http.Header{"If-Match": {"*"}}
	case strings.HasPrefix(etag, `"`) || strings.HasPrefix(etag, `W/"`):
		return http.Header{"If-Match": {etag}}
	default:
		return http.Header{"If-Match": {`"` + etag + `"`}}
	}
}

// verifyAnyName verifies the peer's chain against roots (nil: the system's) and its leaf
// against any one of names.
func verifyAnyName(roots *x509.CertPool, names []string) func(tls.ConnectionState) error {
	return func(st tls.ConnectionState) error {
		if len(st.PeerCertificates) == 0 {
			return errors.New("hubclient: the hub presented no certificate")
		}
		opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
		for _, c := range st.PeerCertificates[1:] {
			opts.Intermediates.AddCert(c)
		}
		var first error
		for _, name := range names {
			opts.DNSName = name
			_, err := st.PeerCertificates[0].Verify(opts)
			if err == nil {
				return nil
			}
			if first == nil {
				first = err
			}
		}
		return fmt.Errorf("hubclient: verify hub certificate: %w", first)
	}
}
