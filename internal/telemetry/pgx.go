package telemetry

import (
	"context"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// QueryTracer makes a client span for every PostgreSQL statement, named
// after the statement's first word; the SQL text goes along (our
// statements are parameterized: arguments, which may hold personal data,
// never do). Next, when set, is told too (a test's counter).
type QueryTracer struct{ Next pgx.QueryTracer }

type spanKey struct{}

// TraceQueryStart implements pgx.QueryTracer.
func (q QueryTracer) TraceQueryStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if q.Next != nil {
		ctx = q.Next.TraceQueryStart(ctx, conn, data)
	}
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx // no trace to join: no span per statement
	}
	ctx, span := Span(ctx, "db "+verb(data.SQL), attribute.String("db.system", "postgresql"),
		attribute.String("db.statement", data.SQL))
	return context.WithValue(ctx, spanKey{}, span)
}

// TraceQueryEnd implements pgx.QueryTracer.
func (q QueryTracer) TraceQueryEnd(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryEndData) {
	if span, ok := ctx.Value(spanKey{}).(trace.Span); ok {
		End(span, data.Err)
	}
	if q.Next != nil {
		q.Next.TraceQueryEnd(ctx, conn, data)
	}
}

// verb is the statement's first word, upper-cased (SELECT, INSERT, WITH…).
func verb(sql string) string {
	start := -1
	for i, r := range sql {
		switch {
		case r == ' ' || r == '\n' || r == '\t' || r == '(':
			if start >= 0 {
				return upper(sql[start:i])
			}
		case start < 0:
			start = i
		}
	}
	if start >= 0 {
		return upper(sql[start:])
	}
	return "QUERY"
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}
