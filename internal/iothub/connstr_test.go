package iothub

import (
	"strings"
	"testing"
)

var connCases = []struct {
	name    string
	in      string
	want    ConnectionString
	wantErr string
}{
	{name: "device", in: "HostName=h.azure-devices.net;DeviceId=d1;SharedAccessKey=" + testKey,
		want: ConnectionString{HostName: "h.azure-devices.net", DeviceID: "d1", SharedAccessKey: testKey}},
	{name: "module with gateway", in: "HostName=h;DeviceId=e;ModuleId=m;SharedAccessKey=" + testKey + ";GatewayHostName=edge.local",
		want: ConnectionString{HostName: "h", DeviceID: "e", ModuleID: "m", SharedAccessKey: testKey, GatewayHostName: "edge.local"}},
	{name: "service", in: "HostName=h;SharedAccessKeyName=iothubowner;SharedAccessKey=" + testKey,
		want: ConnectionString{HostName: "h", SharedAccessKeyName: "iothubowner", SharedAccessKey: testKey}},
	{name: "x509", in: "HostName=h;DeviceId=d;x509=true", want: ConnectionString{HostName: "h", DeviceID: "d", X509: true}},
	{name: "x509 false", in: "HostName=h;DeviceId=d;x509=false", want: ConnectionString{HostName: "h", DeviceID: "d"}},
	{name: "signature with = and spaces", in: "HostName=h;DeviceId=d;SharedAccessSignature=SharedAccessSignature sr=h&sig=a%3D&se=1",
		want: ConnectionString{HostName: "h", DeviceID: "d", SharedAccessSignature: "SharedAccessSignature sr=h&sig=a%3D&se=1"}},
	{name: "trailing semicolon and case-insensitive keys", in: "hostname=h;deviceid=d;X509=TRUE;",
		want: ConnectionString{HostName: "h", DeviceID: "d", X509: true}},
	{name: "missing host", in: "DeviceId=d;SharedAccessKey=" + testKey, wantErr: "HostName is required"},
	{name: "empty", in: "", wantErr: "HostName is required"},
	{name: "unknown key", in: "HostName=h;DeviceID2=d", wantErr: "unknown key"},
	{name: "empty value", in: "HostName=h;DeviceId=", wantErr: "not Key=Value"},
	{name: "no equals", in: "HostName=h;DeviceId", wantErr: "not Key=Value"},
	{name: "empty key", in: "HostName=h;=x", wantErr: "not Key=Value"},
	{name: "duplicate", in: "HostName=h;DeviceId=a;DeviceId=b", wantErr: "duplicate key"},
	{name: "duplicate other case", in: "HostName=h;hostname=i", wantErr: "duplicate key"},
	{name: "module without device", in: "HostName=h;ModuleId=m", wantErr: "ModuleId requires DeviceId"},
	{name: "key not base64", in: "HostName=h;DeviceId=d;SharedAccessKey=not-base64!", wantErr: "not base64"},
	{name: "two credentials", in: "HostName=h;DeviceId=d;x509=true;SharedAccessKey=" + testKey, wantErr: "only one"},
	{name: "bad x509", in: "HostName=h;DeviceId=d;x509=yes", wantErr: "x509 must be"},
}

func TestParseConnectionString(t *testing.T) {
	for _, c := range connCases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseConnectionString(c.in)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want %q", err, c.wantErr)
				}
				if strings.Contains(err.Error(), testKey) {
					t.Fatalf("error leaks the key: %v", err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, c.want)
			}
			again, err := ParseConnectionString(got.String())
			if err != nil || again != got {
				t.Fatalf("String() %q does not round trip: %+v %v", got.String(), again, err)
			}
		})
	}
}

func TestConnectionStringString(t *testing.T) {
	c := ConnectionString{HostName: "h", DeviceID: "d", ModuleID: "m", SharedAccessKeyName: "p", SharedAccessKey: "k",
		GatewayHostName: "g", X509: true}
	want := "HostName=h;DeviceId=d;ModuleId=m;SharedAccessKeyName=p;SharedAccessKey=k;GatewayHostName=g;x509=true"
	if c.String() != want {
		t.Fatalf("String() = %q", c.String())
	}
}

func TestConnectionStringIsService(t *testing.T) {
	if !(ConnectionString{HostName: "h", SharedAccessKeyName: "p"}).IsService() {
		t.Error("policy string is a service string")
	}
	if (ConnectionString{HostName: "h", DeviceID: "d", SharedAccessKeyName: "p"}).IsService() {
		t.Error("device string is not a service string")
	}
	if (ConnectionString{HostName: "h", DeviceID: "d"}).IsService() {
		t.Error("device string is not a service string")
	}
}
