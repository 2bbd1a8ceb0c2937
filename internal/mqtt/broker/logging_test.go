package broker

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/mqtt/packet"
	"github.com/outpost-iot/outpost/internal/testutil"
)

func TestLogLimiter_RateAndSuppressedCount(t *testing.T) {
	l := newLogLimiter(slog.New(slog.DiscardHandler), 1, 2)
	now := time.Unix(1000, 0)
	for i, want := range []bool{true, true, false, false} {
		if ok, _ := l.allow(now); ok != want {
			t.Fatalf("call %d: allow = %v", i, ok)
		}
	}
	ok, suppressed := l.allow(now.Add(1500 * time.Millisecond))
	if !ok || suppressed != 2 {
		t.Fatalf("after refill: ok=%v suppressed=%d, want true 2", ok, suppressed)
	}
}

// TestLogs_NoSecretsOrPayloads: debug logs of a refused and an accepted connection
// and of a publish never contain the password or the payload.
func TestLogs_NoSecretsOrPayloads(t *testing.T) {
	var out testutil.Buffer
	log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ts := startServer(t, Config{Logger: log})
	ts.rec.publish = func(context.Context, *Publish) error { return errors.New("refused") }
	ts.rec.refuse = func(req *ConnectRequest) error {
		if req.ClientID == "bad" {
			return &ConnectError{Code: CodeBadCredentials, Reason: "bad signature"}
		}
		return nil
	}
	for _, id := range []string{"bad", "good"} {
		cp := connectPacket(id, true, 0)
		cp.HasUsername, cp.Username, cp.HasPassword, cp.Password = true, "u", true, []byte("SharedAccessSignature sig=TOPSECRET")
		c, _ := connect(t, ts.addr, cp)
		if id == "good" {
			c.send(&packet.Publish{Topic: "t", Payload: []byte("PAYLOADBYTES")})
		}
		c.expectClosed(5 * time.Second)
	}
	waitFor(t, 5*time.Second, "close logs", func() bool { return strings.Count(out.String(), "mqtt connection closed") == 2 })
	if s := out.String(); strings.Contains(s, "TOPSECRET") || strings.Contains(s, "PAYLOADBYTES") {
		t.Fatalf("logs leak a secret or payload:\n%s", s)
	}
}

// TestLogs_NoisyClientKeepsToItsBudget: a client whose QoS 0 deliveries are dropped
// without end logs within its own budget, so another client's log still gets through
// the server's (each connection has its limiter, within the server's).
func TestLogs_NoisyClientKeepsToItsBudget(t *testing.T) {
	var out testutil.Buffer
	log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ts := startServer(t, Config{Logger: log, OutboundQueue: 1, MaxSubscriptions: 1})
	mustConnect(t, ts, "noisy") // never reads
	quiet := mustConnect(t, ts, "quiet")
	noisy := ts.Lookup("noisy")
	stop := make(chan struct{})
	flooding := make(chan struct{})
	go func() { // drops QoS 0 publishes, each logged at debug, until the test ends
		defer close(flooding)
		payload := make([]byte, 64<<10)
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = noisy.Publish(context.Background(), "t", payload, 0)
		}
	}()
	defer func() { close(stop); <-flooding }()
	waitFor(t, 10*time.Second, "drops", func() bool { return ts.metrics.dropped.Load() > 500 })
	quiet.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a"}, {Filter: "b"}}})
	if _, ok := quiet.read().(*packet.Suback); !ok {
		t.Fatal("expected SUBACK")
	}
	// The limit is logged before SUBACK is queued: it is in the log now or never.
	if !strings.Contains(out.String(), `msg="mqtt subscription limit reached" component=mqtt client_id=quiet`) {
		t.Fatalf("the quiet client's log was suppressed by the noisy one's; log:\n%.2000s", out.String())
	}
}
