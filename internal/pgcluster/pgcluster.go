// Package pgcluster runs a private, throwaway PostgreSQL cluster from the
// system's initdb/postgres binaries: on a free loopback port, in a
// temporary directory, as the postgres user when the caller is root (the
// binaries refuse to run as root). Tests (via storage/postgres/pgtest) and
// the load generator use it.
package pgcluster

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/optibid/idp/internal/random"
)

// Cluster is a running throwaway server.
type Cluster struct {
	cmd  *exec.Cmd
	dir  string // holds data/, the socket and postgres.log
	done chan struct{}
	dsn  string
}

// DSN is the superuser connection string of the maintenance database.
func (c *Cluster) DSN() string { return c.dsn }

// NewDatabase creates an empty database on the server at baseDSN and
// returns its connection string.
func NewDatabase(ctx context.Context, baseDSN string) (string, error) {
	return NewDatabaseFrom(ctx, baseDSN, "")
}

// NewDatabaseFrom creates a database on the server at baseDSN as a copy of
// the database template (an empty one when template is "") and returns its
// connection string. PostgreSQL refuses to copy a template while any other
// session is connected to it, so whoever prepared the template must have
// closed every connection to it.
func NewDatabaseFrom(ctx context.Context, baseDSN, template string) (string, error) {
	conn, err := pgx.Connect(ctx, baseDSN)
	if err != nil {
		return "", fmt.Errorf("pgcluster: connect: %w", err)
	}
	defer conn.Close(ctx)
	name := "t_" + random.ID()
	sql := "CREATE DATABASE " + name
	if template != "" {
		sql += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	if _, err := conn.Exec(ctx, sql); err != nil {
		return "", fmt.Errorf("pgcluster: create database: %w", err)
	}
	return WithDatabase(baseDSN, name)
}

// WithDatabase returns baseDSN (a URL or a keyword/value string) with its
// database replaced by name, keeping user, password and options.
func WithDatabase(baseDSN, name string) (string, error) {
	if strings.HasPrefix(baseDSN, "postgres://") || strings.HasPrefix(baseDSN, "postgresql://") {
		u, err := url.Parse(baseDSN)
		if err != nil {
			return "", fmt.Errorf("pgcluster: parse dsn: %w", err)
		}
		u.Path, u.RawPath = "/"+name, ""
		return u.String(), nil
	}
	if _, err := pgx.ParseConfig(baseDSN); err != nil {
		return "", fmt.Errorf("pgcluster: parse dsn: %w", err)
	}
	return strings.TrimSpace(baseDSN) + " dbname=" + name, nil // the last setting wins
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

// Start initializes and starts a cluster; Stop removes it.
func Start() (*Cluster, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "optibid-pgtest-")
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	init, pgUser, err := asPostgres(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if pgUser != nil {
		uid, _ := strconv.Atoi(pgUser.Uid)
		gid, _ := strconv.Atoi(pgUser.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	if out, err := init.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, lastLines(out))
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cmd, _, _ := asPostgres(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port),
		"-h", "127.0.0.1", "-k", dir, "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=300", "-c", "shared_buffers=128MB")
	logf, _ := os.Create(filepath.Join(dir, "postgres.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	c := &Cluster{cmd: cmd, dir: dir, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(c.done) }()
	dsn := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, dsn)
		cancel()
		if err == nil {
			conn.Close(context.Background())
			c.dsn = dsn
			return c, nil
		}
		select {
		case <-c.done:
			log, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
			os.RemoveAll(dir)
			return nil, fmt.Errorf("postgres exited: %s", lastLines(log))
		default:
		}
		if time.Now().After(deadline) {
			c.Stop()
			return nil, fmt.Errorf("postgres did not accept connections: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop shuts the server down and removes its files.
//
// It signals the postmaster itself: when we run it through runuser, runuser
// does not pass SIGINT on, and killing runuser would orphan the server.
func (c *Cluster) Stop() {
	if c.cmd.Process != nil {
		postmaster := c.postmaster()
		_ = postmaster.Signal(os.Interrupt) // fast shutdown
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			_ = postmaster.Signal(syscall.SIGQUIT) // immediate shutdown
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	}
	os.RemoveAll(c.dir)
}

// postmaster finds the server by the PID in its lock file, falling back on
// the process we started (the server itself unless runuser wraps it).
func (c *Cluster) postmaster() *os.Process {
	b, err := os.ReadFile(filepath.Join(c.dir, "data", "postmaster.pid"))
	if err == nil {
		first, _, _ := strings.Cut(string(b), "\n")
		if pid, err := strconv.Atoi(strings.TrimSpace(first)); err == nil && pid > 0 {
			if p, err := os.FindProcess(pid); err == nil {
				return p
			}
		}
	}
	return c.cmd.Process
}

func lastLines(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, " | ")
}
