// Package cli is the outpost command tree. It is the only package that prints: results go to
// stdout, diagnostics and errors to stderr, and an error is one line "outpost: ...".
//
// Exit codes: 0 success, 1 error (including errors answered by the hub, and "interrupted"),
// 2 usage error (unknown command or flag, wrong arguments, invalid flag values or input files,
// missing connection string).
//
// # Commands
//
//	outpost cloud serve [--data DIR] [--hostname NAME ...] [--mqtt-listen ADDR] [--https-listen ADDR]
//	      [--metrics-listen ADDR] [--dev-plain-mqtt ADDR] [--dev-plain-http ADDR] [--cert FILE --key FILE]
//	      [--event-retention D] [--log-level L] [--log-format text|json]
//	outpost cloud connection-string [--data DIR] [--policy iothubowner]
//	outpost device create ID [--edge] [--parent ID] [--x509-thumbprint P[,S] | --x509-ca |
//	      --primary-key K --secondary-key K] [--disabled]
//	outpost device list [--top N] [--json] | show ID [--json] | delete ID [--etag E]
//	outpost device update ID [--status enabled|disabled [--status-reason R]] [--rotate-keys] [--json]
//	outpost device connection-string ID [--module M] [--key primary|secondary]
//	outpost module create DEVICE MODULE [auth flags as device create] [--managed-by X]
//	outpost module list DEVICE [--json] | show DEVICE MODULE [--json] | delete DEVICE MODULE [--etag E]
//	outpost twin show ID [--module M] [--json]
//	outpost twin update ID [--module M] (--desired JSON | --tags JSON | --file F|-) [--etag E] [--json]
//	outpost method invoke ID NAME [--module M] [--payload JSON] [--timeout 30s] [--connect-timeout 0s]
//	outpost c2d send ID BODY|- [--property k=v ...] [--message-id] [--correlation-id] [--ttl D]
//	      [--ack none|positive|negative|full] [--content-type] [--content-encoding] [--json]
//	outpost c2d list ID [--json]
//	outpost monitor [--device ID [--module M]] [--from end|start|SEQ] [--timeout D] [--properties]
//	outpost deploy apply DEVICE MANIFEST|-
//	outpost sas-token [--connection-string CS] [--ttl 1h]
//	outpost ca add NAME FILE|- | list [--json] | delete NAME [--etag E]
//	outpost version
//
// Commands that talk to the cloud take --connection-string, --ca-file and --endpoint, or the
// environment variables OUTPOST_CONNECTION_STRING, OUTPOST_CA_FILE and OUTPOST_ENDPOINT; a flag
// wins over its variable. The endpoint defaults to https://{HostName}:443.
//
// # Output
//
// Read commands print aligned tables or "Key: value" lines, or with --json the hub's JSON
// (indented; lists are arrays, never null). `device show` and `module show` print keys only with
// --json. `device create`, `module create` and `device connection-string` print a connection
// string (HostName=..;DeviceId=..;x509=true for X.509 identities). `method invoke` prints
// {"status":N,"payload":..} and exits 0 whatever the device's status; a call the hub cannot
// deliver (404 DeviceNotOnline, 504 GatewayTimeout) exits 1. `c2d send` prints the message id.
// `monitor` prints one JSON object per event, see monitorLine.
package cli
