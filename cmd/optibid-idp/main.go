// Command optibid-idp is the OptiBid Identity provider.
//
//	optibid-idp serve   --config FILE    run the provider
//	optibid-idp migrate up|status --config FILE
//	optibid-idp admin   --config FILE org|user|client|keys …
//	optibid-idp version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/optibid/idp/app"
	"github.com/optibid/idp/internal/httpx"
	"github.com/optibid/idp/storage/postgres"
)

// version is set at build time (-ldflags "-X main.version=…").
var version = "dev"

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "optibid-idp:", err)
		os.Exit(1)
	}
}

const usage = `usage: optibid-idp <command> [flags]

commands:
  serve   --config FILE                   run the provider
  migrate up|status --config FILE         apply or list PostgreSQL migrations
  admin   --config FILE <object> <verb>   manage organizations, users, clients and keys
  version                                 print the version`

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stderr)
	case "migrate":
		return migrate(args[1:], stdout)
	case "admin":
		return admin(args[1:], stdout)
	case "version":
		fmt.Fprintln(stdout, "optibid-idp", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", args[0], usage)
}

// configFlag parses --config from a sub-command's flags.
func configFlag(name string, args []string) (*app.Config, []string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	path := fs.String("config", "configs/dev.yaml", "configuration file")
	if err := fs.Parse(args); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
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
	a, err := app.New(ctx, cfg, app.Options{})
	if err != nil {
		return err
	}
	defer a.Close()
	bg, cancelBG := context.WithCancel(context.Background())
	defer cancelBG()
	go a.Run(bg)
	srv := &http.Server{
		Addr: cfg.HTTP.Addr, Handler: a.Handler,
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second, WriteTimeout: 30 * time.Second,
		IdleTimeout: 120 * time.Second, MaxHeaderBytes: 8 << 10,
		ErrorLog: slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	slog.Info("listening", "addr", cfg.HTTP.Addr, "issuer", cfg.Issuer, "version", version)
	if cfg.Storage.Type == "memory" {
		fmt.Fprint(stderr, a.Banner())
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Drain: report not-ready first so the load balancer stops sending new
	// requests, then let in-flight ones finish.
	slog.Info("shutting down", "timeout", cfg.HTTP.ShutdownTimeout)
	a.Drain()
	sctx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

func migrate(args []string, stdout io.Writer) error {
	if len(args) == 0 || (args[0] != "up" && args[0] != "status") {
		return errors.New("usage: optibid-idp migrate up|status --config FILE")
	}
	cfg, _, err := configFlag("migrate", args[1:])
	if err != nil {
		return err
	}
	if cfg.Storage.Type != "postgres" {
		return errors.New("migrate: storage.type is memory; there is nothing to migrate")
	}
	ctx := context.Background()
	pg, err := postgres.Open(ctx, cfg.Storage.Postgres)
	if err != nil {
		return err
	}
	defer pg.Close()
	if args[0] == "up" {
		applied, err := pg.Migrate(ctx)
		if err != nil {
			return err
		}
		if len(applied) == 0 {
			fmt.Fprintln(stdout, "schema is up to date")
		}
		for _, m := range applied {
			fmt.Fprintln(stdout, "applied", m)
		}
		return nil
	}
	st, err := pg.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	for _, m := range st {
		state := "pending"
		if m.Applied {
			state = "applied " + m.AppliedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(stdout, "%05d  %-40s %s\n", m.Version, m.Path, state)
	}
	return nil
}
