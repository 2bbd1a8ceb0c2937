package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/outpost-iot/outpost/internal/hubclient"
	"github.com/outpost-iot/outpost/internal/iothub"
)

func newC2DCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "c2d", Short: "Send and inspect cloud-to-device messages", RunE: needSubcommand}
	cf := addConnFlags(e, cmd)
	cmd.AddCommand(newC2DSendCmd(e, cf), newC2DListCmd(e, cf))
	return cmd
}

func newC2DSendCmd(e *env, cf *connFlags) *cobra.Command {
	var (
		props  []string
		msg    hubclient.C2DMessage
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "send ID BODY",
		Short: `Queue a cloud-to-device message and print its message id (BODY "-" reads stdin)`,
		Args:  exactArgs("ID", "BODY"),
		RunE: func(c *cobra.Command, args []string) error {
			switch msg.Ack {
			case "", "none", "positive", "negative", "full":
			default:
				return usagef("--ack %q: want none, positive, negative or full", msg.Ack)
			}
			if msg.TTL < 0 {
				return usagef("--ttl must not be negative")
			}
			var err error
			if msg.Properties, err = parseProperties(props); err != nil {
				return err
			}
			msg.Body = []byte(args[1])
			if args[1] == "-" {
				if msg.Body, err = readInput(e.stdin, "-"); err != nil {
					return err
				}
			}
			client, err := cf.client()
			if err != nil {
				return err
			}
			res, err := client.SendC2D(c.Context(), args[0], msg)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(e.stdout, res)
			}
			_, err = fmt.Fprintln(e.stdout, res.MessageID)
			return err
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&props, "property", nil, "application property k=v (repeatable)")
	f.StringVar(&msg.MessageID, "message-id", "", "message id (default: assigned by the hub)")
	f.StringVar(&msg.CorrelationID, "correlation-id", "", "correlation id")
	f.DurationVar(&msg.TTL, "ttl", 0, "time to live (default: the hub's, 1h)")
	f.StringVar(&msg.Ack, "ack", "", "feedback: none, positive, negative or full")
	f.StringVar(&msg.ContentType, "content-type", "", "content type, e.g. application/json")
	f.StringVar(&msg.ContentEncoding, "content-encoding", "", "content encoding, e.g. utf-8")
	f.BoolVar(&asJSON, "json", false, `print {"messageId","expiryTime"}`)
	return cmd
}

// parseProperties turns k=v flags into a map; a key may not repeat.
func parseProperties(kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usagef("--property %q: want key=value", kv)
		}
		if _, dup := out[k]; dup {
			return nil, usagef("--property %q given twice", k)
		}
		out[k] = v
	}
	return out, nil
}

func newC2DListCmd(e *env, cf *connFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list ID",
		Short: "List the messages queued for a device",
		Args:  exactArgs("ID"),
		RunE: func(c *cobra.Command, args []string) error {
			client, err := cf.client()
			if err != nil {
				return err
			}
			msgs, err := client.ListC2D(c.Context(), args[0])
			if err != nil {
				return err
			}
			return printList(e.stdout, msgs, asJSON, printC2DTable)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printC2DTable(w io.Writer, msgs []iothub.C2DEntry) error {
	t := newTable(w, "MESSAGE ID", "STATE", "DELIVERIES", "ENQUEUED", "EXPIRES")
	for _, m := range msgs {
		t.row(m.MessageID, m.State, strconv.Itoa(m.DeliveryCount), m.EnqueuedTime.Format(time.RFC3339Nano), m.ExpiryTime.Format(time.RFC3339Nano))
	}
	return t.flush()
}
