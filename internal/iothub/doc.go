// Package iothub implements Azure IoT Hub's wire dialect as the official SDKs
// speak it (IOTEDGE-REFERENCE §1): SAS tokens (§1.3), connection strings
// (§1.2), the MQTT username (§1.4), topics (§1.5), property bags (§1.6), twin
// patch limits (§1.7), IoT Hub's error codes and HTTP error body, and the JSON
// types of the service API that both hubs (the cloud and the edge hub) serve or
// read: device and module identities, the device-scope page (§3.5), direct
// method requests and results (§1.8), D2C events and the C2D queue (service.go).
//
// It imports only the standard library and internal/message, and performs no
// I/O other than writing an HTTP error response; every decision that depends
// on the clock takes "now" as an argument.
//
// # HTTP errors and the Node service SDK
//
// The Node service SDK (azure-iothub, via azure-iot-http-base
// RestApiClient.translateError and Http.parseErrorBody) reads an error body as
// JSON, splits its "Message" member on ";" and takes the code from the first
// part after ":" and the human text from the second part; both must be
// non-empty or the code is ignored. It then maps by HTTP status:
//
//	400 ArgumentError          401 UnauthorizedError     403 TooManyDevicesError (any code)
//	404 DeviceNotFoundError when the code is DeviceNotFound, IotHubNotFoundError for
//	    IotHubNotFound, otherwise a plain Error("Not found") (so ModuleNotFound is plain)
//	408 DeviceTimeoutError     409 DeviceAlreadyExistsError (any code)
//	412 InvalidEtagError       429 ThrottlingError       500 InternalServerError
//	502 BadDeviceResponseError 503 ServiceUnavailableError 504 GatewayTimeoutError
//	anything else: a plain Error.
//
// WriteHTTPError therefore always writes a non-empty text without ";" after
// the code, so the code survives the split. Cloud-to-device sends from the
// Node service Client go over AMQP, not HTTP, and are mapped elsewhere.
//
// # Property bags and the Node device SDK
//
// The Node device SDK dispatches a C2D delivery only on
// ^devices/.*/messages/devicebound/.*$ and an input only on
// ^devices/.*/modules/.*/inputs/.*/.*$, then takes the bag from "/"-split
// segment 4 (C2D) or 6 (inputs), splits it on "&" and "=" and
// decodeURIComponent()s keys and values; only $.mid, $.to, $.exp, $.cid,
// $.uid, $.ct and $.ce become message fields, every other key (iothub-ack,
// $.cdid, ...) an application property. So builders always write the "/"
// after devicebound and the input name, and EncodePropertyBag escapes every
// byte outside A-Z a-z 0-9 -_.~ (no raw "/", "=", "&" or "%" can reach the
// client). Node publishes telemetry keys through querystring.stringify, so
// "$.mid" arrives as "%24.mid"; ParsePropertyBag decodes keys before mapping.
package iothub
