package hubclient

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/outpost-iot/outpost/internal/iothub"
	"github.com/outpost-iot/outpost/internal/message"
)

// C2DMessage is a cloud-to-device message to send.
type C2DMessage struct {
	Body            []byte
	MessageID       string
	CorrelationID   string
	UserID          string
	Ack             string // none, positive, negative, full
	ContentType     string
	ContentEncoding string
	// TTL > 0 sets the expiry relative to the hub's clock (?ttl=seconds); otherwise Expiry, if
	// set, is sent as an absolute iothub-expiry; neither uses the hub's default.
	TTL        time.Duration
	Expiry     time.Time
	Properties map[string]string // application properties (iothub-app-{name} headers)
}

// SendC2D queues a cloud-to-device message for a device.
//
// Application properties travel in one iothub-app-properties header as an IoT Hub property bag
// (percent-encoded k=v pairs), so any name survives with its case.
func (c *Client) SendC2D(ctx context.Context, deviceID string, m C2DMessage) (*C2DResult, error) {
	h := http.Header{}
	set := func(k, v string) {
		if v != "" {
			h[k] = []string{v}
		}
	}
	headers := iothub.C2DHeaders()
	set(headers[message.MessageID], m.MessageID)
	set(headers[message.CorrelationID], m.CorrelationID)
	set(headers[message.UserID], m.UserID)
	set(headers[message.Ack], m.Ack)
	set(headers[message.ContentType], m.ContentType)
	set(headers[message.ContentEncoding], m.ContentEncoding)
	set("Content-Type", m.ContentType)
	q := url.Values{}
	if m.TTL > 0 {
		q.Set("ttl", strconv.FormatInt(int64((m.TTL+time.Second-1)/time.Second), 10))
	} else if !m.Expiry.IsZero() {
		set("iothub-expiry", m.Expiry.UTC().Format(time.RFC3339))
	}
	if len(m.Properties) > 0 {
		for k := range m.Properties {
			if k == "" {
				return nil, fmt.Errorf("hubclient: send c2d to %s: empty property name", deviceID)
			}
		}
		// One property-bag header keeps the names' case, which HTTP header names would not.
		set("iothub-app-properties", iothub.EncodePropertyBag(&message.Message{Properties: m.Properties}))
	}
	var out C2DResult
	err := c.do(ctx, &request{method: http.MethodPost, segs: c2dSegs(deviceID), query: q, header: h, body: m.Body}, &out)
	return wrap(&out, err, "send c2d to %s", deviceID)
}

// ListC2D lists the messages queued for a device.
func (c *Client) ListC2D(ctx context.Context, deviceID string) ([]iothub.C2DEntry, error) {
	var out []iothub.C2DEntry
	err := c.do(ctx, &request{method: http.MethodGet, segs: c2dSegs(deviceID)}, &out)
	return wrap(out, err, "list c2d of %s", deviceID)
}

func c2dSegs(deviceID string) []string {
	return []string{"devices", deviceID, "messages", "deviceBound"}
}
