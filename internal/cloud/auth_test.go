package cloud_test

import (
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/cloud"
	"github.com/outpost-iot/outpost/internal/hubclient"
	"github.com/outpost-iot/outpost/internal/iothub"
	"github.com/outpost-iot/outpost/internal/pki"
	"github.com/outpost-iot/outpost/internal/testutil"
)

func refusedCode(err error) string {
	if err == nil {
		return "accepted"
	}
	switch {
	case strings.Contains(err.Error(), "not Authorized"):
		return "0x05"
	case strings.Contains(err.Error(), "bad user name or password"):
		return "0x04"
	case strings.Contains(err.Error(), "identifier rejected"):
		return "0x02"
	}
	return err.Error()
}

// TestSASRefusals_F2_C1_C2 covers bad SAS tokens at CONNECT.
func TestSASRefusals_F2_C1_C2(t *testing.T) {
	tc := startCloud(t)
	key := tc.createDevice("d")
	otherKey := tc.createDevice("other")
	now := time.Now()
	mk := func(res, k, skn string, exp time.Time) string {
		tok, err := iothub.NewSASToken(res, k, skn, exp)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	dres := iothub.DeviceResource(hubHost, "d")
	cases := []struct {
		name, password, want string
	}{
		{"valid", mk(dres, key, "", now.Add(time.Hour)), "accepted"},
		{"expired beyond skew", mk(dres, key, "", now.Add(-10*time.Minute)), "0x05"},
		{"expired within skew", mk(dres, key, "", now.Add(-time.Minute)), "accepted"},
		{"beyond max lifetime", mk(dres, key, "", now.Add(400*24*time.Hour)), "0x05"},
		{"wrong key", mk(dres, otherKey, "", now.Add(time.Hour)), "0x05"},
		{"other device audience", mk(iothub.DeviceResource(hubHost, "other"), otherKey, "", now.Add(time.Hour)), "0x05"},
		{"other hub", mk(iothub.DeviceResource("evil.example", "d"), key, "", now.Add(time.Hour)), "0x05"},
		{"garbage", "SharedAccessSignature nonsense", "0x04"},
		{"missing sig", "SharedAccessSignature sr=localhost%2Fdevices%2Fd&se=99999999999", "0x04"},
		{"audience case-insensitive", mk("LOCALHOST/devices/d", key, "", now.Add(time.Hour)), "accepted"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pw := c.password
			cl, err := tc.connect("d", "", key, clientOpts{password: &pw, cleanStart: true})
			if got := refusedCode(err); got != c.want {
				t.Fatalf("got %s, want %s", got, c.want)
			}
			if cl != nil {
				cl.Disconnect(0)
			}
		})
	}
}

// TestCrossIdentity_F3_E4 checks that a device only touches its own topics.
func TestCrossIdentity_F3_E4(t *testing.T) {
	tc := startCloud(t)
	keyA := tc.createDevice("a")
	tc.createDevice("b")
	// A's token presented as B.
	pw := sasFor(t, "a", "", keyA, time.Hour)
	if _, err := tc.connect("b", "", keyA, clientOpts{password: &pw}); refusedCode(err) != "0x05" {
		t.Fatalf("A's token accepted for B: %v", err)
	}
	a := tc.mustConnect("a", "", keyA, clientOpts{})
	for _, f := range []string{"devices/b/messages/devicebound/#", "#", "devices/+/messages/devicebound/#", "$iothub/#", "devices/a/modules/x/#"} {
		if got := subscribe(t, a, f, nil); got != 0x80 {
			t.Errorf("filter %q granted %#x", f, got)
		}
	}
	for _, f := range []string{"devices/a/messages/devicebound/#", "$iothub/twin/res/#", "$iothub/methods/POST/#", "$iothub/twin/PATCH/properties/desired/#"} {
		if got := subscribe(t, a, f, nil); got != 1 {
			t.Errorf("own filter %q granted %#x", f, got)
		}
	}
	a.Publish("devices/b/messages/events/", 1, false, "spoof").WaitTimeout(5 * time.Second)
	testutil.Eventually(t, 10*time.Second, func() bool { return !a.IsConnectionOpen() }, "cross-device publish did not close the connection")
	evs, err := tc.svc.Events(tc.ctx(), hubclient.EventFilter{DeviceID: "b"}, 0, 10)
	if err != nil || len(evs) != 0 {
		t.Fatalf("spoofed telemetry stored: %v %d", err, len(evs))
	}
}

func TestDisabledAndRotatedKeys_G8(t *testing.T) {
	tc := startCloud(t)
	ctx := tc.ctx()
	oldKey := tc.createDevice("d")
	c := tc.mustConnect("d", "", oldKey, clientOpts{})
	d, err := tc.svc.GetDevice(ctx, "d")
	if err != nil {
		t.Fatal(err)
	}
	d.Authentication.SymmetricKey = &iothub.SymmetricKey{PrimaryKey: strings.Repeat("QUFB", 11) + "QQ==", SecondaryKey: strings.Repeat("QkJC", 11) + "Qg=="}
	if _, err := tc.svc.UpdateDevice(ctx, d); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return !c.IsConnectionOpen() }, "connection kept after key rotation")
	if _, err := tc.connect("d", "", oldKey, clientOpts{}); refusedCode(err) != "0x05" {
		t.Fatalf("old key still accepted: %v", err)
	}
	tc.mustConnect("d", "", d.Authentication.SymmetricKey.PrimaryKey, clientOpts{}).Disconnect(0)
	d, _ = tc.svc.GetDevice(ctx, "d")
	d.Status = "disabled"
	if _, err := tc.svc.UpdateDevice(ctx, d); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.connect("d", "", d.Authentication.SymmetricKey.PrimaryKey, clientOpts{}); refusedCode(err) != "0x05" {
		t.Fatalf("disabled device accepted: %v", err)
	}
}

func TestConcurrentCreate_G8(t *testing.T) {
	tc := startCloud(t)
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		go func() {
			_, err := tc.svc.CreateDevice(tc.ctx(), &hubclient.Device{DeviceID: "same"})
			errs <- err
		}()
	}
	ok := 0
	for i := 0; i < 8; i++ {
		if err := <-errs; err == nil {
			ok++
		} else if !hubclient.IsCode(err, "DeviceAlreadyExists") {
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d creates succeeded", ok)
	}
}

func TestTokenExpiryDisconnects_C1(t *testing.T) {
	tc := startCloud(t)
	key := tc.createDevice("d")
	// Expires 5 minutes ago plus 2 s: valid now only thanks to the skew, and for 2 more seconds.
	pw := sasFor(t, "d", "", key, -iothub.SASClockSkew+2*time.Second)
	c := tc.mustConnect("d", "", key, clientOpts{password: &pw})
	testutil.Eventually(t, 15*time.Second, func() bool { return !c.IsConnectionOpen() }, "expired credentials kept the connection")
}

func TestX509Devices_F5(t *testing.T) {
	tc := startCloud(t)
	ctx := tc.ctx()
	now := time.Now()
	cert := createSelfSignedDevice(t, tc, "x1")
	empty := ""
	c := tc.mustConnect("x1", "", "", clientOpts{password: &empty, cert: &cert})
	wait(t, c.Publish("devices/x1/messages/events/", 1, false, "x509"))

	// A certificate with another thumbprint is refused.
	otherPEM, otherKey, _ := pki.SelfSignedDevice("x1", 24*time.Hour, now)
	other, _ := tls.X509KeyPair(otherPEM, otherKey)
	if _, err := tc.connect("x1", "", "", clientOpts{password: &empty, cert: &other}); refusedCode(err) != "0x05" {
		t.Fatalf("wrong thumbprint: %v", err)
	}
	// No certificate and no password.
	if _, err := tc.connect("x1", "", "", clientOpts{password: &empty}); err == nil {
		t.Fatal("no credentials accepted")
	}

	// CA-signed: the CA is registered, the device certificate's CN is the device id.
	ca := testutil.TempCA(t)
	if _, err := tc.svc.PutCertificate(ctx, "fleet", string(ca.CertPEM), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.svc.CreateDevice(ctx, &hubclient.Device{DeviceID: "ca1", Authentication: &hubclient.Authentication{Type: "certificateAuthority"}}); err != nil {
		t.Fatal(err)
	}
	dPEM, dKey, err := ca.IssueClient("ca1", 24*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	dCert, _ := tls.X509KeyPair(dPEM, dKey)
	tc.mustConnect("ca1", "", "", clientOpts{password: &empty, cert: &dCert}).Disconnect(0)
	wrongCN, wKey, _ := ca.IssueClient("someone-else", 24*time.Hour, now)
	wCert, _ := tls.X509KeyPair(wrongCN, wKey)
	if _, err := tc.connect("ca1", "", "", clientOpts{password: &empty, cert: &wCert}); refusedCode(err) != "0x05" {
		t.Fatalf("CN mismatch: %v", err)
	}
	stranger := testutil.TempCA(t)
	sPEM, sKey, _ := stranger.IssueClient("ca1", 24*time.Hour, now)
	sCert, _ := tls.X509KeyPair(sPEM, sKey)
	if _, err := tc.connect("ca1", "", "", clientOpts{password: &empty, cert: &sCert}); refusedCode(err) != "0x05" {
		t.Fatalf("unknown CA: %v", err)
	}
}

func TestServiceAPIAuth(t *testing.T) {
	tc := startCloud(t)
	base := "https://" + tc.cfg.HTTPSListen
	req, _ := http.NewRequest(http.MethodGet, base+"/devices", nil)
	if s := doStatus(t, tc, req); s != http.StatusUnauthorized {
		t.Fatalf("no token: %d", s)
	}
	bad, _ := iothub.NewSASToken(hubHost, strings.Repeat("QUFB", 11)+"QQ==", "iothubowner", time.Now().Add(time.Hour))
	req.Header.Set("Authorization", bad)
	if s := doStatus(t, tc, req); s != http.StatusUnauthorized {
		t.Fatalf("bad signature: %d", s)
	}
	// registryRead may read but not write; service may not read the registry.
	readCS, err := cloud.ServiceConnectionString(tc.dir, "registryRead")
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := hubclient.New(hubclient.Config{ConnectionString: readCS, CAFile: tc.caFile, Endpoint: base})
	if _, err := rc.ListDevices(tc.ctx(), 0); err != nil {
		t.Fatalf("registryRead list: %v", err)
	}
	if _, err := rc.CreateDevice(tc.ctx(), &hubclient.Device{DeviceID: "x"}); !hubclient.IsStatus(err, http.StatusUnauthorized) {
		t.Fatalf("registryRead create: %v", err)
	}
	svcCS, _ := cloud.ServiceConnectionString(tc.dir, "service")
	sc, _ := hubclient.New(hubclient.Config{ConnectionString: svcCS, CAFile: tc.caFile, Endpoint: base})
	if _, err := sc.ListDevices(tc.ctx(), 0); !hubclient.IsStatus(err, http.StatusUnauthorized) {
		t.Fatalf("service list: %v", err)
	}
}
