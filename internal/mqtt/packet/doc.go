// Package packet is Outpost's MQTT 3.1.1 codec: packet types, a stream reader,
// a byte-slice decoder, encoders, and topic name/filter validation and matching.
//
// It is written by hand rather than taken from a library because Outpost needs
// two properties together that the libraries we evaluated do not both offer:
//
//   - strict rejection of malformed input (RELIABILITY.md E1-E7): every
//     violation of a "MUST" in the specification that a server can observe in
//     a single packet is reported as an error, so that the broker closes the
//     network connection as the specification requires [MQTT-4.8.0-1];
//   - a maximum packet size checked against the declared remaining length
//     BEFORE the body is allocated (RELIABILITY.md D6/D7), and a body buffer
//     that grows with the bytes actually received rather than with the
//     declared length.
//
// Errors returned by the decoder wrap one of ErrMalformed, ErrProtocol,
// ErrTooLarge or ErrProtocolLevel; use errors.Is, or Reason for a short label
// suited to metrics. The package imports only the standard library.
package packet
