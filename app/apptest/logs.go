package apptest

import (
	"bytes"
	"strings"
	"sync"
	"testing"
)

// logBuffer keeps the provider's log lines of this test process, so that a
// failing test can show what the server said while it ran.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// logs receives the default logger's output (set by Main). The slog
// default is process-wide, so a test's excerpt may include lines of tests
// running in parallel with it; each line says which request it belongs to.
var logs = &logBuffer{}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) offset() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Len()
}

func (l *logBuffer) since(off int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if off > l.buf.Len() {
		return ""
	}
	return string(l.buf.Bytes()[off:])
}

// showLogsOnFailure prints the server log written since now when t fails.
func showLogsOnFailure(t testing.TB) {
	off := logs.offset()
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		out := logs.since(off)
		const max = 64 << 10
		if len(out) > max {
			out = "…" + out[len(out)-max:]
		}
		if strings.TrimSpace(out) != "" {
			t.Logf("server log during the test:\n%s", out)
		}
	})
}
