package client_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/mqtt/broker"
	"github.com/outpost-iot/outpost/internal/mqtt/client"
	"github.com/outpost-iot/outpost/internal/mqtt/packet"
	"github.com/outpost-iot/outpost/internal/testutil"
)

func TestConnectRefusedCarriesReturnCode(t *testing.T) {
	for _, code := range []byte{packet.RefusedServerUnavailable, packet.RefusedNotAuthorized} {
		b := startBroker(t, &app{refuse: code})
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		c, err := client.Dial(ctx, nil, b.addr, nil, client.Options{ClientID: "dev"})
		cancel()
		var ce *client.ConnackError
		if !errors.As(err, &ce) || ce.Code != code {
			t.Fatalf("code %d: got client %v, err %v; want a ConnackError", code, c, err)
		}
		if ce.Retryable() != (code == packet.RefusedServerUnavailable) {
			t.Errorf("code %d: Retryable %v", code, ce.Retryable())
		}
	}
}

func TestConnectSendsCredentialsAndWill(t *testing.T) {
	fs := startFakeRecordingConnect(t)
	opts := client.Options{
		ClientID: "dev", Username: "hub/dev", Password: []byte("sas"), KeepAlive: 30 * time.Second,
		Will: &packet.Will{Topic: "w", Message: []byte("gone"), QoS: 1},
	}
	dial(t, fs.addr, opts)
	got := <-fs.connects
	if got.ClientID != "dev" || got.Username != "hub/dev" || string(got.Password) != "sas" ||
		!got.HasUsername || !got.HasPassword || got.KeepAlive != 30 || got.CleanSession ||
		got.Will == nil || got.Will.Topic != "w" || string(got.Will.Message) != "gone" || got.Will.QoS != 1 {
		t.Fatalf("CONNECT %+v", got)
	}
}

// startFakeRecordingConnect is a server that records the CONNECT and accepts.
func startFakeRecordingConnect(t *testing.T) *struct {
	addr     string
	connects chan *packet.Connect
} {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fs := &struct {
		addr     string
		connects chan *packet.Connect
	}{l.Addr().String(), make(chan *packet.Connect, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		nc, err := l.Accept()
		if err != nil {
			return
		}
		defer func() { _ = nc.Close() }()
		r := packet.NewReader(nc, 0)
		p, err := r.ReadPacket()
		if err != nil {
			return
		}
		fs.connects <- p.(*packet.Connect)
		_, _ = nc.Write([]byte{0x20, 2, 0, 0})
		for {
			if _, err := r.ReadPacket(); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { _ = l.Close(); <-done })
	return fs
}

// publishMany publishes n QoS 1 messages "0".."n-1" on topic through c and waits
// for every done; it checks the window was respected and used.
func publishMany(t *testing.T, c *client.Client, topic string, n, window int) {
	t.Helper()
	d := newDoneRecorder()
	var pending, maxPending atomic.Int64
	for i := range n {
		done := d.done(i)
		if err := c.PublishAsync(context.Background(), &packet.Publish{QoS: 1, Topic: topic, Payload: []byte(fmt.Sprint(i))},
			func(err error) { pending.Add(-1); done(err) }); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		if p := pending.Add(1); p > maxPending.Load() {
			maxPending.Store(p)
		}
	}
	testutil.Eventually(t, wait, func() bool { return d.count() == n }, "every done called")
	d.check(t, n)
	for i := range n {
		if err := d.err(i); err != nil {
			t.Fatalf("done %d: %v", i, err)
		}
	}
	// pending is counted after PublishAsync returns, so it may read one over the window.
	if m := maxPending.Load(); m > int64(window)+1 || m < 2 {
		t.Errorf("at most %d publishes pending at once, want 2..%d", m, window)
	}
}

func TestPublishQoS1WindowInOrder_Broker(t *testing.T) {
	b := startBroker(t, nil)
	c := dial(t, b.addr, client.Options{ClientID: "dev", Window: 64})
	publishMany(t, c, "devices/dev/messages/events/", 1000, 64)
	pubs := b.app.published()
	if len(pubs) != 1000 {
		t.Fatalf("broker got %d publishes", len(pubs))
	}
	for i, p := range pubs {
		if string(p.Payload) != fmt.Sprint(i) || p.QoS != 1 || p.Dup {
			t.Fatalf("publish %d arrived as %q qos %d dup %v", i, p.Payload, p.QoS, p.Dup)
		}
	}
}

func TestPublishQoS0AndDup_Broker(t *testing.T) {
	b := startBroker(t, nil)
	c := dial(t, b.addr, client.Options{ClientID: "dev"})
	d := newDoneRecorder()
	if err := c.PublishAsync(context.Background(), &packet.Publish{Topic: "t", Payload: []byte("q0")}, d.done(0)); err != nil {
		t.Fatal(err)
	}
	if err := c.PublishAsync(context.Background(), &packet.Publish{QoS: 1, Dup: true, Topic: "t", Payload: []byte("again")}, d.done(1)); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, wait, func() bool { return d.count() == 2 }, "dones")
	d.check(t, 2)
	testutil.Eventually(t, wait, func() bool { return len(b.app.published()) == 2 }, "both publishes at the broker")
	if p := b.app.published()[1]; !p.Dup || string(p.Payload) != "again" {
		t.Fatalf("second publish %+v: want DUP set", p)
	}
}

func TestPublishAsyncRefusesInvalid(t *testing.T) {
	b := startBroker(t, nil)
	c := dial(t, b.addr, client.Options{ClientID: "dev"})
	for _, p := range []*packet.Publish{
		{QoS: 2, Topic: "t"},
		{Dup: true, Topic: "t"},
		{QoS: 1, Topic: "a/+"},
		{QoS: 1, Topic: ""},
	} {
		if err := c.PublishAsync(context.Background(), p, func(error) { t.Errorf("done called for %+v", p) }); err == nil {
			t.Errorf("publish %+v accepted", p)
		}
	}
}

func TestSubscribeAndReceive_Broker(t *testing.T) {
	b := startBroker(t, nil)
	got := make(chan *packet.Publish, 1)
	acks := make(chan func(), 1)
	c := dial(t, b.addr, client.Options{ClientID: "dev", OnPublish: func(p *packet.Publish, ack func()) {
		got <- p
		acks <- ack
	}})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	codes, err := c.Subscribe(ctx, packet.Subscription{Filter: "devices/dev/messages/devicebound/#", QoS: 1})
	if err != nil || !bytes.Equal(codes, []byte{1}) {
		t.Fatalf("subscribe: %v %v", codes, err)
	}
	conn := b.Lookup("dev")
	if conn == nil {
		t.Fatal("client not online at the broker")
	}
	delivered := make(chan error, 1)
	go func() { delivered <- conn.Publish(ctx, "devices/dev/messages/devicebound/x", []byte("hi"), 1) }()
	p := <-got
	if p.Topic != "devices/dev/messages/devicebound/x" || string(p.Payload) != "hi" || p.QoS != 1 {
		t.Fatalf("received %+v", p)
	}
	// The PUBACK waits for ack: the broker's QoS 1 Publish cannot have returned yet.
	select {
	case err := <-delivered:
		t.Fatalf("broker publish returned %v before the handler acked", err)
	default:
	}
	(<-acks)()
	if err := <-delivered; err != nil {
		t.Fatalf("broker publish: %v", err)
	}
	if err := c.Unsubscribe(ctx, "devices/dev/messages/devicebound/#"); err != nil {
		t.Fatalf("unsubscribe: %v", err)
	}
}

func TestInboundAcksGoOutInArrivalOrder(t *testing.T) {
	fs := startFake(t)
	acks := make(chan func(), 3)
	dial(t, fs.addr, client.Options{ClientID: "dev", OnPublish: func(_ *packet.Publish, ack func()) { acks <- ack }})
	rc := fs.accept(t)
	for id := uint16(1); id <= 3; id++ {
		rc.send(t, &packet.Publish{QoS: 1, Topic: "t", PacketID: id})
	}
	a1, a2, a3 := <-acks, <-acks, <-acks
	a3()
	a3() // a second call is ignored
	a1()
	if p := rc.read(t); p.(*packet.Puback).PacketID != 1 {
		t.Fatalf("first PUBACK %+v", p)
	}
	a2()
	for _, want := range []uint16{2, 3} {
		if p := rc.read(t); p.(*packet.Puback).PacketID != want {
			t.Fatalf("PUBACK %+v, want %d", p, want)
		}
	}
}

func TestKeepAliveDetectsSilentServer(t *testing.T) {
	fs := startFake(t)
	start := time.Now()
	c := dial(t, fs.addr, client.Options{ClientID: "dev", KeepAlive: time.Second})
	rc := fs.accept(t) // reads nothing more and never answers: a half-open link
	d := newDoneRecorder()
	if err := c.PublishAsync(context.Background(), &packet.Publish{QoS: 1, Topic: "t"}, d.done(0)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-time.After(wait):
		t.Fatal("connection to a silent server still up")
	}
	elapsed := time.Since(start)
	if err := c.Err(); !errors.Is(err, client.ErrKeepAliveTimeout) || !errors.Is(err, client.ErrConnectionLost) {
		t.Fatalf("Err() = %v", err)
	}
	if elapsed < 1500*time.Millisecond {
		t.Errorf("declared dead after %v, before 1.5 x keep-alive", elapsed)
	}
	d.check(t, 1)
	if !errors.Is(d.err(0), client.ErrKeepAliveTimeout) {
		t.Errorf("pending publish failed with %v", d.err(0))
	}
	// The client pinged before giving up.
	_ = rc.SetReadDeadline(time.Now().Add(wait))
	var types []packet.Type
	for {
		p, err := rc.r.ReadPacket()
		if err != nil {
			break
		}
		types = append(types, p.Type())
	}
	if !strings.Contains(fmt.Sprint(types), "PINGREQ") {
		t.Errorf("server received %v, no PINGREQ", types)
	}
}

func TestKeepAlivePingsKeepALiveLinkUp(t *testing.T) {
	fs := startFake(t)
	c := dial(t, fs.addr, client.Options{ClientID: "dev", KeepAlive: time.Second})
	rc := fs.accept(t)
	// Only QoS 0 from the client, so nothing but PINGRESP comes back: the client must
	// ping even though it is sending, and a live server keeps it up past 1.5 s.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				_ = c.PublishAsync(context.Background(), &packet.Publish{Topic: "t"}, nil)
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	pings := 0
	for pings < 3 {
		if rc.read(t).Type() == packet.PINGREQ {
			pings++
			rc.send(t, &packet.Pingresp{})
		}
	}
	if err := c.Err(); err != nil {
		t.Fatalf("live link declared dead: %v", err)
	}
}

func TestServerCloseFailsPendingInOrder(t *testing.T) {
	fs := startFake(t)
	c := dial(t, fs.addr, client.Options{ClientID: "dev", Window: 16})
	rc := fs.accept(t)
	d := newDoneRecorder()
	for i := range 10 {
		if err := c.PublishAsync(context.Background(), &packet.Publish{QoS: 1, Topic: "t"}, d.done(i)); err != nil {
			t.Fatal(err)
		}
	}
	var ids []uint16
	for len(ids) < 10 {
		ids = append(ids, rc.read(t).(*packet.Publish).PacketID)
	}
	rc.send(t, &packet.Puback{PacketID: ids[1]}) // out of order: held until 0 completes
	rc.send(t, &packet.Puback{PacketID: ids[0]})
	testutil.Eventually(t, wait, func() bool { return d.count() == 2 }, "two acknowledged publishes done")
	_ = rc.Close()
	<-c.Done()
	d.check(t, 10)
	for i := range 10 {
		err := d.err(i)
		if (i < 2) != (err == nil) || (i >= 2 && !errors.Is(err, client.ErrConnectionLost)) {
			t.Errorf("done %d: %v", i, err)
		}
	}
	if err := c.PublishAsync(context.Background(), &packet.Publish{Topic: "t"}, d.done(10)); !errors.Is(err, client.ErrConnectionLost) {
		t.Errorf("publish after the end: %v", err)
	}
}

func TestBrokerClosingConnectionFailsPending(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 100)
	b := startBroker(t, &app{publish: func(ctx context.Context, _ *broker.Publish) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
	}})
	defer close(release)
	c := dial(t, b.addr, client.Options{ClientID: "dev"})
	d := newDoneRecorder()
	for i := range 5 {
		if err := c.PublishAsync(context.Background(), &packet.Publish{QoS: 1, Topic: "t"}, d.done(i)); err != nil {
			t.Fatal(err)
		}
	}
	<-arrived
	b.Lookup("dev").Close(errors.New("test: kicked"))
	<-c.Done()
	d.check(t, 5)
	for i := range 5 {
		if !errors.Is(d.err(i), client.ErrConnectionLost) {
			t.Errorf("done %d: %v", i, d.err(i))
		}
	}
}

func TestWindowFullBlocksUntilAck(t *testing.T) {
	fs := startFake(t)
	c := dial(t, fs.addr, client.Options{ClientID: "dev", Window: 4})
	rc := fs.accept(t)
	d := newDoneRecorder()
	for i := range 4 {
		if err := c.PublishAsync(context.Background(), &packet.Publish{QoS: 1, Topic: "t"}, d.done(i)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := c.PublishAsync(ctx, &packet.Publish{QoS: 1, Topic: "t"}, d.done(99)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("publish into a full window: %v", err)
	}
	first := rc.read(t).(*packet.Publish)
	rc.send(t, &packet.Puback{PacketID: first.PacketID})
	if err := c.PublishAsync(context.Background(), &packet.Publish{QoS: 1, Topic: "t"}, d.done(4)); err != nil {
		t.Fatalf("publish after a slot freed: %v", err)
	}
	for range 3 {
		rc.send(t, &packet.Puback{PacketID: rc.read(t).(*packet.Publish).PacketID})
	}
	rc.send(t, &packet.Puback{PacketID: rc.read(t).(*packet.Publish).PacketID})
	testutil.Eventually(t, wait, func() bool { return d.count() == 5 }, "dones")
	d.check(t, 5) // and not 99
}

func TestProtocolViolationEndsConnection(t *testing.T) {
	for name, p := range map[string]packet.Packet{
		"unknown PUBACK": &packet.Puback{PacketID: 7},
		"SUBACK":         &packet.Suback{PacketID: 7, ReturnCodes: []byte{0}},
		"qos 2":          &packet.Publish{QoS: 2, Topic: "t", PacketID: 1},
		"PINGREQ":        &packet.Pingreq{},
		"second CONNACK": &packet.Connack{},
	} {
		t.Run(name, func(t *testing.T) {
			fs := startFake(t)
			c := dial(t, fs.addr, client.Options{ClientID: "dev"})
			fs.accept(t).send(t, p)
			<-c.Done()
			if err := c.Err(); !errors.Is(err, client.ErrProtocol) || !errors.Is(err, client.ErrConnectionLost) {
				t.Fatalf("Err() = %v", err)
			}
		})
	}
}

func TestDisconnectCompletesPendingAndDropsWill(t *testing.T) {
	b := startBroker(t, nil)
	c := dial(t, b.addr, client.Options{ClientID: "dev", Will: &packet.Will{Topic: "w", Message: []byte("x")}})
	d := newDoneRecorder()
	for i := range 100 {
		if err := c.PublishAsync(context.Background(), &packet.Publish{QoS: 1, Topic: "t"}, d.done(i)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.Disconnect(ctx); err != nil {
		t.Fatalf("disconnect: %v", err)
	}
	d.check(t, 100)
	for i := range 100 {
		if d.err(i) != nil {
			t.Fatalf("done %d: %v", i, d.err(i))
		}
	}
	if !errors.Is(c.Err(), client.ErrClosed) {
		t.Errorf("Err() = %v", c.Err())
	}
	testutil.Eventually(t, wait, func() bool { return len(b.app.offline()) == 1 }, "offline at the broker")
	if off := b.app.offline()[0]; off.err != nil || off.will != nil {
		t.Fatalf("broker saw %+v, want a clean DISCONNECT without will", off)
	}
}

func TestCloseLeavesTheWill(t *testing.T) {
	b := startBroker(t, nil)
	c := dial(t, b.addr, client.Options{ClientID: "dev", Will: &packet.Will{Topic: "w", Message: []byte("x")}})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, wait, func() bool { return len(b.app.offline()) == 1 }, "offline at the broker")
	if off := b.app.offline()[0]; off.will == nil || off.will.Topic != "w" {
		t.Fatalf("broker saw %+v, want the will", off)
	}
}

func TestConnectHonoursContext(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	// The listener's backlog completes the TCP handshake; nobody ever answers CONNECT.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := client.Dial(ctx, nil, l.Addr().String(), nil, client.Options{ClientID: "dev"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dial of a mute server: %v", err)
	}
}

func TestTLS_Broker(t *testing.T) {
	b := startBroker(t, nil)
	ca := testutil.TempCA(t)
	cert, err := ca.IssueServer([]string{"127.0.0.1"}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = b.Serve(l) }() // ends with the broker's Close
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := client.Dial(ctx, nil, l.Addr().String(), &tls.Config{RootCAs: x509.NewCertPool()}, client.Options{ClientID: "x"}); err == nil {
		t.Fatal("TLS dial accepted an unknown CA")
	}
	c, err := client.Dial(ctx, nil, l.Addr().String(), &tls.Config{RootCAs: roots}, client.Options{ClientID: "dev"})
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	defer func() { _ = c.Close() }()
	publishMany(t, c, "t", 100, client.DefaultWindow)
}

func TestWebSocket_Broker(t *testing.T) {
	b := startBroker(t, nil)
	hs := httptest.NewServer(b.WebSocketHandler())
	defer hs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := client.DialWebSocket(ctx, "ws"+strings.TrimPrefix(hs.URL, "http"), nil, client.Options{ClientID: "dev"})
	if err != nil {
		t.Fatalf("websocket dial: %v", err)
	}
	defer func() { _ = c.Close() }()
	publishMany(t, c, "t", 100, client.DefaultWindow)
}

func TestReconnectIsANewClient(t *testing.T) {
	b := startBroker(t, nil)
	opts := client.Options{ClientID: "dev"}
	first := dial(t, b.addr, opts)
	second := dial(t, b.addr, opts) // the broker drops the first (one connection per client id)
	<-first.Done()
	if !errors.Is(first.Err(), client.ErrConnectionLost) {
		t.Fatalf("first client: %v", first.Err())
	}
	publishMany(t, second, "t", 10, client.DefaultWindow)
}

// A server may close the connection as soon as it reads DISCONNECT
// [MQTT-3.14.4-1]; that is still a clean Disconnect.
func TestDisconnectWhenServerClosesAtOnce(t *testing.T) {
	for range 20 {
		fs := startFake(t)
		c := dial(t, fs.addr, client.Options{ClientID: "dev"})
		rc := fs.accept(t)
		closed := make(chan struct{})
		go func() { // ends with the connection: reads until DISCONNECT or an error
			defer close(closed)
			for {
				p, err := rc.r.ReadPacket()
				if err != nil || p.Type() == packet.DISCONNECT {
					_ = rc.Close()
					return
				}
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		err := c.Disconnect(ctx)
		cancel()
		<-closed
		if err != nil || !errors.Is(c.Err(), client.ErrClosed) {
			t.Fatalf("Disconnect() = %v, Err() = %v; want nil, ErrClosed", err, c.Err())
		}
	}
}
