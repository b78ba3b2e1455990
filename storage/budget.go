package storage

import (
	"context"
	"sync"
	"time"
)

type budgetKey struct{}

// budget is the store time a request may still spend.
type budget struct {
	mu   sync.Mutex
	left time.Duration
}

// WithBudget gives the request behind ctx d of store time in all: the edge
// sets it once per request (http.request_budget). A backend bounds each
// statement by what is left and charges what it took, so a frozen or
// locked database costs a request at most d however many statements it
// makes, while time spent elsewhere (hashing a password, an upstream
// identity provider) is not charged. (Request metadata, like a deadline:
// no dependency travels this way.)
func WithBudget(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, budgetKey{}, &budget{left: d})
}

// Spend bounds one unit of store work: the returned context ends when the
// request's budget (if any) or limit runs out, whichever comes first, and
// done charges the time taken to the budget.
func Spend(ctx context.Context, limit time.Duration) (_ context.Context, done func()) {
	b, _ := ctx.Value(budgetKey{}).(*budget)
	if b == nil {
		ctx, cancel := context.WithTimeout(ctx, limit)
		return ctx, cancel
	}
	b.mu.Lock()
	limit = min(limit, max(b.left, 0))
	b.mu.Unlock()
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, limit)
	return ctx, func() {
		cancel()
		b.mu.Lock()
		b.left -= time.Since(start)
		b.mu.Unlock()
	}
}

// Unbudgeted is ctx without the request's budget: for store work that
// must follow a request's answer whatever the request spent before it
// (recording that a code exchange's answer went out). Each statement is
// still bounded by its own timeout.
func Unbudgeted(ctx context.Context) context.Context {
	return context.WithValue(ctx, budgetKey{}, (*budget)(nil))
}
