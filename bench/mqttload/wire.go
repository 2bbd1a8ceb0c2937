package mqttload

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MQTT 3.1.1 control packet types (fixed header high nibble, spec §2.2.1).
const (
	typeConnect    = 1
	typeConnack    = 2
	typePublish    = 3
	typePuback     = 4
	typePingresp   = 13
	typeDisconnect = 14
)

// connackCodes names the CONNACK return codes of spec §3.2.2.3.
var connackCodes = map[byte]string{
	1: "unacceptable protocol version",
	2: "identifier rejected",
	3: "server unavailable",
	4: "bad user name or password",
	5: "not authorized",
}

// appendRemainingLength appends the variable-length encoding of n (spec §2.2.3).
func appendRemainingLength(b []byte, n int) []byte {
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

// appendString appends a UTF-8 string with its 2-byte length prefix (spec §1.5.3).
func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// ConnectPacket encodes a CONNECT for protocol level 4 (spec §3.1). keepAlive is in seconds.
func ConnectPacket(clientID, username, password string, cleanSession bool, keepAlive uint16) []byte {
	var flags byte
	if cleanSession {
		flags |= 0x02
	}
	if username != "" {
		flags |= 0x80
	}
	if password != "" {
		flags |= 0x40
	}
	body := appendString(nil, "MQTT")
	body = append(body, 4, flags)
	body = binary.BigEndian.AppendUint16(body, keepAlive)
	body = appendString(body, clientID)
	if username != "" {
		body = appendString(body, username)
	}
	if password != "" {
		body = appendString(body, password)
	}
	return frame(typeConnect<<4, body)
}

// PublishPacket encodes a QoS 1 PUBLISH (spec §3.3) and returns it with the offset of its
// 2-byte packet identifier, so a sender can reuse one buffer and patch only the id.
func PublishPacket(topic string, payload []byte) (pkt []byte, idOffset int) {
	body := appendString(nil, topic)
	idAt := len(body)
	body = append(body, 0, 0)
	body = append(body, payload...)
	pkt = frame(typePublish<<4|0x02, body)
	return pkt, len(pkt) - len(body) + idAt
}

// DisconnectPacket is the two-byte DISCONNECT (spec §3.14).
var DisconnectPacket = []byte{typeDisconnect << 4, 0}

func frame(header byte, body []byte) []byte {
	b := appendRemainingLength([]byte{header}, len(body))
	return append(b, body...)
}

// maxInboundPacket bounds what the client accepts; a publisher only expects CONNACK and PUBACK.
const maxInboundPacket = 64 << 10

// errMalformed reports a packet this client cannot parse.
var errMalformed = errors.New("mqttload: malformed packet")

// readPacket reads one control packet and returns its first header byte and body.
// buf is reused when large enough.
func readPacket(r *bufio.Reader, buf []byte) (header byte, body []byte, err error) {
	header, err = r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, err := readRemainingLength(r)
	if err != nil {
		return 0, nil, err
	}
	if n > maxInboundPacket {
		return 0, nil, fmt.Errorf("mqttload: inbound packet of %d bytes: %w", n, errMalformed)
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	body = buf[:n]
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, fmt.Errorf("mqttload: read packet body: %w", err)
	}
	return header, body, nil
}

func readRemainingLength(r *bufio.Reader) (int, error) {
	n, mul := 0, 1
	for i := 0; i < 4; i++ {
		d, err := r.ReadByte()
		if err != nil {
			return 0, fmt.Errorf("mqttload: read remaining length: %w", err)
		}
		n += int(d&0x7f) * mul
		if d&0x80 == 0 {
			return n, nil
		}
		mul *= 128
	}
	return 0, errMalformed
}
