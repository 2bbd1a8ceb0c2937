package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/outpost-iot/outpost/internal/hubclient"
	"github.com/outpost-iot/outpost/internal/iothub"
)

func newSASTokenCmd(e *env) *cobra.Command {
	var (
		cs  string
		ttl time.Duration
	)
	cmd := &cobra.Command{
		Use:   "sas-token",
		Short: "Print a SAS token for a device, module or service connection string (offline)",
		Long: `Print a SAS token signed with the key of a connection string, like
'az iot hub generate-sas-token'. Device strings give a token for {host}/devices/{id}, module
strings for {host}/devices/{id}/modules/{mid}, service (policy) strings for {host} with skn set.
The connection string comes from --connection-string or ` + EnvConnectionString + `.`,
		Args: exactArgs(),
		RunE: func(c *cobra.Command, _ []string) error {
			conn := e.flagOrEnv(cs, EnvConnectionString)
			if conn == "" {
				return usagef("no connection string: pass --connection-string or set %s", EnvConnectionString)
			}
			if ttl <= 0 {
				return usagef("--ttl must be positive")
			}
			tok, err := sasToken(conn, e.now().Add(ttl))
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(e.stdout, tok)
			return err
		},
	}
	cmd.Flags().StringVar(&cs, "connection-string", "", "device, module or service connection string (env "+EnvConnectionString+")")
	cmd.Flags().DurationVar(&ttl, "ttl", time.Hour, "token lifetime")
	return cmd
}

// sasToken signs a token for the identity of a connection string.
func sasToken(s string, expiry time.Time) (string, error) {
	cs, err := iothub.ParseConnectionString(s)
	if err != nil {
		return "", usageError{err}
	}
	if cs.SharedAccessKey == "" {
		return "", usageError{errors.New("sas-token: the connection string has no SharedAccessKey")}
	}
	tok, err := hubclient.SignConnectionString(cs, expiry)
	if err != nil {
		return "", fmt.Errorf("sas-token: %w", err)
	}
	return tok, nil
}
