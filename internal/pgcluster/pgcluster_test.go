package pgcluster

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestWithDatabase(t *testing.T) {
	for _, tc := range []struct{ base, want string }{
		{"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "postgres://postgres@127.0.0.1:5432/t_1?sslmode=disable"},
		{"postgresql://u:p%40ss@db:6543/main?sslmode=require&application_name=x", "postgresql://u:p%40ss@db:6543/t_1?sslmode=require&application_name=x"},
		{"postgres://u@db", "postgres://u@db/t_1"},
		{"host=db user=u password=secret dbname=main sslmode=disable", "host=db user=u password=secret dbname=main sslmode=disable dbname=t_1"},
	} {
		got, err := WithDatabase(tc.base, "t_1")
		if err != nil || got != tc.want {
			t.Errorf("WithDatabase(%q) = %q, %v; want %q", tc.base, got, err, tc.want)
			continue
		}
		cfg, err := pgx.ParseConfig(got)
		if err != nil || cfg.Database != "t_1" {
			t.Errorf("%q parses to database %q (%v)", got, cfg.Database, err)
		}
	}
}

// A cluster copies templates, and Stop ends the server itself (not only
// the runuser wrapping it) promptly.
func TestClusterTemplateAndStop(t *testing.T) {
	c, err := Start()
	if err != nil {
		if os.Getenv("OPTIBID_REQUIRE_POSTGRES") == "1" {
			t.Fatal(err)
		}
		t.Skipf("PostgreSQL cannot run here: %v", err)
	}
	stopped := false
	defer func() {
		if !stopped {
			c.Stop()
		}
	}()
	ctx := context.Background()
	tmpl, err := NewDatabase(ctx, c.DSN())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, tmpl)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE marker (id int); INSERT INTO marker VALUES (42)`); err != nil {
		t.Fatal(err)
	}
	tmplName := conn.Config().Database
	conn.Close(ctx)

	dsn, err := NewDatabaseFrom(ctx, c.DSN(), tmplName)
	if err != nil {
		t.Fatal(err)
	}
	conn, err = pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	var id int
	if err := conn.QueryRow(ctx, `SELECT id FROM marker`).Scan(&id); err != nil || id != 42 {
		t.Fatalf("copy of the template: %d %v", id, err)
	}
	conn.Close(ctx)

	postmaster := c.postmaster()
	start := time.Now()
	c.Stop()
	stopped = true
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Stop took %v", took)
	}
	if err := postmaster.Signal(syscall.Signal(0)); err == nil {
		t.Errorf("the server (pid %d) still runs after Stop", postmaster.Pid)
	}
	if _, err := os.Stat(c.dir); !os.IsNotExist(err) {
		t.Errorf("Stop left %s: %v", c.dir, err)
	}
}
