package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"github.com/optibid/idp/internal/gcfloor"
	"github.com/optibid/idp/internal/telemetry"
)

// Serve runs the provider for cfg until ctx ends. It binds the listeners
// first, so the banner (on the memory store, printed to banner) appears
// only once the address is really ours. Shutdown is graceful: /readyz
// turns 503 at once, the server keeps serving for cfg.HTTP.DrainPeriod so
// the load balancer can notice, then stops accepting and lets in-flight
// requests finish within cfg.HTTP.ShutdownTimeout.
func Serve(ctx context.Context, cfg *Config, version string, banner io.Writer) error {
	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("http.addr: %w", err)
	}
	var metricsLn net.Listener
	if cfg.HTTP.MetricsAddr != "" {
		if metricsLn, err = net.Listen("tcp", cfg.HTTP.MetricsAddr); err != nil {
			ln.Close()
			return fmt.Errorf("http.metrics_addr: %w", err)
		}
	}
	stopTracing, err := telemetry.Setup(ctx, version)
	if err != nil {
		ln.Close()
		if metricsLn != nil {
			metricsLn.Close()
		}
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = stopTracing(sctx) // flush the last spans
	}()
	a, err := New(ctx, cfg, Options{})
	if err != nil {
		ln.Close()
		if metricsLn != nil {
			metricsLn.Close()
		}
		return err
	}
	defer a.Close()
	// Starting left garbage (the hasher's reference hash, argon2id's tens
	// of MiB among it): give it back before serving, so an idle replica
	// holds what it uses. The hasher gives back the bootstrap users'
	// working memory itself, once it has been idle (app.go).
	debug.FreeOSMemory()
	// A replica's live heap is a few MB, so GOGC's default pacing would
	// collect every few hundred requests; a floor under the heap goal
	// spaces that out (internal/gcfloor). An operator's GOGC wins.
	if os.Getenv("GOGC") == "" {
		defer gcfloor.Start(gcFloor).Stop()
	}
	bg, cancelBG := context.WithCancel(context.Background())
	defer cancelBG()
	go a.Run(bg)
	return a.serve(ctx, ln, metricsLn, version, banner)
}

// gcFloor is the smallest heap goal a serving replica runs with. Measured
// per server core (docs/benchmarks.md, "Memory: every scenario under
// 64 MiB"): 8 MiB still cost discovery its rate; 16 MiB gained nothing
// measurable over 14 and took a sign-in replica to within 0.3 MB of
// 64 MiB.
const gcFloor = 14 << 20

// serve runs the servers on bound listeners until ctx ends, then drains.
func (a *App) serve(ctx context.Context, ln, metricsLn net.Listener, version string, banner io.Writer) error {
	cfg := a.cfg
	newServer := func(h http.Handler) *http.Server {
		return &http.Server{Handler: h,
			ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second, WriteTimeout: 30 * time.Second,
			IdleTimeout: 120 * time.Second, MaxHeaderBytes: 8 << 10,
			ErrorLog: slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn),
		}
	}
	srv := newServer(a.Handler)
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	var metrics *http.Server
	if metricsLn != nil {
		mux := http.NewServeMux()
		mux.Handle("/metrics", a.Metrics)
		metrics = newServer(mux)
		go func() { errc <- metrics.Serve(metricsLn) }()
		slog.Info("metrics listening", "addr", metricsLn.Addr().String())
	}
	slog.Info("listening", "addr", ln.Addr().String(), "issuer", cfg.Issuer, "version", version)
	if metricsLn == nil && !cfg.DevMode {
		// Its labels name service accounts, connections and APIs.
		slog.Warn("/metrics is served on the public listener; set http.metrics_addr to move it to a private one")
	}
	if cfg.DevMode && cfg.Storage.Type == "memory" {
		// The banner prints the demo's passwords and secrets: development
		// only, never into a production log stream.
		fmt.Fprint(banner, a.Banner())
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.Drain()
	slog.Info("draining", "drain_period", cfg.HTTP.DrainPeriod, "shutdown_timeout", cfg.HTTP.ShutdownTimeout)
	select {
	case <-time.After(cfg.HTTP.DrainPeriod):
	case err := <-errc:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if metrics != nil {
		err = errors.Join(err, metrics.Shutdown(sctx))
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	slog.Info("stopped")
	return nil
}
