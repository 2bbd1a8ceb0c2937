package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/outpost-iot/outpost/internal/hubclient"
)

func newTwinCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "twin", Short: "Read and update device and module twins", RunE: needSubcommand}
	cf := addConnFlags(e, cmd)
	cmd.AddCommand(newTwinShowCmd(e, cf), newTwinUpdateCmd(e, cf))
	return cmd
}

func newTwinShowCmd(e *env, cf *connFlags) *cobra.Command {
	var (
		module string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show a device twin (or a module twin with --module)",
		Args:  exactArgs("ID"),
		RunE: func(c *cobra.Command, args []string) error {
			client, err := cf.client()
			if err != nil {
				return err
			}
			t, err := client.GetTwin(c.Context(), args[0], module)
			if err != nil {
				return err
			}
			return showTwin(e.stdout, t, asJSON)
		},
	}
	cmd.Flags().StringVar(&module, "module", "", "module id")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func showTwin(w io.Writer, t *hubclient.Twin, asJSON bool) error {
	if asJSON {
		return printJSON(w, t)
	}
	f := newFields(w)
	f.add("Device ID", t.DeviceID)
	if t.ModuleID != "" {
		f.add("Module ID", t.ModuleID)
	}
	f.add("ETag", t.ETag)
	f.add("Version", strconv.FormatInt(t.Version, 10))
	f.add("Status", t.Status)
	f.add("Connection", t.ConnectionState)
	desired, dv := withoutMeta(t.Properties.Desired)
	reported, rv := withoutMeta(t.Properties.Reported)
	f.add("Desired version", dv)
	f.add("Reported version", rv)
	if err := f.flush(); err != nil {
		return err
	}
	if err := jsonBlock(w, "Tags", t.Tags); err != nil {
		return err
	}
	if err := jsonBlock(w, "Desired properties", desired); err != nil {
		return err
	}
	return jsonBlock(w, "Reported properties", reported)
}

// withoutMeta drops "$metadata" and "$version" from a property set (human output) and returns
// the version as text.
func withoutMeta(props map[string]any) (map[string]any, string) {
	out := make(map[string]any, len(props))
	version := ""
	for k, v := range props {
		switch k {
		case "$metadata":
		case "$version":
			version = fmt.Sprint(v)
		default:
			out[k] = v
		}
	}
	return out, version
}

func newTwinUpdateCmd(e *env, cf *connFlags) *cobra.Command {
	var (
		module, desired, tags, file, etag string
		asJSON                            bool
	)
	cmd := &cobra.Command{
		Use:   "update ID",
		Short: "Patch a twin's desired properties and tags",
		Long: `Patch a twin's desired properties and tags (JSON merge patch: null deletes).

--desired and --tags take JSON objects and may be combined; --file takes a whole patch
{"tags":{...},"properties":{"desired":{...}}} ("-" reads standard input).`,
		Args: exactArgs("ID"),
		RunE: func(c *cobra.Command, args []string) error {
			patch, err := twinPatch(e.stdin, desired, tags, file)
			if err != nil {
				return err
			}
			client, err := cf.client()
			if err != nil {
				return err
			}
			t, err := client.PatchTwin(c.Context(), args[0], module, patch, etag)
			if err != nil {
				return err
			}
			return showTwin(e.stdout, t, asJSON)
		},
	}
	f := cmd.Flags()
	f.StringVar(&module, "module", "", "module id")
	f.StringVar(&desired, "desired", "", "desired properties patch (JSON object)")
	f.StringVar(&tags, "tags", "", "tags patch (JSON object)")
	f.StringVar(&file, "file", "", `file holding the whole patch {"tags":..,"properties":{"desired":..}}; "-" for stdin`)
	f.StringVar(&etag, "etag", "", "patch only if the twin's etag matches")
	f.BoolVar(&asJSON, "json", false, "print the updated twin as JSON")
	return cmd
}

// twinPatch builds the PATCH body from the flags of `twin update`.
func twinPatch(stdin io.Reader, desired, tags, file string) (json.RawMessage, error) {
	if file != "" {
		if desired != "" || tags != "" {
			return nil, usagef("--file cannot be combined with --desired or --tags")
		}
		data, err := readInput(stdin, file)
		if err != nil {
			return nil, err
		}
		var doc struct {
			Tags       map[string]any `json:"tags"`
			Properties *struct {
				Desired map[string]any `json:"desired"`
			} `json:"properties"`
		}
		if err := json.Unmarshal(data, &doc); err != nil {
			return nil, usagef("--file %s: not a JSON twin patch: %v", file, err)
		}
		if doc.Tags == nil && (doc.Properties == nil || doc.Properties.Desired == nil) {
			return nil, usagef(`--file %s: want "tags" or "properties.desired"`, file)
		}
		return data, nil
	}
	if desired == "" && tags == "" {
		return nil, usagef("twin update: give --desired, --tags or --file")
	}
	patch := map[string]any{}
	if tags != "" {
		obj, err := jsonObject("--tags", tags)
		if err != nil {
			return nil, err
		}
		patch["tags"] = obj
	}
	if desired != "" {
		obj, err := jsonObject("--desired", desired)
		if err != nil {
			return nil, err
		}
		patch["properties"] = map[string]any{"desired": obj}
	}
	return json.Marshal(patch)
}

func jsonObject(flag, s string) (map[string]any, error) {
	var obj map[string]any
	if err := json.Unmarshal([]byte(s), &obj); err != nil || obj == nil {
		return nil, usagef("%s: want a JSON object", flag)
	}
	return obj, nil
}

// readInput reads a file, or standard input for "-".
func readInput(stdin io.Reader, name string) ([]byte, error) {
	if name == "-" {
		data, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("read standard input: %w", err)
		}
		return data, nil
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read input: %w", err)
	}
	return data, nil
}
