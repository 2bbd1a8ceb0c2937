package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/outpost-iot/outpost/internal/cloud"
)

// Exit codes returned by Main.
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

// Main runs the outpost command line with args (without the program name) and returns the exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return run(ctx, args, &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv})
}

// env is what a command invocation sees of the world; tests replace any part of it.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	now            func() time.Time
	runCloud       func(context.Context, cloud.Config) error
	serviceCS      func(dataDir, policy string) (string, error)
}

func (e *env) defaults() {
	if e.now == nil {
		e.now = time.Now
	}
	if e.runCloud == nil {
		e.runCloud = cloud.Run
	}
	if e.serviceCS == nil {
		e.serviceCS = cloud.ServiceConnectionString
	}
	if e.getenv == nil {
		e.getenv = func(string) string { return "" }
	}
}

func run(ctx context.Context, args []string, e *env) int {
	e.defaults()
	root := newRoot(e)
	root.SetArgs(args)
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		fmt.Fprintln(e.stderr, "outpost: interrupted")
		return ExitError
	}
	fmt.Fprintf(e.stderr, "outpost: %s\n", oneLine(err))
	if isUsage(err) {
		return ExitUsage
	}
	return ExitError
}

func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:           "outpost",
		Short:         "Outpost: an open-source IoT Hub and IoT Edge",
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.ArbitraryArgs, // needSubcommand reports them
		RunE:          needSubcommand,
	}
	root.CompletionOptions.DisableDefaultCmd = true
	addProfileFlag(root)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		newCloudCmd(e), newDeviceCmd(e), newModuleCmd(e), newTwinCmd(e), newMethodCmd(e),
		newC2DCmd(e), newMonitorCmd(e), newDeployCmd(e), newSASTokenCmd(e), newCACmd(e), newVersionCmd(e),
	)
	return root
}

// usageError marks an error as a usage error (exit code 2).
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// isUsage reports usage errors, including the ones cobra creates itself.
func isUsage(err error) bool {
	if _, ok := errors.AsType[usageError](err); ok {
		return true
	}
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "required flag(s)",
		"if any flags in the group", "flag needs an argument", "invalid argument"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// oneLine flattens an error to one line and drops internal package prefixes.
func oneLine(err error) string {
	s := strings.TrimPrefix(err.Error(), "hubclient: ")
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

// needSubcommand is the RunE of commands that only group subcommands.
func needSubcommand(c *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unknown command %q for %q", args[0], c.CommandPath())
	}
	var names []string
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() {
			names = append(names, sub.Name())
		}
	}
	return usagef("%s needs a command: %s (see %s --help)", c.CommandPath(), strings.Join(names, ", "), c.CommandPath())
}

// exactArgs requires the named positional arguments.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) != len(names) {
			return usagef("%s: want %d argument(s) (%s), got %d", c.CommandPath(), len(names), strings.Join(names, " "), len(args))
		}
		for i, a := range args {
			if a == "" {
				return usagef("%s: %s must not be empty", c.CommandPath(), names[i])
			}
		}
		return nil
	}
}
