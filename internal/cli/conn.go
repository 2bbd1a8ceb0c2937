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

// flagOrEnv returns a flag's value, or the environment variable name when the flag is empty.
func (e *env) flagOrEnv(flag, name string) string {
	if flag != "" {
		return flag
	}
	return e.getenv(name)
}

// client builds a service API client from the flags, or the environment for flags left empty.
func (cf *connFlags) client() (*hubclient.Client, error) {
	e := cf.e
	cs := e.flagOrEnv(cf.cs, EnvConnectionString)
	if cs == "" {
		return nil, usagef("no connection string: pass --connection-string or set %s (print one with `outpost cloud connection-string --data DIR`)", EnvConnectionString)
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := hubclient.New(hubclient.Config{ConnectionString: cs, CAFile: e.flagOrEnv(cf.caFile, EnvCAFile),
		Endpoint: e.flagOrEnv(cf.endpoint, EnvEndpoint), Now: e.now, Logger: log})
	if err != nil {
		return nil, usageError{err}
	}
	return c, nil
}
