package iothub

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Test keys (never real credentials).
const (
	testKey       = "dGVzdGtleS0wMTIzNDU2Nzg5YWJjZGVmZ2hpamtsbW5vcA=="
	testKeyOther  = "b3RoZXJrZXktMDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1ub3A="
	testHub       = "myhub.azure-devices.net"
	testNowUnix   = 1_790_000_000
	nodeTokenTime = 1_800_000_000
)

var testNow = time.Unix(testNowUnix, 0).UTC()

func mkToken(t *testing.T, resource, key, skn string, expiry time.Time) string {
	t.Helper()
	tok, err := NewSASToken(resource, key, skn, expiry)
	if err != nil {
		t.Fatalf("NewSASToken: %v", err)
	}
	return tok
}

func mustParse(t *testing.T, s string) SASToken {
	t.Helper()
	tok, err := ParseSASToken(s)
	if err != nil {
		t.Fatalf("ParseSASToken(%q): %v", s, err)
	}
	return tok
}

// TestNewSASToken_MatchesNode compares against tokens computed independently
// with node's crypto and encodeURIComponent (plus !'()*), see the brief.
func TestNewSASToken_MatchesNode(t *testing.T) {
	cases := []struct{ resource, skn, want string }{
		{"myhub.azure-devices.net/devices/dev1", "",
			"SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdev1&sig=WvtSKDzkV%2FgoIf5RFNO33qz41n9VgqibwrHPAq2Ggzk%3D&se=1800000000"},
		{"myhub.azure-devices.net/devices/edge1/modules/$edgeHub", "",
			"SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fedge1%2Fmodules%2F%24edgeHub&sig=LScyF1i9zZh7X6nbB6AMJqP0MKQWHq6iCbXUUUg%2F%2Bx4%3D&se=1800000000"},
		{"myhub.azure-devices.net", "iothubowner",
			"SharedAccessSignature sr=myhub.azure-devices.net&sig=JwRgMjPXJoaRXOM07gmKRkAHeoCn0Lj1LSmcToYaIc4%3D&skn=iothubowner&se=1800000000"},
		{"hub.local/devices/d (1)!*'/modules/m~ü", "",
			"SharedAccessSignature sr=hub.local%2Fdevices%2Fd%20%281%29%21%2A%27%2Fmodules%2Fm~%C3%BC&sig=dB6BMGZFG7WHEFOCxnW1zZyhljpQuF39t%2BpGyvYUQQA%3D&se=1800000000"},
	}
	for _, c := range cases {
		got := mkToken(t, c.resource, testKey, c.skn, time.Unix(nodeTokenTime, 0))
		if got != c.want {
			t.Errorf("NewSASToken(%q)\n got %s\nwant %s", c.resource, got, c.want)
		}
		tok := mustParse(t, c.want)
		if err := tok.Verify([]string{testKey}, time.Unix(nodeTokenTime-60, 0), 0); err != nil {
			t.Errorf("Verify(node token %q): %v", c.resource, err)
		}
	}
}

func TestNewSASToken_BadKey(t *testing.T) {
	for _, k := range []string{"", "not base64!"} {
		if _, err := NewSASToken("h", k, "", testNow); err == nil {
			t.Errorf("NewSASToken(key %q) succeeded", k)
		}
	}
}

func TestEncodeResource(t *testing.T) {
	cases := map[string]string{
		"":                 "",
		"abcXYZ019-_.~":    "abcXYZ019-_.~",
		"!'()*":            "%21%27%28%29%2A",
		"a/b c+d&e=f%g$h?": "a%2Fb%20c%2Bd%26e%3Df%25g%24h%3F",
		"é":                "%C3%A9",
	}
	for in, want := range cases {
		if got := EncodeResource(in); got != want {
			t.Errorf("EncodeResource(%q) = %q, want %q", in, got, want)
		}
	}
}

var sasParseCases = []struct {
	name    string
	in      string
	wantErr bool
	sr, sig string
	se      int64
	skn     string
}{
	{name: "edgehub order", in: "SharedAccessSignature sr=h%2Fdevices%2Fd&sig=abc%3D&se=100", sr: "h%2Fdevices%2Fd", sig: "abc=", se: 100},
	{name: "node order with skn", in: "SharedAccessSignature sr=h&sig=a%2Bb&skn=iothubowner&se=5", sr: "h", sig: "a+b", se: 5, skn: "iothubowner"},
	{name: "any order", in: "SharedAccessSignature se=7&skn=p%20q&sig=x&sr=H%2fdevices%2fD", sr: "H%2fdevices%2fD", sig: "x", se: 7, skn: "p q"},
	{name: "surrounding whitespace", in: "  SharedAccessSignature\tsr=h&sig=x&se=1 ", sr: "h", sig: "x", se: 1},
	{name: "plus stays literal in sig", in: "SharedAccessSignature sr=h&sig=a+b&se=1", sr: "h", sig: "a+b", se: 1},
	{name: "unknown field ignored", in: "SharedAccessSignature sr=h&sig=x&se=1&foo=bar", sr: "h", sig: "x", se: 1},
	{name: "F2 missing sr", in: "SharedAccessSignature sig=x&se=1", wantErr: true},
	{name: "F2 missing sig", in: "SharedAccessSignature sr=h&se=1", wantErr: true},
	{name: "F2 missing se", in: "SharedAccessSignature sr=h&sig=x", wantErr: true},
	{name: "F2 empty sig", in: "SharedAccessSignature sr=h&sig=&se=1", wantErr: true},
	{name: "F2 duplicate sr", in: "SharedAccessSignature sr=h&sr=other&sig=x&se=1", wantErr: true},
	{name: "F2 duplicate se", in: "SharedAccessSignature sr=h&sig=x&se=1&se=99999999999", wantErr: true},
	{name: "F2 duplicate skn", in: "SharedAccessSignature sr=h&sig=x&se=1&skn=a&skn=b", wantErr: true},
	{name: "wrong prefix", in: "SharedAccessSignatureX sr=h&sig=x&se=1", wantErr: true},
	{name: "lowercase prefix", in: "sharedaccesssignature sr=h&sig=x&se=1", wantErr: true},
	{name: "three parts", in: "SharedAccessSignature sr=h&sig=x&se=1 extra", wantErr: true},
	{name: "one part", in: "SharedAccessSignature", wantErr: true},
	{name: "empty", in: "", wantErr: true},
	{name: "field without =", in: "SharedAccessSignature sr=h&sig=x&se=1&junk", wantErr: true},
	{name: "empty field", in: "SharedAccessSignature sr=h&&sig=x&se=1", wantErr: true},
	{name: "se not integer", in: "SharedAccessSignature sr=h&sig=x&se=1.5", wantErr: true},
	{name: "se negative", in: "SharedAccessSignature sr=h&sig=x&se=-1", wantErr: true},
	{name: "se overflow", in: "SharedAccessSignature sr=h&sig=x&se=99999999999999999999", wantErr: true},
	{name: "bad escape in sig", in: "SharedAccessSignature sr=h&sig=a%zz&se=1", wantErr: true},
}

func TestParseSASToken_F2(t *testing.T) {
	for _, c := range sasParseCases {
		t.Run(c.name, func(t *testing.T) {
			tok, err := ParseSASToken(c.in)
			if c.wantErr {
				if err == nil || !errors.Is(err, ErrSASMalformed) {
					t.Fatalf("ParseSASToken(%q) = %+v, %v; want ErrSASMalformed", c.in, tok, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSASToken(%q): %v", c.in, err)
			}
			if tok.Resource != c.sr || tok.Signature != c.sig || tok.Expiry.Unix() != c.se || tok.KeyName != c.skn {
				t.Fatalf("ParseSASToken(%q) = %+v", c.in, tok)
			}
		})
	}
}

func TestAudience(t *testing.T) {
	cases := []struct {
		sr, host, dev, mod string
		wantErr            bool
	}{
		{sr: "myhub.azure-devices.net", host: "myhub.azure-devices.net"},
		{sr: "h%2Fdevices%2Fd1", host: "h", dev: "d1"},
		{sr: "h/devices/d1", host: "h", dev: "d1"},
		{sr: "h%2Fdevices%2Fd1%2Fmodules%2Fm1", host: "h", dev: "d1", mod: "m1"},
		{sr: "h%2Fdevices%2Fedge1%2Fmodules%2F%24edgeHub", host: "h", dev: "edge1", mod: "$edgeHub"},
		{sr: "h%2Fdevices%2Fedge1%2Fmodules%2F%2524edgeHub", host: "h", dev: "edge1", mod: "$edgeHub"},
		{sr: "h%2fdevices%2fd1", host: "h", dev: "d1"},
		{sr: "H%2FDevices%2FD1%2FModules%2FM", host: "H", dev: "D1", mod: "M"},
		{sr: "h%2Fdevices%2Fd%25", host: "h", dev: "d%"},
		{sr: "h%2Fdevices", wantErr: true},
		{sr: "h%2Fdevices%2Fd%2Fmodules", wantErr: true},
		{sr: "h%2Fthings%2Fd", wantErr: true},
		{sr: "h%2Fdevices%2F", wantErr: true},
		{sr: "h%2Fdevices%2Fd%2Fmodules%2Fm%2Fx", wantErr: true},
		{sr: "h%zz", wantErr: true},
	}
	for _, c := range cases {
		host, dev, mod, err := SASToken{Resource: c.sr}.Audience()
		if c.wantErr != (err != nil) || host != c.host || dev != c.dev || mod != c.mod {
			t.Errorf("Audience(%q) = %q,%q,%q,%v", c.sr, host, dev, mod, err)
		}
	}
}

func TestSameHost(t *testing.T) {
	if !SameHost("MyHub.Azure-Devices.net", "myhub.azure-devices.net.") || SameHost("a.net", "b.net") {
		t.Fatal("SameHost")
	}
}

func TestVerify_F2(t *testing.T) {
	devRes := DeviceResource(testHub, "dev1")
	good := mkToken(t, devRes, testKey, "", testNow.Add(time.Hour))
	cases := []struct {
		name        string
		token       string
		keys        []string
		maxLifetime time.Duration
		want        error
	}{
		{"valid", good, []string{testKey}, 0, nil},
		{"valid secondary key", good, []string{testKeyOther, testKey}, 0, nil},
		{"invalid keys skipped", good, []string{"!!", "", testKey}, 0, nil},
		{"expired", mkToken(t, devRes, testKey, "", testNow.Add(-6*time.Minute)), []string{testKey}, 0, ErrSASExpired},
		{"expired within skew", mkToken(t, devRes, testKey, "", testNow.Add(-4*time.Minute)), []string{testKey}, 0, nil},
		{"far future beyond max lifetime", mkToken(t, devRes, testKey, "", testNow.Add(365*24*time.Hour)), []string{testKey}, 24 * time.Hour, ErrSASLifetime},
		{"far future no max", mkToken(t, devRes, testKey, "", testNow.Add(365*24*time.Hour)), []string{testKey}, 0, nil},
		{"lifetime within skew", mkToken(t, devRes, testKey, "", testNow.Add(time.Hour+4*time.Minute)), []string{testKey}, time.Hour, nil},
		{"bad signature", strings.Replace(good, "&sig=", "&sig=AAAA", 1), []string{testKey}, 0, ErrSASSignature},
		{"signature not base64", "SharedAccessSignature sr=h&sig=%21%21&se=1790003600", []string{testKey}, 0, ErrSASSignature},
		{"other device's key", good, []string{testKeyOther}, 0, ErrSASSignature},
		{"no keys", good, nil, 0, ErrSASSignature},
		{"wrong skn key", mkToken(t, testHub, testKeyOther, "service", testNow.Add(time.Hour)), []string{testKey}, 0, ErrSASSignature},
		{"se tampered", strings.Replace(good, "&se=1790003600", "&se=1790007200", 1), []string{testKey}, 0, ErrSASSignature},
		{"sr tampered to other device", strings.Replace(good, "dev1", "dev2", 1), []string{testKey}, 0, ErrSASSignature},
		{"sr escape casing changed", strings.ReplaceAll(good, "%2F", "%2f"), []string{testKey}, 0, ErrSASSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok := mustParse(t, c.token)
			err := tok.Verify(c.keys, testNow, c.maxLifetime)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("Verify = %v, want %v", err, c.want)
			}
			if err != nil && strings.Contains(err.Error(), tok.Signature) && tok.Signature != "" {
				t.Fatalf("error leaks the signature: %v", err)
			}
		})
	}
}

// TestVerify_F2_RawSRSigned checks that sr is signed over verbatim: a client
// that escapes with lower-case hex still verifies (and its audience decodes).
func TestVerify_F2_RawSRSigned(t *testing.T) {
	sr := "myhub.azure-devices.net%2fdevices%2fdev1"
	sig := signB64(t, testKey, sr, "1790003600")
	s := "SharedAccessSignature sr=" + sr + "&sig=" + EncodeResource(sig) + "&se=1790003600"
	p := mustParse(t, s)
	if err := p.Verify([]string{testKey}, testNow, 0); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	host, dev, _, err := p.Audience()
	if err != nil || !SameHost(host, testHub) || dev != "dev1" {
		t.Fatalf("Audience = %q %q %v", host, dev, err)
	}
}

// TestAudience_F2_OtherHubOrDevice: a token for another hub or device still
// verifies cryptographically with that device's key; the audience exposes
// the mismatch to the caller.
func TestAudience_F2_OtherHubOrDevice(t *testing.T) {
	for _, res := range []string{DeviceResource("otherhub.azure-devices.net", "dev1"), DeviceResource(testHub, "dev2")} {
		tok := mustParse(t, mkToken(t, res, testKey, "", testNow.Add(time.Hour)))
		host, dev, _, err := tok.Audience()
		if err != nil {
			t.Fatal(err)
		}
		if SameHost(host, testHub) && strings.EqualFold(dev, "dev1") {
			t.Fatalf("audience %q/%q matches dev1 on %s", host, dev, testHub)
		}
	}
}

// TestVerify_C1_ClockJumpsForward: a token valid now is refused once the
// wall clock jumps +2 h.
func TestVerify_C1_ClockJumpsForward(t *testing.T) {
	tok := mustParse(t, mkToken(t, DeviceResource(testHub, "d"), testKey, "", testNow.Add(time.Hour)))
	if err := tok.Verify([]string{testKey}, testNow, 24*time.Hour); err != nil {
		t.Fatalf("before jump: %v", err)
	}
	if err := tok.Verify([]string{testKey}, testNow.Add(2*time.Hour), 24*time.Hour); !errors.Is(err, ErrSASExpired) {
		t.Fatalf("after +2h jump: %v, want ErrSASExpired", err)
	}
}

// TestVerify_C2_ClockJumpsBackward: after a -2 h jump a still-valid token keeps
// working, but a token beyond the maximum lifetime is refused.
func TestVerify_C2_ClockJumpsBackward(t *testing.T) {
	back := testNow.Add(-2 * time.Hour)
	valid := mustParse(t, mkToken(t, DeviceResource(testHub, "d"), testKey, "", testNow.Add(time.Hour)))
	if err := valid.Verify([]string{testKey}, back, 24*time.Hour); err != nil {
		t.Fatalf("valid token after -2h jump: %v", err)
	}
	far := mustParse(t, mkToken(t, DeviceResource(testHub, "d"), testKey, "", testNow.Add(23*time.Hour)))
	if err := far.Verify([]string{testKey}, back, 24*time.Hour); !errors.Is(err, ErrSASLifetime) {
		t.Fatalf("far token after -2h jump: %v, want ErrSASLifetime", err)
	}
}

func TestVerify_ZeroRawExpiry(t *testing.T) {
	// A token built by hand (no raw se) signs over the decimal expiry.
	sr := EncodeResource(DeviceResource(testHub, "d"))
	tok := SASToken{Resource: sr, Expiry: testNow.Add(time.Hour), Signature: signB64(t, testKey, sr, "1790003600")}
	if err := tok.Verify([]string{testKey}, testNow, 0); err != nil {
		t.Fatal(err)
	}
}

// TestVerify_F2_EdgeHubDoubleEncoded: edgeHub signs upstream tokens over a
// double-encoded module segment (%2524edgeHub); the raw sr verifies and the
// audience names $edgeHub.
func TestVerify_F2_EdgeHubDoubleEncoded(t *testing.T) {
	sr := EncodeResource(testHub + "/devices/edge1/modules/" + EncodeResource("$edgeHub"))
	if !strings.Contains(sr, "%2524edgeHub") {
		t.Fatalf("sr %q", sr)
	}
	sig := signB64(t, testKey, sr, "1790003600")
	tok := mustParse(t, "SharedAccessSignature sr="+sr+"&sig="+EncodeResource(sig)+"&se=1790003600")
	if err := tok.Verify([]string{testKey}, testNow, 0); err != nil {
		t.Fatal(err)
	}
	host, dev, mod, err := tok.Audience()
	if err != nil || host != testHub || dev != "edge1" || mod != "$edgeHub" {
		t.Fatalf("Audience = %q %q %q %v", host, dev, mod, err)
	}
}
