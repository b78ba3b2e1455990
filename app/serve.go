package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// Serve runs the provider for cfg on cfg.HTTP.Addr until ctx ends, then
// shuts down gracefully: it reports not-ready first so the load balancer
// stops sending new requests, then lets in-flight ones finish within
// cfg.HTTP.ShutdownTimeout. On the memory store it prints the demo banner
// to banner.
func Serve(ctx context.Context, cfg *Config, version string, banner io.Writer) error {
	a, err := New(ctx, cfg, Options{})
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
		fmt.Fprint(banner, a.Banner())
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	slog.Info("shutting down", "timeout", cfg.HTTP.ShutdownTimeout)
	a.Drain()
	sctx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
