package iothub

import "testing"

var usernameCases = []struct {
	in      string
	want    Username
	wantErr bool
}{
	{in: "h.azure-devices.net/d1/?api-version=2021-04-12&DeviceClientType=azure-iot-device%2F1.18.0%20(node%20v18%3B%20Linux)",
		want: Username{HostName: "h.azure-devices.net", DeviceID: "d1", APIVersion: "2021-04-12", ClientType: "azure-iot-device/1.18.0 (node v18; Linux)"}},
	{in: "h/e1/filter/?api-version=2020-09-30&DeviceClientType=c&model-id=dtmi%3Acom%3Aex%3B1&auth-chain=edge1%2Fsensor%3Bedge1",
		want: Username{HostName: "h", DeviceID: "e1", ModuleID: "filter", APIVersion: "2020-09-30", ClientType: "c", ModelID: "dtmi:com:ex;1", AuthChain: "edge1/sensor;edge1"}},
	{in: "h/e1/$edgeHub/?api-version=1", want: Username{HostName: "h", DeviceID: "e1", ModuleID: "$edgeHub", APIVersion: "1"}},
	{in: "h/d1/api-version=2018-06-30&DeviceClientType=legacy", want: Username{HostName: "h", DeviceID: "d1", APIVersion: "2018-06-30", ClientType: "legacy"}},
	{in: "h/d1/m1/api-version=2018-06-30", want: Username{HostName: "h", DeviceID: "d1", ModuleID: "m1", APIVersion: "2018-06-30"}},
	{in: "h/d1/?api-version=1&api-version=2", want: Username{HostName: "h", DeviceID: "d1", APIVersion: "1"}},
	{in: "h/d1/?DeviceClientType=a+b&api-version=1", want: Username{HostName: "h", DeviceID: "d1", APIVersion: "1", ClientType: "a+b"}},
	{in: "h/d1/?api-version=1&unknown=x&flag", want: Username{HostName: "h", DeviceID: "d1", APIVersion: "1"}},
	{in: "h/d1/?api-version=", wantErr: true},
	{in: "h/d1/?DeviceClientType=x", wantErr: true},
	{in: "h/d1/?", wantErr: true},
	{in: "h/d1/m1", wantErr: true},
	{in: "h/d1", wantErr: true},
	{in: "h/d1/m1/x/?api-version=1", wantErr: true},
	{in: "/d1/?api-version=1", wantErr: true},
	{in: "h//?api-version=1", wantErr: true},
	{in: "h/d1//?api-version=1", wantErr: true},
	{in: "", wantErr: true},
}

func TestParseUsername(t *testing.T) {
	for _, c := range usernameCases {
		got, err := ParseUsername(c.in)
		if c.wantErr != (err != nil) || got != c.want {
			t.Errorf("ParseUsername(%q) = %+v, %v", c.in, got, err)
		}
	}
}
