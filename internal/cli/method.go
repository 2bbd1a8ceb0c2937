package cli

import (
	"encoding/json"
	"time"

	"github.com/spf13/cobra"

	"github.com/outpost-iot/outpost/internal/iothub"
)

// Direct-method timeout bounds (IoT Hub's: response 5..300 s, connect 0..300 s).
const (
	minMethodTimeout = 5 * time.Second
	maxMethodTimeout = 300 * time.Second
)

func newMethodCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "method", Short: "Invoke direct methods", RunE: needSubcommand}
	cf := addConnFlags(e, cmd)
	cmd.AddCommand(newMethodInvokeCmd(e, cf))
	return cmd
}

func newMethodInvokeCmd(e *env, cf *connFlags) *cobra.Command {
	var (
		module, payload         string
		timeout, connectTimeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "invoke ID NAME",
		Short: "Invoke a direct method and print the device's answer",
		Long: `Invoke a direct method on a device (or a module with --module) and print
{"status":N,"payload":...}. The exit code is 0 whenever the device answered, whatever its
status; it is 1 when the hub could not deliver the call (device not online, timeout).`,
		Args: exactArgs("ID", "NAME"),
		RunE: func(c *cobra.Command, args []string) error {
			if !json.Valid([]byte(payload)) {
				return usagef("--payload: not valid JSON (quote strings: '\"text\"')")
			}
			if timeout < minMethodTimeout || timeout > maxMethodTimeout {
				return usagef("--timeout %s: want 5s to 300s", timeout)
			}
			if connectTimeout < 0 || connectTimeout > maxMethodTimeout {
				return usagef("--connect-timeout %s: want 0s to 300s", connectTimeout)
			}
			client, err := cf.client()
			if err != nil {
				return err
			}
			res, err := client.InvokeMethod(c.Context(), args[0], module, iothub.MethodRequest{
				MethodName: args[1], Payload: json.RawMessage(payload),
				ResponseTimeoutInSeconds: seconds(timeout), ConnectTimeoutInSeconds: seconds(connectTimeout),
			})
			if err != nil {
				return err
			}
			if res.Payload == nil {
				res.Payload = json.RawMessage("null")
			}
			return printJSON(e.stdout, res)
		},
	}
	f := cmd.Flags()
	f.StringVar(&module, "module", "", "module id")
	f.StringVar(&payload, "payload", "null", "method payload (JSON)")
	f.DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait for the device's answer")
	f.DurationVar(&connectTimeout, "connect-timeout", 0, "how long to wait for the device to connect")
	return cmd
}

// seconds rounds d up to whole seconds.
func seconds(d time.Duration) *int {
	n := int((d + time.Second - 1) / time.Second)
	return &n
}
