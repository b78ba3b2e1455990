package main

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/optibid/idp/app/apptest"
)

// serve answers, then on SIGTERM drains: /readyz is 503 from the first
// moment, every request during the drain period still succeeds, and then
// it stops and returns cleanly.
func TestServeGracefulShutdown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(cfg, []byte(`issuer: http://`+addr+`
http: {addr: "`+addr+`", shutdown_timeout: 5s, drain_period: 1500ms}
log: {level: error}
dev_mode: true
keys: {encryption_key: "`+apptest.Key32()+`"}
sessions: {csrf_key: "`+apptest.Key32()+`"}
passwords: {argon2: {memory_kib: 1024, iterations: 1, parallelism: 1}}
`), 0o600)
	// serve installs its own default logger; the other tests' servers log
	// to the harness's buffer again afterwards.
	logger := slog.Default()
	t.Cleanup(func() { slog.SetDefault(logger) })
	done := make(chan error, 1)
	go func() { done <- serve([]string{"--config", cfg}, io.Discard) }()
	ready := false
	for i := 0; i < 100 && !ready; i++ {
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			ready = resp.StatusCode == 200
		}
		if !ready {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !ready {
		t.Fatal("serve never became ready")
	}
	// serve has registered for SIGTERM by now, so this reaches it, not the
	// test process's default handler.
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The signal is delivered asynchronously: wait (briefly) for readiness
	// to drop, then expect it to stay down while everything else works.
	deadline := time.Now().Add(time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			t.Fatalf("readyz refused during the drain: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("readyz never turned 503 after SIGTERM")
		}
		time.Sleep(10 * time.Millisecond)
	}
	drainStart := time.Now()
	for time.Since(drainStart) < time.Second {
		for _, p := range []string{"/healthz", "/.well-known/openid-configuration", "/readyz"} {
			resp, err := http.Get("http://" + addr + p)
			if err != nil {
				t.Fatalf("%s refused during the drain: %v", p, err)
			}
			resp.Body.Close()
			if want := map[bool]int{true: 503, false: 200}[p == "/readyz"]; resp.StatusCode != want {
				t.Fatalf("%s during the drain: %d, want %d", p, resp.StatusCode, want)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not shut down")
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Fatal("still listening after shutdown")
	}
}

// The banner says "running" only once the address is ours: on a taken
// address serve fails naming it and prints no banner.
func TestServeOnATakenAddressPrintsNoBanner(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := l.Addr().String()
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(cfg, []byte(`issuer: http://`+addr+`
http: {addr: "`+addr+`"}
log: {level: error}
dev_mode: true
keys: {encryption_key: "`+apptest.Key32()+`"}
sessions: {csrf_key: "`+apptest.Key32()+`"}
`), 0o600)
	logger := slog.Default()
	t.Cleanup(func() { slog.SetDefault(logger) })
	var stderr strings.Builder
	err = serve([]string{"--config", cfg}, &stderr)
	if err == nil || !strings.Contains(err.Error(), "http.addr") {
		t.Fatalf("serve on a taken address: %v", err)
	}
	if strings.Contains(stderr.String(), "running") {
		t.Fatalf("the banner was printed although the address was taken:\n%s", stderr.String())
	}
}
