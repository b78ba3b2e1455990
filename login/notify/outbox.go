package notify

import (
	"context"
	"html/template"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Outbox is the development sender: it keeps the last messages in memory
// and shows them on a page, so that `make run` needs no mail server. It
// must never be mounted in production (cmd refuses unless dev mode is on).
type Outbox struct {
	mu   sync.Mutex
	msgs []OutboxMessage
	max  int
	now  func() time.Time
}

// OutboxMessage is one kept message.
type OutboxMessage struct {
	Time              time.Time
	Kind, To, Subject string
	Body              string
}

var (
	_ EmailSender = (*Outbox)(nil)
	_ SMSSender   = (*Outbox)(nil)
)

// NewOutbox keeps the last max messages.
func NewOutbox(max int) *Outbox { return &Outbox{max: max, now: time.Now} }

func (o *Outbox) add(m OutboxMessage) {
	o.mu.Lock()
	defer o.mu.Unlock()
	m.Time = o.now().UTC()
	o.msgs = append(o.msgs, m)
	if len(o.msgs) > o.max {
		o.msgs = o.msgs[len(o.msgs)-o.max:]
	}
}

// SendEmail implements EmailSender.
func (o *Outbox) SendEmail(_ context.Context, m Email) error {
	o.add(OutboxMessage{Kind: "email", To: m.To, Subject: m.Subject, Body: m.Text})
	return nil
}

// SendSMS implements SMSSender.
func (o *Outbox) SendSMS(_ context.Context, m SMS) error {
	o.add(OutboxMessage{Kind: "sms", To: m.To, Body: m.Body})
	return nil
}

// Messages returns the kept messages, newest first.
func (o *Outbox) Messages() []OutboxMessage {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := slices.Clone(o.msgs)
	slices.Reverse(out)
	return out
}

var outboxPage = template.Must(template.New("outbox").Parse(`<!doctype html><meta charset="utf-8">
<title>Dev outbox</title><h1>Development outbox</h1><p>Messages the provider would have sent (newest first). Never enabled in production.</p>
{{range .}}<article><h2>{{.Kind}} to {{.To}}{{if .Subject}}: {{.Subject}}{{end}}</h2><p><small>{{.Time.Format "2006-01-02 15:04:05Z"}}</small></p><pre>{{.Body}}</pre></article>
{{else}}<p>Nothing sent yet.</p>{{end}}`))

// ServeHTTP shows the outbox.
func (o *Outbox) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	w.Header().Set("Cache-Control", "no-store")
	_ = outboxPage.Execute(w, o.Messages())
}
