package cli

import (
	"cmp"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/outpost-iot/outpost/internal/hubclient"
)

func newModuleCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "module", Short: "Manage module identities", RunE: needSubcommand}
	cf := addConnFlags(e, cmd)
	cmd.AddCommand(newModuleCreateCmd(e, cf), newModuleListCmd(e, cf), newModuleShowCmd(e, cf), newModuleDeleteCmd(e, cf))
	return cmd
}

func newModuleCreateCmd(e *env, cf *connFlags) *cobra.Command {
	var (
		auth      authFlags
		managedBy string
	)
	cmd := &cobra.Command{
		Use:   "create DEVICE MODULE",
		Short: "Create a module identity and print its connection string",
		Args:  exactArgs("DEVICE", "MODULE"),
		RunE: func(c *cobra.Command, args []string) error {
			a, err := auth.build()
			if err != nil {
				return err
			}
			client, err := cf.client()
			if err != nil {
				return err
			}
			m, err := client.CreateModule(c.Context(), &hubclient.Module{DeviceID: args[0], ModuleID: args[1], ManagedBy: managedBy, Authentication: a})
			if err != nil {
				return err
			}
			return printConnString(e.stdout, client.HostName(), args[0], args[1], cmp.Or(m.Authentication, a), false)
		},
	}
	auth.register(cmd)
	cmd.Flags().StringVar(&managedBy, "managed-by", "", "managedBy value (e.g. IotEdge)")
	return cmd
}

func newModuleListCmd(e *env, cf *connFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list DEVICE",
		Short: "List a device's module identities",
		Args:  exactArgs("DEVICE"),
		RunE: func(c *cobra.Command, args []string) error {
			client, err := cf.client()
			if err != nil {
				return err
			}
			mods, err := client.ListModules(c.Context(), args[0])
			if err != nil {
				return err
			}
			return printList(e.stdout, mods, asJSON, printModuleTable)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printModuleTable(w io.Writer, mods []hubclient.Module) error {
	t := newTable(w, "MODULE ID", "CONNECTION", "AUTH", "MANAGED BY", "C2D", "LAST ACTIVITY")
	for _, m := range mods {
		t.row(m.ModuleID, m.ConnectionState, authType(m.Authentication), m.ManagedBy,
			strconv.Itoa(m.CloudToDeviceMessageCount), when(m.LastActivityTime))
	}
	return t.flush()
}

func newModuleShowCmd(e *env, cf *connFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show DEVICE MODULE",
		Short: "Show a module identity (keys only with --json)",
		Args:  exactArgs("DEVICE", "MODULE"),
		RunE: func(c *cobra.Command, args []string) error {
			client, err := cf.client()
			if err != nil {
				return err
			}
			m, err := client.GetModule(c.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(e.stdout, m)
			}
			f := newFields(e.stdout)
			f.add("Device ID", m.DeviceID)
			f.add("Module ID", m.ModuleID)
			f.add("Connection", m.ConnectionState)
			f.add("Authentication", authType(m.Authentication))
			f.add("Managed by", m.ManagedBy)
			f.add("C2D messages", strconv.Itoa(m.CloudToDeviceMessageCount))
			f.add("Last activity", when(m.LastActivityTime))
			f.add("Generation ID", m.GenerationID)
			f.add("ETag", m.ETag)
			return f.flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (includes keys)")
	return cmd
}

func newModuleDeleteCmd(e *env, cf *connFlags) *cobra.Command {
	var etag string
	cmd := &cobra.Command{
		Use:   "delete DEVICE MODULE",
		Short: "Delete a module identity",
		Args:  exactArgs("DEVICE", "MODULE"),
		RunE: func(c *cobra.Command, args []string) error {
			client, err := cf.client()
			if err != nil {
				return err
			}
			return client.DeleteModule(c.Context(), args[0], args[1], etag)
		},
	}
	cmd.Flags().StringVar(&etag, "etag", "", "delete only if the module's etag matches")
	return cmd
}
