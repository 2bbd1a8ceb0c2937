package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/hubclient"
	"github.com/outpost-iot/outpost/internal/iothub"
	"github.com/outpost-iot/outpost/internal/mqtt/packet"
	"github.com/outpost-iot/outpost/internal/testutil"
)

// burstDevice connects device deviceCS over TLS at the packet level and returns the connection.
func (c *cloudProc) burstDevice(deviceCS string) (*tls.Conn, *packet.Reader, string) {
	c.t.Helper()
	cs, err := iothub.ParseConnectionString(deviceCS)
	if err != nil {
		c.t.Fatal(err)
	}
	tok, err := iothub.NewSASToken(iothub.DeviceResource(cs.HostName, cs.DeviceID), cs.SharedAccessKey, "", time.Now().Add(time.Hour))
	if err != nil {
		c.t.Fatal(err)
	}
	nc, err := tls.Dial("tcp", c.mqttAddr, c.tlsConfig(cs.HostName))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { _ = nc.Close() })
	b, err := packet.Encode(&packet.Connect{ProtocolName: "MQTT", ProtocolLevel: 4, ClientID: cs.DeviceID, CleanSession: true,
		HasUsername: true, Username: cs.HostName + "/" + cs.DeviceID + "/?api-version=2021-04-12",
		HasPassword: true, Password: []byte(tok)})
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
	r := packet.NewReader(nc, 0)
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if p, err := r.ReadPacket(); err != nil {
		c.t.Fatalf("CONNACK: %v", err)
	} else if ack, ok := p.(*packet.Connack); !ok || ack.ReturnCode != 0 {
		c.t.Fatalf("got %v, want CONNACK 0", p)
	}
	return nc, r, cs.DeviceID
}

// TestSIGTERMAcknowledgesEveryStoredMessage_A10: SIGTERM in the middle of QoS 1 bursts
// (many messages in flight per device, no waiting for each PUBACK) ends the process cleanly
// within the drain timeout, and every message it stored got its PUBACK before the
// connection closed: after a restart the event store holds exactly as many messages per
// device as the device saw PUBACKs (RELIABILITY A10).
func TestSIGTERMAcknowledgesEveryStoredMessage_A10(t *testing.T) {
	dir := t.TempDir()
	c := startCloud(t, dir, "--max-client-rate", "0")
	const publishers = 4
	acks := make([]atomic.Int64, publishers)
	devs := make([]string, publishers)
	var wg sync.WaitGroup
	for i := range publishers {
		nc, r, dev := c.burstDevice(strings.TrimSpace(c.run("device", "create", fmt.Sprintf("burst-%d", i))))
		devs[i] = dev
		wg.Go(func() { // the burst; ends at the first write error (the cloud closed)
			testutil.BurstQoS1(nc, "devices/"+dev+"/messages/events/", 100000, func(seq int) []byte { return fmt.Appendf(nil, `{"seq":%d}`, seq) })
		})
		wg.Go(func() { testutil.CountPubacks(nc, r, &acks[i]) }) // until the cloud closes the connection
	}
	testutil.Eventually(t, 60*time.Second, func() bool {
		var n int64
		for i := range acks {
			n += acks[i].Load()
		}
		return n >= 2000
	}, "the bursts under way")
	start := time.Now()
	c.terminate(20 * time.Second)
	t.Logf("stopped %v after SIGTERM", time.Since(start))
	wg.Wait()
	c.start()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	svc := c.service()
	for i, dev := range devs {
		var stored int64
		for from := int64(0); ; {
			evs, err := svc.Events(ctx, hubclient.EventFilter{DeviceID: dev}, from, 1000)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) == 0 {
				break
			}
			stored += int64(len(evs))
			from = evs[len(evs)-1].SequenceNumber + 1
		}
		if got := acks[i].Load(); stored != got {
			t.Errorf("%s: %d messages stored, %d PUBACKs received: %d stored without their PUBACK", dev, stored, got, stored-got)
		} else {
			t.Logf("%s: %d messages stored, each acknowledged", dev, stored)
		}
	}
}
