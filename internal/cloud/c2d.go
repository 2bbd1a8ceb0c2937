package cloud

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/outpost-iot/outpost/internal/cloud/store"
	"github.com/outpost-iot/outpost/internal/iothub"
	"github.com/outpost-iot/outpost/internal/message"
	"github.com/outpost-iot/outpost/internal/mqtt/broker"
)

// C2D limits as IoT Hub has them.
const (
	defaultC2DTTL       = time.Hour
	maxC2DTTL           = 48 * time.Hour
	maxC2DSize          = 64 * 1024
	defaultC2DQueue     = 50
	defaultMaxDelivery  = 10
	c2dIdleRecheckEvery = 30 * time.Second
)

// c2dDoc is the persisted form of a cloud-to-device message.
type c2dDoc struct {
	System     map[string]string `json:"system"`
	Properties map[string]string `json:"properties,omitempty"`
	Body       []byte            `json:"body"`
	Enqueued   time.Time         `json:"enqueuedTime"`
}

// C2DRequest is a message to send to a device.
type C2DRequest struct {
	DeviceID   string
	Body       []byte
	System     map[string]string // messageId, cid, userId, ack, contentType, contentEncoding, ...
	Properties map[string]string
	TTL        time.Duration // 0 = default (1 h); at most 48 h
}

// c2dQueues owns C2D wake-ups: a closed channel tells a device's pump that a message arrived.
type c2dQueues struct {
	mu      sync.Mutex // guards waiters
	waiters map[string]chan struct{}
}

func (q *c2dQueues) waiter(deviceID string) <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	ch, ok := q.waiters[deviceID]
	if !ok {
		ch = make(chan struct{})
		q.waiters[deviceID] = ch
	}
	return ch
}

func (q *c2dQueues) wake(deviceID string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if ch, ok := q.waiters[deviceID]; ok {
		close(ch)
		delete(q.waiters, deviceID)
	}
}

func newMessageID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// SendC2D queues a message for a device.
func (c *Cloud) SendC2D(ctx context.Context, req *C2DRequest) (*iothub.C2DEntry, error) {
	ttl := req.TTL
	if ttl == 0 {
		ttl = defaultC2DTTL
	}
	if ttl < 0 || ttl > maxC2DTTL {
		return nil, iothub.NewError(iothub.CodeArgumentInvalid, "ttl must be between 1s and 48h")
	}
	if len(req.Body) > maxC2DSize {
		return nil, iothub.NewError(iothub.CodeMessageTooLarge, "C2D message body exceeds %d bytes", maxC2DSize)
	}
	now := c.now().UTC()
	sys := map[string]string{}
	for k, v := range req.System {
		sys[k] = v
	}
	if sys[message.MessageID] == "" {
		sys[message.MessageID] = newMessageID()
	}
	sys[message.To] = "/devices/" + req.DeviceID + "/messages/deviceBound"
	expiry := now.Add(ttl)
	sys[message.ExpiryTime] = expiry.Format(time.RFC3339Nano)
	doc, err := json.Marshal(c2dDoc{System: sys, Properties: req.Properties, Body: req.Body, Enqueued: now})
	if err != nil {
		return nil, err
	}
	m := &store.C2DMessage{DeviceID: req.DeviceID, Expiry: expiry, Doc: doc}
	if err := c.st.EnqueueC2D(ctx, m, c.cfg.c2dQueueDepth(), now); err != nil {
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil, notFound(store.Key{DeviceID: req.DeviceID})
		case errors.Is(err, store.ErrQueueFull):
			c.metrics.c2d.WithLabelValues("rejected_queue_full").Inc()
			return nil, iothub.NewError(iothub.CodeDeviceMaximumQueueDepthExceeded, "the C2D queue of device %s is full", req.DeviceID)
		}
		return nil, err
	}
	c.metrics.c2d.WithLabelValues("enqueued").Inc()
	c.c2dq.wake(req.DeviceID)
	return &iothub.C2DEntry{MessageID: sys[message.MessageID], EnqueuedTime: now, ExpiryTime: expiry, State: "Enqueued"}, nil
}

// ListC2D shows a device's queue.
func (c *Cloud) ListC2D(ctx context.Context, deviceID string) ([]*iothub.C2DEntry, error) {
	if _, err := c.reg.getDevice(ctx, deviceID); err != nil {
		return nil, err
	}
	msgs, err := c.st.ListC2D(ctx, deviceID)
	if err != nil {
		return nil, err
	}
	now := c.now()
	out := make([]*iothub.C2DEntry, 0, len(msgs))
	for _, m := range msgs {
		var d c2dDoc
		if err := json.Unmarshal(m.Doc, &d); err != nil {
			return nil, fmt.Errorf("cloud: decode c2d %d: %w", m.ID, err)
		}
		state := "Enqueued"
		if !m.Expiry.After(now) {
			state = "Expired"
		}
		out = append(out, &iothub.C2DEntry{MessageID: d.System[message.MessageID], EnqueuedTime: d.Enqueued,
			ExpiryTime: m.Expiry, DeliveryCount: m.DeliveryCount, State: state})
	}
	return out, nil
}

// pumpC2D delivers a device's queue over its connection, one message at a time, in order, until
// the connection ends. A PUBACK completes the message (IOTEDGE-REFERENCE §1.9); a message
// delivered more than the maximum number of times is dead-lettered.
func (c *Cloud) pumpC2D(conn *broker.Conn, deviceID string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-conn.Done():
		case <-c.stopping:
		}
		cancel()
	}()
	for ctx.Err() == nil {
		wake := c.c2dq.waiter(deviceID)
		m, err := c.st.NextC2D(ctx, deviceID, c.now())
		if err != nil {
			if !errors.Is(err, store.ErrNotFound) && ctx.Err() == nil {
				c.log.Warn("c2d queue read failed", "device", deviceID, "err", err)
			}
			select {
			case <-ctx.Done():
			case <-wake:
			case <-time.After(c2dIdleRecheckEvery):
			}
			continue
		}
		c.deliverC2D(ctx, conn, m)
	}
}

func (c *Cloud) deliverC2D(ctx context.Context, conn *broker.Conn, m *store.C2DMessage) {
	if m.DeliveryCount > c.cfg.maxDeliveryCount() {
		c.metrics.c2d.WithLabelValues("dead_lettered").Inc()
		c.log.Info("c2d message dead-lettered", "device", m.DeviceID, "deliveries", m.DeliveryCount-1)
		_ = c.st.DeleteC2D(context.Background(), m.ID)
		return
	}
	var d c2dDoc
	if err := json.Unmarshal(m.Doc, &d); err != nil {
		c.log.Error("undecodable c2d message dropped", "device", m.DeviceID, "err", err)
		_ = c.st.DeleteC2D(context.Background(), m.ID)
		return
	}
	msg := &message.Message{Body: d.Body, System: d.System, Properties: d.Properties}
	delete(msg.System, message.ExpiryTime) // IoT Hub does not put the expiry on the wire
	pctx, cancel := context.WithTimeout(ctx, orDefault(c.cfg.C2DLockTimeout, time.Minute))
	defer cancel()
	// A message delivered before (to an earlier connection or abandoned after the lock
	// timeout) goes with DUP [MQTT-3.3.1-1, MQTT-4.4.0-1]; the count also includes an
	// attempt the connection ended before writing, for which DUP is a harmless hint.
	p := &broker.Publish{Topic: iothub.C2DTopic(m.DeviceID, msg), Payload: d.Body, QoS: 1, Dup: m.DeliveryCount > 1}
	if err := conn.PublishWait(pctx, p); err != nil {
		c.metrics.c2d.WithLabelValues("abandoned").Inc()
		return
	}
	if err := c.st.DeleteC2D(context.Background(), m.ID); err != nil {
		c.log.Error("c2d completion not stored", "device", m.DeviceID, "err", err)
		return
	}
	c.metrics.c2d.WithLabelValues("completed").Inc()
}
