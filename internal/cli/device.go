package cli

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/outpost-iot/outpost/internal/hubclient"
	"github.com/outpost-iot/outpost/internal/iothub"
)

func newDeviceCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "device", Short: "Manage device identities", RunE: needSubcommand}
	cf := addConnFlags(e, cmd)
	cmd.AddCommand(newDeviceCreateCmd(e, cf), newDeviceListCmd(e, cf), newDeviceShowCmd(e, cf),
		newDeviceDeleteCmd(e, cf), newDeviceUpdateCmd(e, cf), newDeviceConnStrCmd(e, cf))
	return cmd
}

// authFlags are the credential flags of `device create` and `module create`.
type authFlags struct {
	thumbprint   string
	ca           bool
	primary, sec string
}

func (a *authFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&a.thumbprint, "x509-thumbprint", "", "self-signed X.509 authentication: PRIMARY[,SECONDARY] certificate thumbprints")
	f.BoolVar(&a.ca, "x509-ca", false, "CA-signed X.509 authentication")
	f.StringVar(&a.primary, "primary-key", "", "primary SAS key, base64 (default: generated)")
	f.StringVar(&a.sec, "secondary-key", "", "secondary SAS key, base64 (default: generated)")
}

// build returns the authentication object; SAS keys not given are generated.
func (a *authFlags) build() (*hubclient.Authentication, error) {
	keys := a.primary != "" || a.sec != ""
	if (a.thumbprint != "" && a.ca) || (keys && (a.thumbprint != "" || a.ca)) {
		return nil, usagef("give only one of --x509-thumbprint, --x509-ca and --primary-key/--secondary-key")
	}
	switch {
	case a.ca:
		return &hubclient.Authentication{Type: iothub.AuthCertificateAuthority}, nil
	case a.thumbprint != "":
		p, s, _ := strings.Cut(a.thumbprint, ",")
		if p = strings.TrimSpace(p); p == "" {
			return nil, usagef("--x509-thumbprint: primary thumbprint is empty")
		}
		return &hubclient.Authentication{Type: iothub.AuthSelfSigned,
			X509Thumbprint: &hubclient.X509Thumbprint{PrimaryThumbprint: p, SecondaryThumbprint: strings.TrimSpace(s)}}, nil
	}
	p, err := keyOrNew("--primary-key", a.primary)
	if err != nil {
		return nil, err
	}
	s, err := keyOrNew("--secondary-key", a.sec)
	if err != nil {
		return nil, err
	}
	return &hubclient.Authentication{Type: iothub.AuthSAS, SymmetricKey: &iothub.SymmetricKey{PrimaryKey: p, SecondaryKey: s}}, nil
}

// keyOrNew validates a base64 key (16 to 64 bytes, IoT Hub's bounds) or generates a 32-byte one.
func keyOrNew(flag, k string) (string, error) {
	if k == "" {
		return newKey(), nil
	}
	raw, err := base64.StdEncoding.DecodeString(k)
	if err != nil || len(raw) < 16 || len(raw) > 64 {
		return "", usagef("%s: want a base64 key of 16 to 64 bytes", flag)
	}
	return k, nil
}

func newKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.StdEncoding.EncodeToString(b)
}

// printConnString prints the connection string of a device or module (moduleID "" for a device).
func printConnString(w io.Writer, host, deviceID, moduleID string, auth *hubclient.Authentication, secondary bool) error {
	cs := iothub.ConnectionString{HostName: host, DeviceID: deviceID, ModuleID: moduleID}
	switch {
	case auth == nil || auth.Type == iothub.AuthNone:
		return fmt.Errorf("%s has no credentials", identityName(deviceID, moduleID))
	case auth.Type == iothub.AuthSelfSigned || auth.Type == iothub.AuthCertificateAuthority:
		cs.X509 = true
	case auth.SymmetricKey == nil:
		return fmt.Errorf("%s has no symmetric key", identityName(deviceID, moduleID))
	case secondary:
		cs.SharedAccessKey = auth.SymmetricKey.SecondaryKey
	default:
		cs.SharedAccessKey = auth.SymmetricKey.PrimaryKey
	}
	_, err := fmt.Fprintln(w, cs)
	return err
}

func identityName(deviceID, moduleID string) string {
	if moduleID == "" {
		return "device " + deviceID
	}
	return "module " + deviceID + "/" + moduleID
}

func newDeviceCreateCmd(e *env, cf *connFlags) *cobra.Command {
	var (
		auth           authFlags
		edge, disabled bool
		parent         string
	)
	cmd := &cobra.Command{
		Use:   "create ID",
		Short: "Create a device identity and print its connection string",
		Args:  exactArgs("ID"),
		RunE: func(c *cobra.Command, args []string) error {
			a, err := auth.build()
			if err != nil {
				return err
			}
			client, err := cf.client()
			if err != nil {
				return err
			}
			d := &hubclient.Device{DeviceID: args[0], Status: "enabled", Authentication: a, Capabilities: &iothub.Capabilities{IoTEdge: edge}}
			if disabled {
				d.Status = "disabled"
			}
			if parent != "" {
				p, err := client.GetDevice(c.Context(), parent)
				if err != nil {
					return fmt.Errorf("parent: %w", err)
				}
				if !p.IsEdge() || p.DeviceScope == "" {
					return fmt.Errorf("parent %s is not an IoT Edge device", parent)
				}
				d.ParentScopes = []string{p.DeviceScope}
				if !edge {
					d.DeviceScope = p.DeviceScope
				}
			}
			created, err := client.CreateDevice(c.Context(), d)
			if err != nil {
				return err
			}
			// The hub's answer normally repeats the credentials; else print the ones sent.
			return printConnString(e.stdout, client.HostName(), created.DeviceID, "", cmp.Or(created.Authentication, a), false)
		},
	}
	auth.register(cmd)
	f := cmd.Flags()
	f.BoolVar(&edge, "edge", false, "an IoT Edge device")
	f.StringVar(&parent, "parent", "", "parent IoT Edge device id (sets the device scope)")
	f.BoolVar(&disabled, "disabled", false, "create the device disabled")
	return cmd
}

func newDeviceListCmd(e *env, cf *connFlags) *cobra.Command {
	var (
		asJSON bool
		top    int
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List device identities",
		Args:  exactArgs(),
		RunE: func(c *cobra.Command, _ []string) error {
			client, err := cf.client()
			if err != nil {
				return err
			}
			devs, err := client.ListDevices(c.Context(), top)
			if err != nil {
				return err
			}
			return printList(e.stdout, devs, asJSON, printDeviceTable)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().IntVar(&top, "top", 0, "list at most this many devices (0: the hub's default)")
	return cmd
}

func printDeviceTable(w io.Writer, devs []hubclient.Device) error {
	t := newTable(w, "DEVICE ID", "STATUS", "CONNECTION", "AUTH", "EDGE", "C2D", "LAST ACTIVITY")
	for _, d := range devs {
		t.row(d.DeviceID, d.Status, d.ConnectionState, authType(d.Authentication), yesNo(d.IsEdge()),
			strconv.Itoa(d.CloudToDeviceMessageCount), when(d.LastActivityTime))
	}
	return t.flush()
}

func authType(a *hubclient.Authentication) string {
	if a == nil {
		return ""
	}
	return a.Type
}

func newDeviceShowCmd(e *env, cf *connFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show a device identity (keys only with --json)",
		Args:  exactArgs("ID"),
		RunE: func(c *cobra.Command, args []string) error {
			client, err := cf.client()
			if err != nil {
				return err
			}
			d, err := client.GetDevice(c.Context(), args[0])
			if err != nil {
				return err
			}
			return showDevice(e.stdout, d, asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (includes keys)")
	return cmd
}

func showDevice(w io.Writer, d *hubclient.Device, asJSON bool) error {
	if asJSON {
		return printJSON(w, d)
	}
	f := newFields(w)
	f.add("Device ID", d.DeviceID)
	f.add("Status", d.Status)
	f.add("Status reason", d.StatusReason)
	f.add("Connection", d.ConnectionState)
	f.add("Authentication", authType(d.Authentication))
	if a := d.Authentication; a != nil && a.Type == iothub.AuthSelfSigned && a.X509Thumbprint != nil {
		f.add("Primary thumbprint", a.X509Thumbprint.PrimaryThumbprint)
		f.add("Secondary thumbprint", a.X509Thumbprint.SecondaryThumbprint)
	}
	f.add("IoT Edge", yesNo(d.IsEdge()))
	f.add("Device scope", d.DeviceScope)
	f.add("Parent scopes", strings.Join(d.ParentScopes, ", "))
	f.add("C2D messages", strconv.Itoa(d.CloudToDeviceMessageCount))
	f.add("Last activity", when(d.LastActivityTime))
	f.add("Generation ID", d.GenerationID)
	f.add("ETag", d.ETag)
	return f.flush()
}

func newDeviceDeleteCmd(e *env, cf *connFlags) *cobra.Command {
	var etag string
	cmd := &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a device identity",
		Args:  exactArgs("ID"),
		RunE: func(c *cobra.Command, args []string) error {
			client, err := cf.client()
			if err != nil {
				return err
			}
			return client.DeleteDevice(c.Context(), args[0], etag)
		},
	}
	cmd.Flags().StringVar(&etag, "etag", "", "delete only if the device's etag matches")
	return cmd
}

func newDeviceUpdateCmd(e *env, cf *connFlags) *cobra.Command {
	var (
		status, reason string
		rotate, asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "update ID",
		Short: "Enable or disable a device, or rotate its SAS keys",
		Args:  exactArgs("ID"),
		RunE: func(c *cobra.Command, args []string) error {
			if status == "" && !rotate {
				return usagef("device update: give --status enabled|disabled or --rotate-keys")
			}
			if status != "" && status != "enabled" && status != "disabled" {
				return usagef("--status %q: want enabled or disabled", status)
			}
			client, err := cf.client()
			if err != nil {
				return err
			}
			d, err := client.GetDevice(c.Context(), args[0])
			if err != nil {
				return err
			}
			if status != "" {
				d.Status, d.StatusReason = status, reason
			}
			if rotate {
				if d.Authentication == nil || d.Authentication.Type != iothub.AuthSAS {
					return fmt.Errorf("device %s does not use SAS keys", d.DeviceID)
				}
				d.Authentication.SymmetricKey = &iothub.SymmetricKey{PrimaryKey: newKey(), SecondaryKey: newKey()}
			}
			updated, err := client.UpdateDevice(c.Context(), d)
			if err != nil {
				return err
			}
			return showDevice(e.stdout, updated, asJSON)
		},
	}
	f := cmd.Flags()
	f.StringVar(&status, "status", "", "enabled or disabled")
	f.StringVar(&reason, "status-reason", "", "reason recorded with --status")
	f.BoolVar(&rotate, "rotate-keys", false, "replace both SAS keys with new random keys")
	f.BoolVar(&asJSON, "json", false, "print the updated device as JSON")
	return cmd
}

func newDeviceConnStrCmd(e *env, cf *connFlags) *cobra.Command {
	var (
		module string
		key    string
	)
	cmd := &cobra.Command{
		Use:   "connection-string ID",
		Short: "Print a device's (or module's) connection string",
		Args:  exactArgs("ID"),
		RunE: func(c *cobra.Command, args []string) error {
			if key != "primary" && key != "secondary" {
				return usagef("--key %q: want primary or secondary", key)
			}
			client, err := cf.client()
			if err != nil {
				return err
			}
			auth, err := identityAuth(c.Context(), client, args[0], module)
			if err != nil {
				return err
			}
			return printConnString(e.stdout, client.HostName(), args[0], module, auth, key == "secondary")
		},
	}
	cmd.Flags().StringVar(&module, "module", "", "module id")
	cmd.Flags().StringVar(&key, "key", "primary", "which SAS key: primary or secondary")
	return cmd
}

// identityAuth reads the credentials of a device, or of its module when moduleID is not "".
func identityAuth(ctx context.Context, client *hubclient.Client, deviceID, moduleID string) (*hubclient.Authentication, error) {
	if moduleID != "" {
		m, err := client.GetModule(ctx, deviceID, moduleID)
		if err != nil {
			return nil, err
		}
		return m.Authentication, nil
	}
	d, err := client.GetDevice(ctx, deviceID)
	if err != nil {
		return nil, err
	}
	return d.Authentication, nil
}
