package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/outpost-iot/outpost/bench/mqttload"
)

// pingreq is the two-byte PINGREQ (MQTT 3.1.1 §3.12).
var pingreq = []byte{0xC0, 0}

// holder keeps idle MQTT connections open. Nothing reads from them: an idle broker sends
// nothing but PINGRESPs, which wait in the socket buffers. A pinger goroutine, owned by the
// holder and stopped by disconnectAll or closeAll, sends PINGREQ to every connection at half
// the keep-alive, so a slow run does not lose connections to the broker's keep-alive timeout.
type holder struct {
	target    mqttload.Target
	keepAlive time.Duration

	mu    sync.Mutex // guards conns
	conns []net.Conn

	stop     chan struct{}
	stopOnce sync.Once
	pinger   sync.WaitGroup
}

func newHolder(t mqttload.Target, keepAlive time.Duration) *holder {
	return &holder{target: t, keepAlive: keepAlive, stop: make(chan struct{})}
}

// connect opens one connection per device, conc at a time, and starts the pinger. It fails
// if any device cannot connect, naming how many did not and the first error.
func (h *holder) connect(ctx context.Context, devs []mqttload.Device, conc int) error {
	errs := make([]error, len(devs))
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	ka := uint16(h.keepAlive / time.Second)
	for i, d := range devs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			c, err := mqttload.Connect(cctx, h.target, d, ka)
			if err != nil {
				errs[i] = err
				return
			}
			h.mu.Lock()
			h.conns = append(h.conns, c)
			h.mu.Unlock()
		})
	}
	wg.Wait()
	h.pinger.Go(h.ping)
	failed := 0
	for _, err := range errs {
		if err != nil {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("conns: %d of %d devices did not connect: %w", failed, len(devs), errors.Join(errs...))
	}
	return nil
}

func (h *holder) ping() {
	t := time.NewTicker(h.keepAlive / 2)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
			h.mu.Lock()
			for _, c := range h.conns {
				_ = c.SetWriteDeadline(time.Now().Add(time.Second))
				_, _ = c.Write(pingreq)
			}
			h.mu.Unlock()
		}
	}
}

func (h *holder) stopPinger() {
	h.stopOnce.Do(func() { close(h.stop) })
	h.pinger.Wait()
}

// disconnectAll sends DISCONNECT on every connection and closes it, conc at a time.
func (h *holder) disconnectAll(conc int) {
	h.stopPinger()
	h.mu.Lock()
	conns := h.conns
	h.conns = nil
	h.mu.Unlock()
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	for _, c := range conns {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_ = c.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = c.Write(mqttload.DisconnectPacket)
			_ = c.Close()
		})
	}
	wg.Wait()
}

// closeAll closes whatever is still open (after an error).
func (h *holder) closeAll() {
	h.stopPinger()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.conns {
		_ = c.Close()
	}
	h.conns = nil
}
