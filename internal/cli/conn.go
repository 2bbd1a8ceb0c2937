package cli

import (
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/outpost-iot/outpost/internal/hubclient"
)

// Environment variables read by commands that talk to the cloud; flags take precedence.
const (
	EnvConnectionString = "OUTPOST_CONNECTION_STRING"
	EnvCAFile           = "OUTPOST_CA_FILE"
	EnvEndpoint         = "OUTPOST_ENDPOINT"
)

// connFlags are the flags of every command that talks to the cloud's service API.
type connFlags struct {
	e                    *env
	cs, caFile, endpoint string
}

// addConnFlags registers --connection-string, --ca-file and --endpoint on cmd and its subcommands.
func addConnFlags(e *env, cmd *cobra.Command) *connFlags {
	cf := &connFlags{e: e}
	f := cmd.PersistentFlags()
	f.StringVar(&cf.cs, "connection-string", "", "service connection string (env "+EnvConnectionString+")")
	f.StringVar(&cf.caFile, "ca-file", "", "PEM file of the CA to trust for the cloud's certificate (env "+EnvCAFile+")")
	f.StringVar(&cf.endpoint, "endpoint", "", "base URL of the service API, default https://{HostName}:443 (env "+EnvEndpoint+")")
	return cf
}

// resolve applies the environment to flags left empty.
func (cf *connFlags) resolve() (cs, caFile, endpoint string) {
	pick := func(flag, name string) string {
		if flag != "" {
			return flag
		}
		return cf.e.getenv(name)
	}
	return pick(cf.cs, EnvConnectionString), pick(cf.caFile, EnvCAFile), pick(cf.endpoint, EnvEndpoint)
}

// connectionString returns the connection string from the flag or the environment.
func (cf *connFlags) connectionString() (string, error) {
	cs, _, _ := cf.resolve()
	if cs == "" {
		return "", usagef("no connection string: pass --connection-string or set %s (print one with `outpost cloud connection-string --data DIR`)", EnvConnectionString)
	}
	return cs, nil
}

// client builds a service API client.
func (cf *connFlags) client() (*hubclient.Client, error) {
	cs, err := cf.connectionString()
	if err != nil {
		return nil, err
	}
	_, caFile, endpoint := cf.resolve()
	log := slog.New(slog.NewTextHandler(cf.e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := hubclient.New(hubclient.Config{ConnectionString: cs, CAFile: caFile, Endpoint: endpoint, Now: cf.e.now, Logger: log})
	if err != nil {
		return nil, usageError{err}
	}
	return c, nil
}
