// Command optibid-idp is the OptiBid Identity provider.
//
//	optibid-idp serve   --config FILE    run the provider
//	optibid-idp migrate up|status --config FILE
//	optibid-idp admin   --config FILE org|user|client|keys …
//	optibid-idp version
package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/optibid/idp/app"
	"github.com/optibid/idp/internal/httpx"
)

// version is set at build time (-ldflags "-X main.version=…").
var version = "dev"

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "optibid-idp:", err)
		os.Exit(app.ExitStatus(err))
	}
}

// usage is the help text: the commands, then the admin commands.
//
//go:embed usage.txt
var helpText string

var usage, adminUsage, _ = strings.Cut(strings.TrimSpace(helpText), "\n\n--\n\n")

// run runs the command args names: its help goes to stdout when asked
// for, its usage follows a mistake.
func run(args []string, stdout, stderr io.Writer) error {
	return app.Explain(dispatch(args, stdout, stderr), stdout, usage, adminUsage)
}

func dispatch(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return app.UsageError{Err: errors.New("no command")}
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stderr)
	case "migrate":
		return migrate(args[1:], stdout)
	case "admin":
		return admin(args[1:], stdout, stderr)
	case "version":
		if err := app.ParseFlags(app.NewFlags("version"), args[1:]); err != nil {
			return err
		}
		_, err := fmt.Fprintln(stdout, "optibid-idp", version)
		return err
	case "help", "-h", "-help", "--help":
		return app.HelpRequest(strings.Join(args[1:], " "))
	}
	return app.UsageError{Err: fmt.Errorf("unknown command %q", args[0])}
}

// configFlag parses --config from a sub-command's flags.
func configFlag(name string, args []string) (*app.Config, []string, error) {
	fs := app.NewFlags(name)
	path := fs.String("config", "configs/dev.yaml", "configuration file")
	if err := app.ParseFlags(fs, args); err != nil {
		return nil, nil, err
	}
	cfg, err := app.LoadConfig(*path)
	return cfg, fs.Args(), err
}

func setupLogging(cfg *app.Config, w io.Writer) {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if cfg.Log.Format == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	// The op engine logs through the default logger.
	slog.SetDefault(slog.New(httpx.LogHandler{Handler: h}))
}

func serve(args []string, stderr io.Writer) error {
	cfg, _, err := configFlag("serve", args)
	if err != nil {
		return err
	}
	setupLogging(cfg, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); stop() }() // a second signal ends the drain at once
	return app.Serve(ctx, cfg, version, stderr)
}

func migrate(args []string, stdout io.Writer) error {
	if len(args) == 0 || (args[0] != "up" && args[0] != "status") {
		if err := app.ParseFlags(app.NewFlags("migrate"), args); err != nil {
			return err
		}
		return app.UsageError{Cmd: "migrate", Err: errors.New("migrate: up or status?")}
	}
	cfg, _, err := configFlag("migrate", args[1:])
	if err != nil {
		return err
	}
	lines, err := app.Migrate(context.Background(), cfg, args[0] == "up")
	for _, l := range lines {
		fmt.Fprintln(stdout, l)
	}
	return err
}
