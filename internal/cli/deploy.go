package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
)

func newDeployCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "deploy", Short: "Apply deployments to IoT Edge devices", RunE: needSubcommand}
	cf := addConnFlags(e, cmd)
	cmd.AddCommand(&cobra.Command{
		Use:   "apply DEVICE MANIFEST",
		Short: `Apply a deployment manifest ({"modulesContent":{...}}; "-" reads stdin) to an edge device`,
		Long: `Apply a deployment manifest to an IoT Edge device (POST applyConfigurationContent).
The manifest is {"modulesContent":{"$edgeAgent":..,"$edgeHub":..,...}}; the Azure deployment
shape {"content":{"modulesContent":...}} is accepted too.`,
		Args: exactArgs("DEVICE", "MANIFEST"),
		RunE: func(c *cobra.Command, args []string) error {
			data, err := readInput(e.stdin, args[1])
			if err != nil {
				return err
			}
			content, err := modulesContent(args[1], data)
			if err != nil {
				return err
			}
			client, err := cf.client()
			if err != nil {
				return err
			}
			if err := client.ApplyConfigurationContent(c.Context(), args[0], content); err != nil {
				return err
			}
			_, err = fmt.Fprintf(e.stdout, "applied %s to %s\n", args[1], args[0])
			return err
		},
	})
	return cmd
}

// modulesContent validates a manifest and returns the {"modulesContent":...} body to send.
func modulesContent(name string, data []byte) (json.RawMessage, error) {
	var doc struct {
		ModulesContent map[string]json.RawMessage `json:"modulesContent"`
		Content        *struct {
			ModulesContent map[string]json.RawMessage `json:"modulesContent"`
		} `json:"content"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, usagef("%s: not a JSON object: %v", name, err)
	}
	mc := doc.ModulesContent
	if mc == nil && doc.Content != nil {
		mc = doc.Content.ModulesContent
	}
	if mc == nil {
		return nil, usagef(`%s: no "modulesContent" object`, name)
	}
	body, err := json.Marshal(map[string]any{"modulesContent": mc})
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	return body, nil
}
