// Command example-api is a small OptiBid trading API: an example of a
// resource server that accepts OptiBid Identity access tokens through
// package apiauth.
//
//	OPTIBID_ISSUER=http://localhost:8080 go run ./cmd/example-api
//	curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8090/bids
//
// Settings, as flags or environment variables: -issuer (OPTIBID_ISSUER),
// -audience (API_AUDIENCE, the audience tokens must be issued for), -addr
// (API_ADDR). With API_CLIENT_ID and API_CLIENT_SECRET (this API's client
// at the issuer) every token is also introspected, so revoked tokens stop
// working within 30 seconds.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/optibid/idp/apiauth"
)

func main() {
	issuer := flag.String("issuer", envOr("OPTIBID_ISSUER", "http://localhost:8080"), "token issuer URL")
	audience := flag.String("audience", envOr("API_AUDIENCE", "https://api.optibid.example/trading"), "this API's identifier: the audience tokens must name")
	addr := flag.String("addr", envOr("API_ADDR", "127.0.0.1:8090"), "listen address")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := apiauth.Config{Issuer: *issuer, Audience: *audience, Logger: log}
	if id, secret := os.Getenv("API_CLIENT_ID"), os.Getenv("API_CLIENT_SECRET"); id != "" {
		cfg.Introspection = &apiauth.IntrospectionConfig{ClientID: id, ClientSecret: secret}
	}
	if err := run(ctx, cfg, *addr, log); err != nil {
		log.Error("example-api stopped", "error", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg apiauth.Config, addr string, log *slog.Logger) error {
	v, err := apiauth.New(ctx, cfg)
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: addr, Handler: routes(v), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Info("trading API listening", "addr", addr, "issuer", cfg.Issuer, "audience", cfg.Audience)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// routes protects every route with a valid token (the outer Middleware, so
// a route added later is not public by mistake), then asks each route for
// what it needs: the client's scope, the user's permission in the
// organization, the organization's feature.
func routes(v *apiauth.Verifier) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /bids", v.RequireScope("bids:read")(http.HandlerFunc(listBids)))
	mux.Handle("POST /bids", v.RequireScope("bids:submit")(v.RequirePermission("bids:submit")(http.HandlerFunc(submitBid))))
	mux.Handle("POST /bids/auto", v.RequireScope("bids:submit")(v.RequirePermission("bids:submit")(v.RequireFeature("bids.auto")(http.HandlerFunc(autoBid)))))
	return v.Middleware(mux)
}

func listBids(w http.ResponseWriter, r *http.Request) {
	reply(w, http.StatusOK, map[string]any{"caller": caller(r), "bids": []any{}})
}

func submitBid(w http.ResponseWriter, r *http.Request) {
	reply(w, http.StatusCreated, map[string]any{"caller": caller(r), "status": "accepted"})
}

func autoBid(w http.ResponseWriter, r *http.Request) {
	tok, _ := apiauth.FromContext(r.Context())
	reply(w, http.StatusAccepted, map[string]any{
		"caller":     caller(r),
		"status":     "scheduled",
		"max_orders": tok.FeatureConfig["bids.auto"]["max_orders"], // the organization's plan limit, if any
	})
}

// caller echoes who is calling: the user, their organization and the
// client acting for them.
func caller(r *http.Request) map[string]string {
	tok, _ := apiauth.FromContext(r.Context())
	return map[string]string{"sub": tok.Subject, "org": tok.Org.Slug, "client_id": tok.ClientID}
}

func reply(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
