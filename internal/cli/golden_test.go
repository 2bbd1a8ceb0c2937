package cli

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// Canned hub answers used by the golden tests.
const (
	deviceD1 = `{"deviceId":"d1","generationId":"638000000000000001","etag":"MQ==","connectionState":"Connected",
"status":"enabled","statusReason":"","connectionStateUpdatedTime":"2026-11-29T10:00:00Z","statusUpdatedTime":"0001-01-01T00:00:00Z",
"lastActivityTime":"2026-11-29T11:59:00Z","cloudToDeviceMessageCount":2,
"authentication":{"symmetricKey":{"primaryKey":"cHJpbWFyeWtleXByaW1hcnlrZXk=","secondaryKey":"c2Vjb25kYXJ5a2V5c2Vjb25kYXI="},"x509Thumbprint":{"primaryThumbprint":null,"secondaryThumbprint":null},"type":"sas"},
"capabilities":{"iotEdge":false},"deviceScope":"ms-azure-iot-edge://edge1-638000000000000002","parentScopes":["ms-azure-iot-edge://edge1-638000000000000002"]}`
	deviceEdge1 = `{"deviceId":"edge1","generationId":"638000000000000002","etag":"Mg==","connectionState":"Disconnected","status":"enabled",
"lastActivityTime":"0001-01-01T00:00:00Z","cloudToDeviceMessageCount":0,
"authentication":{"symmetricKey":{"primaryKey":"ZWRnZWtleWVkZ2VrZXllZGdla2V5","secondaryKey":"ZWRnZWtleWVkZ2VrZXllZGdla2V5"},"type":"sas"},
"capabilities":{"iotEdge":true},"deviceScope":"ms-azure-iot-edge://edge1-638000000000000002","parentScopes":[]}`
	deviceX509 = `{"deviceId":"cam","status":"disabled","statusReason":"stolen","connectionState":"Disconnected",
"authentication":{"x509Thumbprint":{"primaryThumbprint":"AB12","secondaryThumbprint":"CD34"},"type":"selfSigned"},"capabilities":{"iotEdge":false}}`
	moduleM1 = `{"moduleId":"filter","deviceId":"edge1","generationId":"638000000000000003","etag":"Mw==","managedBy":"IotEdge",
"connectionState":"Connected","lastActivityTime":"2026-11-29T11:00:00Z","cloudToDeviceMessageCount":0,
"authentication":{"symmetricKey":{"primaryKey":"bW9kdWxla2V5bW9kdWxla2V5bW9k","secondaryKey":"bW9kdWxla2V5bW9kdWxla2V5bW9k"},"type":"sas"}}`
	twinD1 = `{"deviceId":"d1","etag":"AAAAAAAAAAM=","deviceEtag":"MQ==","status":"enabled","connectionState":"Connected",
"authenticationType":"sas","version":7,"tags":{"env":"prod","site":{"floor":3}},
"properties":{"desired":{"interval":30,"$metadata":{"$lastUpdated":"2026-11-29T10:00:00Z"},"$version":4},
"reported":{"firmware":"1.2.3","$metadata":{"$lastUpdated":"2026-11-29T10:05:00Z"},"$version":9}}}`
	c2dList = `[{"messageId":"m1","enqueuedTime":"2026-11-29T11:00:00Z","expiryTime":"2026-11-29T12:00:00Z","deliveryCount":0,"state":"Enqueued"},
{"messageId":"m2","enqueuedTime":"2026-11-29T11:10:00Z","expiryTime":"2026-11-29T12:10:00Z","deliveryCount":3,"state":"Invisible"}]`
	certList = `{"value":[{"name":"root","etag":"AAAA","properties":{"subject":"CN=Fleet Root CA","expiry":"2036-01-01T00:00:00Z",
"thumbprint":"0A1B2C","isVerified":true}},{"name":"intermediate","properties":{"subject":"CN=Line 2","expiry":"2030-01-01T00:00:00Z","thumbprint":"3D4E5F"}}]}`
)

func goldenHub(t *testing.T) *fakeHub {
	h := newFakeHub(t, map[string]reply{
		"GET /devices":                         {body: "[" + deviceD1 + "," + deviceEdge1 + "," + deviceX509 + "]"},
		"GET /devices/d1":                      {body: deviceD1},
		"GET /devices/cam":                     {body: deviceX509},
		"GET /devices/edge1":                   {body: deviceEdge1},
		"GET /devices/edge1/modules":           {body: "[" + moduleM1 + "]"},
		"GET /devices/edge1/modules/filter":    {body: moduleM1},
		"GET /twins/d1":                        {body: twinD1},
		"GET /devices/d1/messages/deviceBound": {body: c2dList},
		"GET /certificates":                    {body: certList},
		"POST /twins/d1/methods":               {body: `{"status":500,"payload":{"error":"disk full"}}`},
		"GET /devices/empty/modules":           {body: `[]`},
	})
	h.stream = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, ": outpost event stream\n\n")
		fmt.Fprint(w, "id: 41\nevent: message\ndata: {\"sequenceNumber\":41,\"enqueuedTime\":\"2026-11-29T11:00:00Z\",\"deviceId\":\"d1\",\"systemProperties\":{\"contentType\":\"application/json\",\"messageId\":\"a\",\"dt-dataschema\":\"dtmi:com:example:Thermostat;1\",\"dt-subject\":\"thermostat1\"},\"properties\":{\"alert\":\"yes\"},\"body\":{\"temp\":21.5}}\n\n")
		fmt.Fprint(w, "id: 42\nevent: message\ndata: {\"sequenceNumber\":42,\"enqueuedTime\":\"2026-11-29T11:00:01Z\",\"deviceId\":\"edge1\",\"moduleId\":\"filter\",\"body\":\"plain text\"}\n\n")
		fmt.Fprint(w, "id: 43\nevent: message\ndata: {\"sequenceNumber\":43,\"enqueuedTime\":\"2026-11-29T11:00:02Z\",\"deviceId\":\"d1\",\"bodyBase64\":\"/wA=\"}\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}
	return h
}

// TestGolden checks the human (and --json) output of read commands against testdata/*.golden.
func TestGolden(t *testing.T) {
	h := goldenHub(t)
	tests := []struct {
		name string
		args string
	}{
		{"device_list", "device list"},
		{"device_list_json", "device list --json"},
		{"device_show", "device show d1"},
		{"device_show_x509", "device show cam"},
		{"device_show_json", "device show edge1 --json"},
		{"device_connection_string", "device connection-string d1"},
		{"device_connection_string_secondary", "device connection-string d1 --key secondary"},
		{"device_connection_string_x509", "device connection-string cam"},
		{"module_connection_string", "device connection-string edge1 --module filter"},
		{"module_list", "module list edge1"},
		{"module_list_empty", "module list empty"},
		{"module_list_json", "module list edge1 --json"},
		{"module_show", "module show edge1 filter"},
		{"twin_show", "twin show d1"},
		{"twin_show_json", "twin show d1 --json"},
		{"c2d_list", "c2d list d1"},
		{"c2d_list_json", "c2d list d1 --json"},
		{"ca_list", "ca list"},
		{"ca_list_json", "ca list --json"},
		{"method_invoke", "method invoke d1 reset --payload {\"hard\":true}"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, h.env(), "", strings.Fields(tc.args)...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			golden(t, tc.name, r.stdout)
		})
	}
}

// TestGolden_Monitor checks monitor's output lines; each run stops after the three streamed events.
func TestGolden_Monitor(t *testing.T) {
	h := goldenHub(t)
	for name, args := range map[string]string{
		"monitor":            "monitor --from start",
		"monitor_properties": "monitor --device d1 --from 41 --properties",
	} {
		t.Run(name, func(t *testing.T) {
			r := runLines(t, h.env(), 3, strings.Fields(args)...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			golden(t, name, r.stdout)
		})
	}
}
