package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/outpost-iot/outpost/internal/hubclient"
	"github.com/outpost-iot/outpost/internal/iothub"
	"github.com/outpost-iot/outpost/internal/message"
)

// monitorLine is one line of `outpost monitor` output, shaped like `az iot hub monitor-events`:
//
//	{"event":{"origin":"dev1","module":"","payload":{"temp":21}}}
//
// With --properties it adds "annotations" ({"x-opt-sequence-number":N,"x-opt-enqueued-time":"RFC3339"})
// and "properties" ({"system":{...},"application":{...}}). The payload is the body as JSON when it
// parses as JSON, else a string; a body that is not UTF-8 is printed base64-encoded with
// "payloadEncoding":"base64".
type monitorLine struct {
	Event monitorEvent `json:"event"`
}

type monitorEvent struct {
	Origin          string          `json:"origin"`
	Module          string          `json:"module"`
	Interface       string          `json:"interface,omitempty"`
	Component       string          `json:"component,omitempty"`
	Payload         json.RawMessage `json:"payload"`
	PayloadEncoding string          `json:"payloadEncoding,omitempty"`
	Annotations     map[string]any  `json:"annotations,omitempty"`
	Properties      *monitorProps   `json:"properties,omitempty"`
}

type monitorProps struct {
	System      map[string]string `json:"system"`
	Application map[string]string `json:"application"`
}

func newMonitorCmd(e *env) *cobra.Command {
	var (
		device, module, from string
		timeout              time.Duration
		props                bool
	)
	cmd := &cobra.Command{
		Use:   "monitor",
		Short: "Print device-to-cloud events as they arrive, one JSON object per line",
		Long: `Tail the cloud's event stream like 'az iot hub monitor-events': one JSON object per event
on stdout, {"event":{"origin":DEVICE,"module":MODULE,"payload":BODY}}, plus "annotations" and
"properties" ({"system":{..},"application":{..}}) with --properties. Runs until interrupted or
--timeout; the stream reconnects by itself and resumes after the last printed event.

--from: "end" (default, only new events), "start" (every retained event) or a sequence number.`,
		Args: exactArgs(),
	}
	cf := addConnFlags(e, cmd)
	cmd.RunE = func(c *cobra.Command, _ []string) error {
		if module != "" && device == "" {
			return usagef("--module needs --device")
		}
		if timeout < 0 {
			return usagef("--timeout must not be negative")
		}
		client, err := cf.client()
		if err != nil {
			return err
		}
		ctx := c.Context()
		if timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		fmt.Fprintf(e.stderr, "Monitoring events on %s (ctrl-c to stop)...\n", client.HostName())
		err = client.StreamEvents(ctx, hubclient.EventFilter{DeviceID: device, ModuleID: module}, from, func(ev iothub.Event) error {
			b, err := json.Marshal(monitorLineOf(ev, props))
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(e.stdout, "%s\n", b)
			return err
		})
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return nil // interrupted or --timeout: the normal end of a monitor
		}
		return err
	}
	f := cmd.Flags()
	f.StringVar(&device, "device", "", "only events of this device")
	f.StringVar(&module, "module", "", "only events of this module (needs --device)")
	f.StringVar(&from, "from", "end", "where to start: end, start or a sequence number")
	f.DurationVar(&timeout, "timeout", 0, "stop after this long (0: until interrupted)")
	f.BoolVar(&props, "properties", false, "include system and application properties and annotations")
	return cmd
}

func monitorLineOf(ev iothub.Event, props bool) monitorLine {
	m := monitorEvent{
		Origin:    ev.DeviceID,
		Module:    ev.ModuleID,
		Interface: ev.SystemProperties[iothub.EventPropertyName(message.InterfaceID)],
		Component: ev.SystemProperties[iothub.EventPropertyName(message.ComponentName)],
		Payload:   ev.Body,
	}
	if ev.BodyBase64 != "" {
		m.Payload, _ = json.Marshal(ev.BodyBase64)
		m.PayloadEncoding = "base64"
	}
	if m.Payload == nil {
		m.Payload = json.RawMessage(`""`)
	}
	if props {
		m.Annotations = map[string]any{"x-opt-sequence-number": ev.SequenceNumber, "x-opt-enqueued-time": ev.EnqueuedTime}
		m.Properties = &monitorProps{System: nonNil(ev.SystemProperties), Application: nonNil(ev.Properties)}
	}
	return monitorLine{Event: m}
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
