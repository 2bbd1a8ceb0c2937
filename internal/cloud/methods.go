package cloud

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outpost-iot/outpost/internal/cloud/store"
	"github.com/outpost-iot/outpost/internal/iothub"
	"github.com/outpost-iot/outpost/internal/mqtt/broker"
)

const (
	defaultMethodTimeout = 30 * time.Second
	maxMethodTimeout     = 300 * time.Second
	methodsFilterProbe   = "$iothub/methods/POST/probe/?$rid=0"
)

// methodCalls correlates method requests with the device's responses by client id and $rid.
type methodCalls struct {
	next    atomic.Uint64
	mu      sync.Mutex // guards pending
	pending map[string]chan *iothub.MethodResult
}

func (m *methodCalls) register(client string) (string, chan *iothub.MethodResult) {
	rid := strconv.FormatUint(m.next.Add(1), 16)
	ch := make(chan *iothub.MethodResult, 1)
	m.mu.Lock()
	m.pending[client+"\x00"+rid] = ch
	m.mu.Unlock()
	return rid, ch
}

func (m *methodCalls) forget(client, rid string) {
	m.mu.Lock()
	delete(m.pending, client+"\x00"+rid)
	m.mu.Unlock()
}

// resolve hands a response to its waiting call; unknown or late responses are dropped.
func (m *methodCalls) resolve(client, rid string, res *iothub.MethodResult) {
	m.mu.Lock()
	ch, ok := m.pending[client+"\x00"+rid]
	delete(m.pending, client+"\x00"+rid)
	m.mu.Unlock()
	if ok {
		ch <- res // buffered: the caller may already have given up
	}
}

func seconds(v *int, def time.Duration) (time.Duration, error) {
	if v == nil {
		return def, nil
	}
	d := time.Duration(*v) * time.Second
	if d < 0 || d > maxMethodTimeout {
		return 0, iothub.NewError(iothub.CodeArgumentInvalid, "timeouts must be between 0 and 300 seconds")
	}
	return d, nil
}

// InvokeMethod calls a direct method on a device or module and waits for its answer.
func (c *Cloud) InvokeMethod(ctx context.Context, k store.Key, req *iothub.MethodRequest) (*iothub.MethodResult, error) {
	if req.MethodName == "" {
		return nil, iothub.NewError(iothub.CodeArgumentInvalid, "methodName is required")
	}
	if len(req.Payload) > iothub.MaxMethodPayload {
		return nil, iothub.NewError(iothub.CodeRequestEntityTooLarge, "method payload exceeds %d bytes", iothub.MaxMethodPayload)
	}
	respTimeout, err := seconds(req.ResponseTimeoutInSeconds, defaultMethodTimeout)
	if err != nil {
		return nil, err
	}
	connTimeout, err := seconds(req.ConnectTimeoutInSeconds, 0)
	if err != nil {
		return nil, err
	}
	if _, err := c.reg.lookup(ctx, k); err != nil {
		return nil, err
	}
	c.metrics.methods.WithLabelValues("invoked").Inc()
	conn := c.waitMethodSubscriber(ctx, k.String(), connTimeout)
	if conn == nil {
		c.metrics.methods.WithLabelValues("not_online").Inc()
		return nil, iothub.NewError(iothub.CodeDeviceNotOnline, "%s is not connected or not subscribed to direct methods", k)
	}
	payload := []byte(req.Payload)
	if len(payload) == 0 {
		payload = []byte("null")
	}
	rid, ch := c.calls.register(k.String())
	defer c.calls.forget(k.String(), rid)
	tctx, cancel := context.WithTimeout(ctx, respTimeout)
	defer cancel()
	if err := conn.Publish(tctx, iothub.MethodRequestTopic(req.MethodName, rid), payload, 0); err != nil {
		c.metrics.methods.WithLabelValues("not_online").Inc()
		return nil, iothub.NewError(iothub.CodeDeviceNotOnline, "%s went offline", k)
	}
	select {
	case res := <-ch:
		c.metrics.methods.WithLabelValues("answered").Inc()
		return res, nil
	case <-tctx.Done():
		c.metrics.methods.WithLabelValues("timeout").Inc()
		return nil, iothub.NewError(iothub.CodeGatewayTimeout, "%s did not answer %s within %s", k, req.MethodName, respTimeout)
	}
}

// waitMethodSubscriber returns the connection of client once it is subscribed to methods,
// waiting up to timeout for it to connect and subscribe.
func (c *Cloud) waitMethodSubscriber(ctx context.Context, client string, timeout time.Duration) *broker.Conn {
	deadline := time.Now().Add(timeout)
	for {
		if conn := c.broker.Lookup(client); conn != nil {
			if _, ok := conn.Subscribed(methodsFilterProbe); ok {
				return conn
			}
		}
		if !time.Now().Before(deadline) {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// methodResponse handles $iothub/methods/res/{status}/?$rid= from a device.
func (c *Cloud) methodResponse(client string, status int, rid string, body []byte) {
	payload := json.RawMessage("null")
	if len(body) > 0 && json.Valid(body) {
		payload = body
	} else if len(body) > 0 {
		s, _ := json.Marshal(string(body))
		payload = s
	}
	c.calls.resolve(client, rid, &iothub.MethodResult{Status: status, Payload: payload})
}
