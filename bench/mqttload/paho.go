package mqttload

import (
	"context"
	"errors"
	"fmt"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// pahoConn publishes through github.com/eclipse/paho.mqtt.golang, kept as a reference client
// (-client paho) to show how much of a measurement is client overhead.
type pahoConn struct {
	c       mqtt.Client
	topic   string
	payload []byte
}

func dialPaho(ctx context.Context, t Target, d Device, payload []byte) (publisher, error) {
	scheme := "tcp://"
	if t.TLS != nil {
		scheme = "tls://"
	}
	opts := mqtt.NewClientOptions().
		AddBroker(scheme + t.Addr).
		SetClientID(d.ClientID).
		SetUsername(d.Username).
		SetPassword(d.Password).
		SetCleanSession(false).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetKeepAlive(keepAliveSeconds * time.Second).
		SetOrderMatters(false).
		SetTLSConfig(t.TLS)
	if dl, ok := ctx.Deadline(); ok {
		opts.SetConnectTimeout(time.Until(dl))
	}
	c := mqtt.NewClient(opts)
	tok := c.Connect()
	if err := waitToken(ctx, tok); err != nil {
		return nil, fmt.Errorf("mqttload: paho connect %s: %w", d.ClientID, err)
	}
	return &pahoConn{c: c, topic: d.Topic, payload: payload}, nil
}

type pending struct {
	tok   mqtt.Token
	start time.Time
}

// publish keeps at most window tokens in flight; a collector goroutine (owned by this call and
// waited for before it returns) stamps each completion in send order.
func (p *pahoConn) publish(ctx context.Context, count, window int, lat []time.Duration) ([]time.Duration, error) {
	inflight := make(chan pending, window)
	result := make(chan error, 1)
	out := lat
	go func() {
		var err error
		for q := range inflight {
			if werr := waitDrain(q.tok); werr != nil && err == nil {
				err = werr
			}
			out = append(out, time.Since(q.start))
		}
		result <- err
	}()
	for i := 0; i < count && ctx.Err() == nil; i++ {
		start := time.Now()
		tok := p.c.Publish(p.topic, 1, false, p.payload)
		inflight <- pending{tok: tok, start: start}
	}
	close(inflight)
	err := <-result
	if err != nil {
		return out, fmt.Errorf("mqttload: paho publish: %w", err)
	}
	return out, nil
}

func waitDrain(tok mqtt.Token) error {
	if !tok.WaitTimeout(drainTimeout) {
		return errors.New("puback timeout")
	}
	return tok.Error()
}

func waitToken(ctx context.Context, tok mqtt.Token) error {
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *pahoConn) close() error {
	p.c.Disconnect(250)
	return nil
}
