// Command loadgen measures the provider over loopback: it builds
// optibid-idp, starts it pinned to CPU 0 (where taskset exists), pins
// itself to CPU 1, and drives each scenario for a fixed time with a fixed
// number of workers, reporting req/s and p50/p99 latency as a Markdown
// table. With -store postgres it starts a throwaway PostgreSQL cluster.
//
//	go run ./cmd/loadgen [-store memory,postgres] [-duration 5s] [-workers 8]
//
// Traffic goes to 127.0.0.1 only; every loop is bounded by -duration and
// -max-requests.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/optibid/idp/internal/pgcluster"
)

func main() {
	stores := flag.String("store", "memory,postgres", "comma-separated storage types")
	duration := flag.Duration("duration", 5*time.Second, "time per scenario")
	workers := flag.Int("workers", 8, "concurrent clients")
	maxReq := flag.Int("max-requests", 500000, "upper bound of requests per scenario")
	only := flag.String("only", "", "run only scenarios whose name contains this")
	strict := flag.Bool("strict", false, "fail on any failed request (the CI smoke: correctness, not speed)")
	flag.BoolVar(&bare, "bare", false, "also run the bare zitadel/oidc engine (its example storage, opaque tokens) for comparison")
	flag.StringVar(&argon2Params, "argon2", "", `the server's argon2id cost as "MEMORY_KIB,ITERATIONS" (default: the server's own)`)
	flag.IntVar(&seed.users, "seed-users", 0, "PostgreSQL only: users to add before the run (cost growth with scale)")
	flag.IntVar(&seed.clients, "seed-clients", 0, "PostgreSQL only: clients to add")
	flag.IntVar(&seed.orgs, "seed-orgs", 0, "PostgreSQL only: organizations to add (users and clients are spread over them)")
	flag.Parse()
	if err := pin(); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	if err := run(strings.Split(*stores, ","), *duration, *workers, *maxReq, *only, *strict); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// pin re-executes the load generator on CPU 1 when taskset exists, so the
// server (on CPU 0) and the load do not share a core.
func pin() error {
	if os.Getenv("LOADGEN_PINNED") != "" || runtime.NumCPU() < 2 {
		return nil
	}
	ts, err := exec.LookPath("taskset")
	if err != nil {
		return nil
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	env := append(os.Environ(), "LOADGEN_PINNED=1")
	return syscall.Exec(ts, append([]string{"taskset", "-c", "1", self}, os.Args[1:]...), env)
}

func run(stores []string, d time.Duration, workers, maxReq int, only string, strict bool) error {
	dir, err := os.MkdirTemp("", "optibid-loadgen-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "optibid-idp")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/optibid-idp").CombinedOutput(); err != nil {
		return fmt.Errorf("build: %v: %s", err, out)
	}
	host, _ := os.Hostname()
	pinned := "not pinned (no taskset)"
	if os.Getenv("LOADGEN_PINNED") != "" {
		pinned = "server on CPU 0, load on CPU 1"
	}
	fmt.Printf("# loadgen: %d workers, %s per scenario, Go %s, %s, host %s, %s\n\n",
		workers, d, runtime.Version(), pinned, host, time.Now().UTC().Format(time.RFC3339))
	if bare {
		if err := runBare(dir, d, workers, maxReq); err != nil {
			return err
		}
	}
	for _, store := range stores {
		if err := runStore(dir, bin, strings.TrimSpace(store), d, workers, maxReq, only, strict); err != nil {
			return fmt.Errorf("%s: %w", store, err)
		}
	}
	return nil
}

// bare runs the bare engine beside ours (runBare).
var bare bool

// runBare drives the bare zitadel/oidc engine (cmd/loadgen/bareop: the
// example's in-memory storage, opaque tokens, nothing of ours) with the
// scenarios both can serve, pinned and measured like our server, so our
// overhead per request is read against the engine's in the same run.
func runBare(dir string, d time.Duration, workers, maxReq int) error {
	bin := filepath.Join(dir, "bareop")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/loadgen/bareop").CombinedOutput(); err != nil {
		return fmt.Errorf("build bareop: %v: %s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := l.Addr().String()
	l.Close()
	args := []string{bin, "-addr", addr}
	if ts, err := exec.LookPath("taskset"); err == nil && runtime.NumCPU() >= 2 {
		args = append([]string{ts, "-c", "0"}, args...)
	}
	srv := exec.Command(args[0], args[1:]...)
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	issuer := "http://" + addr
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	for i := 0; ; i++ {
		resp, err := c.Get(issuer + "/.well-known/openid-configuration")
		if err == nil {
			resp.Body.Close()
			break
		}
		if i > 100 {
			return errors.New("bareop did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Printf("## bare engine (zitadel/oidc example storage, opaque tokens)\n\n| scenario | req/s | req/s per server CPU-second | p50 | p99 | errors | peak RSS |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, sc := range []struct {
		name string
		req  func(int, *string) (*http.Request, error)
	}{
		{"discovery", func(int, *string) (*http.Request, error) {
			return http.NewRequest(http.MethodGet, issuer+"/.well-known/openid-configuration", nil)
		}},
		{"client_credentials (opaque)", func(int, *string) (*http.Request, error) {
			req, err := http.NewRequest(http.MethodPost, issuer+"/oauth/token", strings.NewReader("grant_type=client_credentials&scope=openid"))
			if err == nil {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth("sid1", "verysecret")
			}
			return req, err
		}},
	} {
		// Each scenario's own high-water mark: reset it to the current
		// resident set first, so the start-up's peak does not hide it.
		resetPeakRSS(srv.Process.Pid)
		cpu0 := cpuSeconds(srv.Process.Pid)
		res := drive(c, workers, d, maxReq, make([]string, workers), sc.req, nil)
		perCore := "n/a"
		if used := cpuSeconds(srv.Process.Pid) - cpu0; used > 0 {
			perCore = fmt.Sprintf("%.0f", float64(res.ok)/used)
		}
		fmt.Printf("| %s | %.0f | %s | %s | %s | %d | %s |\n", sc.name, res.rps, perCore, ms(res.p50), ms(res.p99), res.errors,
			peakRSS(srv.Process.Pid))
	}
	fmt.Println()
	return nil
}

// argon2Params is the -argon2 flag: "MEMORY_KIB,ITERATIONS", or empty.
var argon2Params string

// argon2Config is the server config's passwords section for -argon2.
func argon2Config() string {
	m, t, ok := strings.Cut(argon2Params, ",")
	if !ok {
		return ""
	}
	return fmt.Sprintf("passwords: {argon2: {memory_kib: %s, iterations: %s, parallelism: 1}}\n", strings.TrimSpace(m), strings.TrimSpace(t))
}

// seed is how much data to add to PostgreSQL before the scenarios, so that
// runs at different scales show whether per-request cost stays flat.
var seed struct{ users, clients, orgs int }

// seedDatabase adds seed's organizations, users (one membership each) and
// confidential client_credentials clients in a few set-based statements.
func seedDatabase(ctx context.Context, dsn string) error {
	if seed.users+seed.clients+seed.orgs == 0 {
		return nil
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	orgs := max(seed.orgs, 1)
	start := time.Now()
	for _, st := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO organizations (id, slug, name) SELECT 'seed-org-' || i, 'seed-org-' || i, 'Seed ' || i
			FROM generate_series(1, $1::int) i`, []any{orgs}},
		{`INSERT INTO users (id, email, name, email_verified) SELECT 'seed-u-' || i, 'seed' || i || '@seed.example', 'Seed ' || i, true
			FROM generate_series(1, $1::int) i`, []any{seed.users}},
		{`INSERT INTO user_organization_membership (user_id, org_id, role) SELECT 'seed-u-' || i, 'seed-org-' || (i % $1 + 1), 'member'
			FROM generate_series(1, $2::int) i`, []any{orgs, seed.users}},
		{`INSERT INTO clients (id, name, secret_hash, grant_types, org_id) SELECT 'seed-c-' || i, 'Seed ' || i, md5(i::text),
			'{client_credentials}', 'seed-org-' || (i % $1 + 1) FROM generate_series(1, $2::int) i`, []any{orgs, seed.clients}},
		{`ANALYZE`, nil},
	} {
		if _, err := conn.Exec(ctx, st.sql, st.args...); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
	}
	fmt.Printf("seeded %d organizations, %d users, %d clients in %s\n\n", orgs, seed.users, seed.clients, time.Since(start).Round(time.Millisecond))
	return nil
}

func randomKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

const (
	webSecret = "loadgen-web-secret-0123456789abcdefghijklmn"
	svcSecret = "loadgen-svc-secret-0123456789abcdefghijklmn"
	// tradingAPI is the resource the API scenarios ask for.
	tradingAPI = "https://api.load.example/trading"
	email      = "load@example.com"
	pw         = "load test password 1"
	callback   = "https://rp.example/cb"
)

func runStore(dir, bin, store string, d time.Duration, workers, maxReq int, only string, strict bool) error {
	dsn := ""
	if store == "postgres" {
		cl, err := pgcluster.Start()
		if err != nil {
			return err
		}
		defer cl.Stop()
		if dsn, err = pgcluster.NewDatabase(context.Background(), cl.DSN()); err != nil {
			return err
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := l.Addr().String()
	l.Close()
	issuer := "http://" + addr
	cfgPath := filepath.Join(dir, store+".yaml")
	cfg := fmt.Sprintf(`issuer: %[1]s
http: {addr: "%[2]s"}
log: {level: error}
dev_mode: true
storage: {type: %[3]s, postgres: {dsn: "%[4]s", max_conns: 16}}
keys: {encryption_key: "%[5]s"}
sessions: {csrf_key: "%[6]s"}
lockout: {backoff_after: 90, lock_after: 95, max_failures: 100}
%[13]stokens: {client_rate: -1, max_concurrent: 1024}
bootstrap:
  organizations: [{slug: load, name: Load}]
  users: [{email: %[7]s, password: "%[8]s", organization: load, role: member}]
  apis:
    - {identifier: "%[12]s", name: Trading, scopes: [{name: "bids:read"}], claims: [org, permissions]}
    - {identifier: "%[12]s-rs", name: Trading RS256, scopes: [{name: "bids:read:rs"}], signing_alg: RS256}
  clients:
    - {id: web, name: Web, secret: "%[9]s", redirect_uris: ["%[10]s"], grant_types: [authorization_code, refresh_token], id_token_signed_response_alg: ES256, first_party: true, default_api: "%[12]s"}
    - {id: web-rs, name: Web RS256, secret: "%[9]s", redirect_uris: ["%[10]s"], grant_types: [authorization_code, refresh_token], id_token_signed_response_alg: RS256, first_party: true}
    - {id: svc, name: Service, secret: "%[11]s", grant_types: [client_credentials]}
    - {id: trading-api, name: Trading API, secret: "%[11]s", grant_types: [client_credentials], acts_for: ["%[12]s"]}
`, issuer, addr, store, dsn, randomKey(), randomKey(), email, pw, webSecret, callback, svcSecret, tradingAPI, argon2Config())
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return err
	}
	args := []string{bin, "serve", "--config", cfgPath}
	if ts, err := exec.LookPath("taskset"); err == nil && runtime.NumCPU() >= 2 {
		args = append([]string{ts, "-c", "0"}, args...)
	}
	srv := exec.Command(args[0], args[1:]...)
	var stderr bytes.Buffer // the server's complaints, shown when it does not start
	srv.Stderr = &limitedWriter{w: &stderr, n: 64 << 10}
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() { _ = srv.Process.Signal(syscall.SIGTERM); _ = srv.Wait() }()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if err := waitReady(c, issuer); err != nil {
		return fmt.Errorf("%w; the server said:\n%s", err, stderr.String())
	}
	if store == "postgres" {
		if err := seedDatabase(context.Background(), dsn); err != nil {
			return err
		}
	}
	startPeak := peakRSS(srv.Process.Pid)
	fmt.Printf("## %s store\n\n| scenario | req/s | req/s per server CPU-second | p50 | p99 | errors | peak RSS |\n|---|---:|---:|---:|---:|---:|---:|\n", store)
	tok, err := login(issuer, "web")
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	form := func(v url.Values) string { return v.Encode() }
	scenarios := []struct {
		name string
		req  func(worker int, state *string) (*http.Request, error)
		// next, when set, extracts the state for the following request
		next func(body []byte, state *string)
		// prepare gives each worker its initial state
		prepare func() (string, error)
	}{
		{name: "discovery", req: func(int, *string) (*http.Request, error) {
			return http.NewRequest(http.MethodGet, issuer+"/.well-known/openid-configuration", nil)
		}},
		{name: "jwks", req: func(int, *string) (*http.Request, error) { return http.NewRequest(http.MethodGet, issuer+"/keys", nil) }},
		{name: "client_credentials ES256 (API)", req: func(int, *string) (*http.Request, error) {
			return tokenReq(issuer+"/oauth/token", form(url.Values{"grant_type": {"client_credentials"}, "resource": {tradingAPI},
				"scope": {"bids:read"}}), "svc", svcSecret)
		}},
		{name: "client_credentials RS256 (API)", req: func(int, *string) (*http.Request, error) {
			return tokenReq(issuer+"/oauth/token", form(url.Values{"grant_type": {"client_credentials"}, "resource": {tradingAPI + "-rs"}}), "svc", svcSecret)
		}},
		{name: "introspection by the API (user token)", req: func(int, *string) (*http.Request, error) {
			return tokenReq(issuer+"/oauth/introspect", form(url.Values{"token": {tok.AccessToken}}), "trading-api", svcSecret)
		}},
		{name: "refresh ES256", prepare: func() (string, error) { t, err := login(issuer, "web"); return t.RefreshToken, err },
			req: func(_ int, rt *string) (*http.Request, error) {
				return tokenReq(issuer+"/oauth/token", form(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {*rt}}), "web", webSecret)
			}, next: nextRefresh},
		{name: "refresh RS256", prepare: func() (string, error) { t, err := login(issuer, "web-rs"); return t.RefreshToken, err },
			req: func(_ int, rt *string) (*http.Request, error) {
				return tokenReq(issuer+"/oauth/token", form(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {*rt}}), "web-rs", webSecret)
			}, next: nextRefresh},
		{name: "password login (argon2id)", prepare: func() (string, error) { return loginForm(issuer) },
			req: func(_ int, st *string) (*http.Request, error) {
				parts := strings.SplitN(*st, "\n", 2)
				r, err := http.NewRequest(http.MethodPost, issuer+"/login", strings.NewReader(parts[1]))
				if err == nil {
					r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					r.Header.Set("Cookie", parts[0])
				}
				return r, err
			}},
	}
	for _, s := range scenarios {
		if !strings.Contains(s.name, only) {
			continue
		}
		states := make([]string, workers)
		if s.prepare != nil {
			for i := range states {
				if states[i], err = s.prepare(); err != nil {
					return fmt.Errorf("%s: prepare: %w", s.name, err)
				}
			}
		}
		// Each scenario's own high-water mark: let the server settle
		// from the preparation's sign-ins (it returns their memory once
		// its hashing pool is quiet), then reset the mark to the current
		// resident set, so neither the start-up nor the preparation
		// sets it.
		time.Sleep(settle)
		resetPeakRSS(srv.Process.Pid)
		cpu0 := cpuSeconds(srv.Process.Pid)
		res := drive(c, workers, d, maxReq, states, s.req, s.next)
		perCore := "n/a"
		if used := cpuSeconds(srv.Process.Pid) - cpu0; used > 0 {
			perCore = fmt.Sprintf("%.0f", float64(res.ok)/used)
		}
		fmt.Printf("| %s | %.0f | %s | %s | %s | %d | %s |\n", s.name, res.rps, perCore, ms(res.p50), ms(res.p99), res.errors,
			peakRSS(srv.Process.Pid))
		if res.ok == 0 || (strict && res.errors > 0) {
			return fmt.Errorf("%s: %d requests failed (%d succeeded)", s.name, res.errors, res.ok)
		}
	}
	if startPeak != "" {
		fmt.Printf("\nserver peak RSS while starting: %s\n", startPeak)
	}
	fmt.Println()
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func nextRefresh(body []byte, rt *string) {
	var t struct {
		RefreshToken string `json:"refresh_token"`
	}
	if json.Unmarshal(body, &t) == nil && t.RefreshToken != "" {
		*rt = t.RefreshToken
	}
}

func tokenReq(u, body, client, secret string) (*http.Request, error) {
	r, err := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(client, secret)
	return r, nil
}

type result struct {
	ok       int
	rps      float64
	p50, p99 time.Duration
	errors   int
}

// drive runs workers until d passes or maxReq requests were sent.
func drive(c *http.Client, workers int, d time.Duration, maxReq int, states []string,
	mk func(int, *string) (*http.Request, error), next func([]byte, *string)) result {
	var mu sync.Mutex
	var lat []time.Duration
	errs, sent := 0, 0
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				mu.Lock()
				if sent >= maxReq {
					mu.Unlock()
					return
				}
				sent++
				mu.Unlock()
				req, err := mk(w, &states[w])
				t0 := time.Now()
				var resp *http.Response
				if err == nil {
					resp, err = c.Do(req)
				}
				var body []byte
				if err == nil {
					body, _ = io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode >= 400 {
						err = errors.New(resp.Status)
					}
				}
				el := time.Since(t0)
				mu.Lock()
				if err != nil {
					errs++
				} else {
					lat = append(lat, el)
				}
				mu.Unlock()
				if err == nil && next != nil {
					next(body, &states[w])
				}
			}
		}()
	}
	wg.Wait()
	total := time.Since(start)
	slices.Sort(lat)
	r := result{ok: len(lat), errors: errs, rps: float64(len(lat)) / total.Seconds()}
	if n := len(lat); n > 0 {
		r.p50, r.p99 = lat[n/2], lat[min(n-1, n*99/100)]
	}
	return r
}

// peakRSS is the process's high-water resident set (VmHWM), or "".
func peakRSS(pid int) string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// settle is the pause before each scenario of our server: longer than the
// quiet spell after which it returns argon2id's memory, and than the least
// time between two such returns (app.hashIdleRelease, app.hashReleaseGap).
const settle = 2500 * time.Millisecond

// resetPeakRSS sets the process's high-water mark back to its current
// resident set (Linux: "5" to clear_refs); where that is refused, the mark
// stays the process's whole life.
func resetPeakRSS(pid int) {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// cpuSeconds is the user+system CPU time of a process so far (Linux), or 0.
func cpuSeconds(pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may contain spaces) start after ')'.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	var utime, stime float64
	fmt.Sscan(f[11], &utime)
	fmt.Sscan(f[12], &stime)
	return (utime + stime) / 100 // USER_HZ is 100 on Linux
}

func waitReady(c *http.Client, issuer string) error {
	for i := 0; i < 300; i++ {
		if resp, err := c.Get(issuer + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("server did not become ready")
}

var fieldRE = regexp.MustCompile(`name="(id|csrf)" value="([^"]*)"`)

// browser is a cookie-keeping client that does not follow redirects.
func browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// loginPage starts a flow for client and returns the login form's fields.
func loginPage(b *http.Client, issuer, client string) (url.Values, error) {
	q := url.Values{"client_id": {client}, "redirect_uri": {callback}, "response_type": {"code"},
		"scope": {"openid email offline_access"}, "state": {"s"}}
	resp, err := b.Get(issuer + "/authorize?" + q.Encode())
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	resp, err = b.Get(issuer + resp.Header.Get("Location"))
	if err != nil {
		return nil, err
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	f := url.Values{"email": {email}, "password": {pw}}
	for _, m := range fieldRE.FindAllStringSubmatch(string(page), -1) {
		f.Set(m[1], m[2])
	}
	if f.Get("csrf") == "" {
		return nil, fmt.Errorf("no login form (%d)", resp.StatusCode)
	}
	return f, nil
}

// loginForm prepares a repeatable login POST: cookies, newline, body.
func loginForm(issuer string) (string, error) {
	b := browser()
	f, err := loginPage(b, issuer, "web")
	if err != nil {
		return "", err
	}
	u, _ := url.Parse(issuer)
	var cookies []string
	for _, c := range b.Jar.Cookies(u) {
		cookies = append(cookies, c.Name+"="+c.Value)
	}
	return strings.Join(cookies, "; ") + "\n" + f.Encode(), nil
}

type tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// login runs a full code flow for client and returns its tokens.
func login(issuer, client string) (tokens, error) {
	b := browser()
	f, err := loginPage(b, issuer, client)
	if err != nil {
		return tokens{}, err
	}
	resp, err := b.PostForm(issuer+"/login", f)
	if err != nil {
		return tokens{}, err
	}
	resp.Body.Close()
	resp, err = b.Get(resp.Header.Get("Location"))
	if err != nil {
		return tokens{}, err
	}
	resp.Body.Close()
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || back.Query().Get("code") == "" {
		return tokens{}, fmt.Errorf("no code: %s", resp.Header.Get("Location"))
	}
	req, _ := tokenReq(issuer+"/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")},
		"redirect_uri": {callback}}.Encode(), client, webSecret)
	resp, err = b.Do(req)
	if err != nil {
		return tokens{}, err
	}
	defer resp.Body.Close()
	var t tokens
	if err := json.NewDecoder(resp.Body).Decode(&t); err != nil || t.RefreshToken == "" {
		return t, fmt.Errorf("token response %d", resp.StatusCode)
	}
	return t, nil
}

// limitedWriter keeps the first n bytes written to it and drops the rest.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		_, _ = l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}
