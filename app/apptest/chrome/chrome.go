// Package chrome starts the real Chromium that the browser tests drive
// (login journeys, passkeys with the virtual authenticator, the console,
// the screen tour), the same way for all of them: loopback only, a
// throwaway profile, and a hard deadline.
package chrome

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Path finds a Chromium binary. Without one the test is skipped, or fails
// under OPTIBID_REQUIRE_BROWSER=1 (as in CI, which never skips them).
func Path(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "\n\n*** browser tests NOT RUN: no chromium (apt-get install chromium) ***\n"
	if os.Getenv("OPTIBID_REQUIRE_BROWSER") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Options shape one browser.
type Options struct {
	// Width and Height of the window (default 1280×900).
	Width, Height int
	// Lang is the language the browser prefers ("" for its own).
	Lang string
	// Timeout bounds everything the browser does (default 90 s).
	Timeout time.Duration
}

// Start launches Chromium (exe, from Path) and returns the context its
// actions run in; everything is stopped when the test ends. It resolves
// no name but 127.0.0.1 and localhost: every page of the tests is on
// loopback, and nothing leaves the machine.
func Start(t testing.TB, exe string, o Options) context.Context {
	t.Helper()
	if o.Width == 0 {
		o.Width, o.Height = 1280, 900
	}
	if o.Timeout == 0 {
		o.Timeout = 90 * time.Second
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1, EXCLUDE localhost"),
		chromedp.WindowSize(o.Width, o.Height), chromedp.UserDataDir(t.TempDir()))
	if o.Lang != "" {
		opts = append(opts, chromedp.Flag("lang", o.Lang), chromedp.Flag("accept-lang", o.Lang))
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	t.Cleanup(cancelCtx)
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	t.Cleanup(cancel)
	// The first call starts the browser and ties it to this context; the
	// tests' steps run under shorter contexts derived from it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// ScreenshotDir is where a test saves its screenshots:
// $OPTIBID_SCREENSHOTS (relative to the repository root, e.g.
// docs/screenshots), created; when that is unset, a temporary directory
// if temp, else "" (none).
func ScreenshotDir(t testing.TB, temp bool) string {
	t.Helper()
	dir := os.Getenv("OPTIBID_SCREENSHOTS")
	if dir == "" {
		if temp {
			return t.TempDir()
		}
		return ""
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(repoRoot(t), dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// repoRoot is the nearest directory above the test's own that holds
// go.mod (tests run in their package's directory).
func repoRoot(t testing.TB) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			t.Fatalf("no go.mod above %s", dir)
		}
	}
}
