// Package hubclient is a typed client for the service REST API of the Outpost cloud (the IoT Hub
// stand-in): device and module identities, twins, direct methods, cloud-to-device messages,
// deployments (applyConfigurationContent), the D2C event history and its server-sent-event stream,
// and CA certificates.
//
// A Client is created from a service connection string
// ("HostName=hub;SharedAccessKeyName=iothubowner;SharedAccessKey=..."). Every request carries a fresh
// SAS token for the hub host name (resource = HostName, skn = the policy name; a device or module
// connection string signs for its own identity instead) and the query
// api-version=2021-04-12. Error responses in IoT Hub's shape
// ({"Message":"ErrorCode:DeviceNotFound;...","ExceptionMessage":"..."}) are returned as *Error.
//
// The client never disables TLS verification: with a CA file it trusts exactly the certificates in
// that file, otherwise the system roots (RELIABILITY B7, SEC-03). A plain http:// endpoint is only
// used when given explicitly (development listeners).
package hubclient
