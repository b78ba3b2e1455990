package apptest

import (
	"strings"
	"sync"
	"testing"
)

// logBuffer keeps the recent provider log lines of this test process, so
// that a failing test can show what the server said while it ran. It
// holds at most keepLogs bytes (benchmarks log for a long time); offsets
// count every byte ever written, so a test's excerpt stays correct when
// the oldest lines are dropped.
type logBuffer struct {
	mu    sync.Mutex
	buf   []byte
	start int // offset of buf[0] in the whole log
}

const keepLogs = 8 << 20

// logs receives the default logger's output (set by Main). The slog
// default is process-wide, so a test's excerpt may include lines of tests
// running in parallel with it; each line names its request_id.
var logs = &logBuffer{}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	if drop := len(l.buf) - keepLogs; drop > 0 {
		drop = max(drop, keepLogs/4) // drop in large steps, not a line at a time
		l.buf = append(l.buf[:0], l.buf[drop:]...)
		l.start += drop
	}
	return len(p), nil
}

func (l *logBuffer) offset() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.start + len(l.buf)
}

// since returns what was written from offset off on, and whether older
// lines of that stretch were already dropped.
func (l *logBuffer) since(off int) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if off < l.start {
		return string(l.buf), true
	}
	if off-l.start > len(l.buf) {
		return "", false
	}
	return string(l.buf[off-l.start:]), false
}

// showLogsOnFailure prints the server log written from now on when t
// fails.
func showLogsOnFailure(t testing.TB) {
	off := logs.offset()
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		out, dropped := logs.since(off)
		const shown = 64 << 10
		if len(out) > shown {
			out, dropped = out[len(out)-shown:], true
		}
		if dropped {
			out = "…\n" + out
		}
		if strings.TrimSpace(out) != "" {
			t.Logf("server log during the test:\n%s", out)
		}
	})
}

// LogLines returns the provider's log lines (of every test in this
// process) that carry the request ID id.
func LogLines(id string) []string {
	all, _ := logs.since(0)
	var out []string
	for _, l := range strings.Split(all, "\n") {
		if strings.Contains(l, "request_id="+id) {
			out = append(out, l)
		}
	}
	return out
}
