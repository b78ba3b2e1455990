// Package pgtest gives tests a real, throwaway PostgreSQL.
//
// With OPTIBID_TEST_DATABASE_URL set, tests use that server. Otherwise the
// first caller in a test binary starts a private cluster from the system's
// initdb/postgres (on a free loopback port, in a temporary directory, as the
// postgres user when the tests run as root), and Main removes it at exit.
// Every test gets a fresh database. When PostgreSQL cannot run, tests skip
// with a loud message, or fail when OPTIBID_REQUIRE_POSTGRES=1 (as in CI).
package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/optibid/idp/internal/random"
)

var (
	once     sync.Once
	baseDSN  string
	startErr error
	cluster  *server
)

type server struct {
	cmd  *exec.Cmd
	dir  string
	done chan struct{}
}

// Main runs the tests of a package and stops the cluster afterwards. Call it
// from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if cluster != nil {
		cluster.stop()
	}
	os.Exit(code)
}

// DSN returns the connection string of a new, empty database, or skips (or
// fails, under OPTIBID_REQUIRE_POSTGRES=1) the test when PostgreSQL cannot
// run here.
func DSN(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		if u := os.Getenv("OPTIBID_TEST_DATABASE_URL"); u != "" {
			baseDSN = u
			return
		}
		cluster, baseDSN, startErr = start()
	})
	if startErr != nil {
		msg := fmt.Sprintf("\n\n*** PostgreSQL tests NOT RUN: %v ***\n*** install PostgreSQL (initdb, postgres) or set OPTIBID_TEST_DATABASE_URL ***\n", startErr)
		if os.Getenv("OPTIBID_REQUIRE_POSTGRES") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, baseDSN)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	name := "t_" + random.ID()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	cfg, err := pgx.ParseConfig(baseDSN)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, name)
}

// binDir finds the directory holding initdb: PATH first, then Debian's
// versioned directories (newest first).
func binDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(real), nil
		}
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("initdb not found")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// asPostgres wraps a command so that it runs as the postgres user when we
// are root: initdb and postgres refuse to run as root.
func asPostgres(name string, args ...string) (*exec.Cmd, *user.User, error) {
	if os.Geteuid() != 0 {
		return exec.Command(name, args...), nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, nil, fmt.Errorf("running as root and no postgres user: %w", err)
	}
	return exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args...)...), u, nil
}

func start() (*server, string, error) {
	bin, err := binDir()
	if err != nil {
		return nil, "", err
	}
	dir, err := os.MkdirTemp("", "optibid-pgtest-")
	if err != nil {
		return nil, "", err
	}
	data := filepath.Join(dir, "data")
	init, pgUser, err := asPostgres(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", err
	}
	if pgUser != nil {
		uid, _ := strconv.Atoi(pgUser.Uid)
		gid, _ := strconv.Atoi(pgUser.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, "", err
		}
	}
	if out, err := init.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, "", fmt.Errorf("initdb: %v: %s", err, lastLines(out))
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", err
	}
	cmd, _, _ := asPostgres(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port),
		"-h", "127.0.0.1", "-k", dir, "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=300", "-c", "shared_buffers=128MB")
	logf, _ := os.Create(filepath.Join(dir, "postgres.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, "", fmt.Errorf("start postgres: %w", err)
	}
	s := &server{cmd: cmd, dir: dir, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.done) }()
	dsn := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, dsn)
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return s, dsn, nil
		}
		select {
		case <-s.done:
			log, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
			os.RemoveAll(dir)
			return nil, "", fmt.Errorf("postgres exited: %s", lastLines(log))
		default:
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, "", fmt.Errorf("postgres did not accept connections: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *server) stop() {
	if s.cmd.Process != nil {
		// runuser forwards SIGTERM to postgres: a "smart" shutdown; escalate
		// to SIGINT (fast) if it lingers.
		_ = s.cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
	os.RemoveAll(s.dir)
}

func lastLines(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, " | ")
}
