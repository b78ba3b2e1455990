// Command bareop is the bare zitadel/oidc engine with its example's
// in-memory storage and nothing of ours: the load generator runs it beside
// optibid-idp, so that our per-request overhead is measured against the
// engine's own on the same machine in the same run. Not for any other use.
package main

import (
	"flag"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9998", "listen address")
	flag.Parse()
	issuer := "http://" + *addr
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	st := storage.NewStorage(storage.NewUserStore(issuer))
	router := exampleop.SetupServer(issuer, st, logger, false)
	srv := &http.Server{Addr: *addr, Handler: router, ReadHeaderTimeout: 5 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		logger.Error("bareop", "error", err)
		os.Exit(1)
	}
}
