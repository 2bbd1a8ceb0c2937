// Command outpost is the single Outpost binary: cloud, edge and client commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/outpost-iot/outpost/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
