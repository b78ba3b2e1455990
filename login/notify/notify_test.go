package notify_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/optibid/idp/login/notify"
)

var ctx = context.Background()

// mailServer is a real SMTP server on loopback that keeps what it gets.
type mailServer struct {
	mu   sync.Mutex
	got  []string
	from string
	auth string
}

func (m *mailServer) NewSession(*smtp.Conn) (smtp.Session, error) { return &mailSession{m: m}, nil }

type mailSession struct{ m *mailServer }

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "mailer" || pass != "s3cret" {
			return errors.New("bad credentials")
		}
		s.m.mu.Lock()
		s.m.auth = user
		s.m.mu.Unlock()
		return nil
	}), nil
}
func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error { s.m.from = from; return nil }
func (s *mailSession) Rcpt(string, *smtp.RcptOptions) error        { return nil }
func (s *mailSession) Data(r io.Reader) error {
	b, _ := io.ReadAll(r)
	s.m.mu.Lock()
	s.m.got = append(s.m.got, string(b))
	s.m.mu.Unlock()
	return nil
}
func (s *mailSession) Reset()        {}
func (s *mailSession) Logout() error { return nil }

func startSMTP(t *testing.T) (*mailServer, string, int) {
	ms := &mailServer{}
	srv := smtp.NewServer(ms)
	srv.AllowInsecureAuth = true
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return ms, "127.0.0.1", l.Addr().(*net.TCPAddr).Port
}

func TestSMTP(t *testing.T) {
	ms, host, port := startSMTP(t)
	s, err := notify.NewSMTP(notify.SMTPConfig{Host: host, Port: port, From: "no-reply@optibid.example", Username: "mailer", Password: "s3cret", TLS: "none"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SendEmail(ctx, notify.Email{To: "ada@example.com", Subject: "Verify your email", Text: "Open https://id.example/verify?t=abc"}); err != nil {
		t.Fatal(err)
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if len(ms.got) != 1 || !strings.Contains(ms.got[0], "Subject: Verify your email") || !strings.Contains(ms.got[0], "verify?t=3Dabc") || !strings.Contains(ms.got[0], "User-Agent: OptiBid Identity") ||
		ms.auth != "mailer" || ms.from != "no-reply@optibid.example" {
		t.Fatalf("server got %q from %q auth %q", ms.got, ms.from, ms.auth)
	}
}

// STARTTLS is mandatory by default: a server without it gets nothing.
func TestSMTPRequiresTLS(t *testing.T) {
	ms, host, port := startSMTP(t)
	s, _ := notify.NewSMTP(notify.SMTPConfig{Host: host, Port: port, From: "no-reply@optibid.example"})
	if err := s.SendEmail(ctx, notify.Email{To: "ada@example.com", Subject: "x", Text: "y"}); err == nil {
		t.Fatal("sent without TLS")
	}
	if len(ms.got) != 0 {
		t.Fatal("message delivered in clear")
	}
}

func TestSMTPDown(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s, _ := notify.NewSMTP(notify.SMTPConfig{Host: "127.0.0.1", Port: port, From: "a@b.example", TLS: "none"})
	start := time.Now()
	err := s.SendEmail(ctx, notify.Email{To: "ada@example.com", Subject: "x", Text: "y"})
	if !errors.Is(err, notify.ErrUnavailable) || time.Since(start) > 5*time.Second {
		t.Fatalf("%v after %v", err, time.Since(start))
	}
}

func TestSendGrid(t *testing.T) {
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v3/mail/send" || r.Header.Get("Authorization") != "Bearer SG.key" || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		b, _ := io.ReadAll(r.Body)
		body = string(b)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	s, _ := notify.NewSendGrid(notify.SendGridConfig{APIKey: "SG.key", From: "no-reply@optibid.example", BaseURL: srv.URL}, srv.Client())
	if err := s.SendEmail(ctx, notify.Email{To: "ada@example.com", Subject: "Reset", Text: "link"}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"email":"ada@example.com"`, `"subject":"Reset"`, `"value":"link"`, `"email":"no-reply@optibid.example"`} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %s: %s", want, body)
		}
	}
	bad, _ := notify.NewSendGrid(notify.SendGridConfig{APIKey: "wrong", From: "x@y.example", BaseURL: srv.URL}, srv.Client())
	if err := bad.SendEmail(ctx, notify.Email{To: "a@b.example"}); !errors.Is(err, notify.ErrRejected) {
		t.Fatalf("bad key: %v", err)
	}
}

// The Twilio adapter speaks the Messages API; 5xx is retried once, then
// reported unavailable (SMS MFA fails closed).
func TestTwilio(t *testing.T) {
	var calls atomic.Int32
	var form string
	fail := atomic.Bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		user, pass, _ := r.BasicAuth()
		if r.URL.Path != "/2010-04-01/Accounts/AC123/Messages.json" || user != "AC123" || pass != "tok" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if fail.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		r.ParseForm()
		form = r.PostForm.Encode()
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	tw, _ := notify.NewTwilio(notify.TwilioConfig{AccountSID: "AC123", AuthToken: "tok", From: "+15550000000", BaseURL: srv.URL}, srv.Client())
	if err := tw.SendSMS(ctx, notify.SMS{To: "+41791234567", Body: "Your code is 123456"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(form, "Body=Your+code+is+123456") || !strings.Contains(form, "To=%2B41791234567") || !strings.Contains(form, "From=%2B15550000000") {
		t.Fatalf("form %s", form)
	}
	fail.Store(true)
	calls.Store(0)
	if err := tw.SendSMS(ctx, notify.SMS{To: "+41791234567", Body: "x"}); !errors.Is(err, notify.ErrUnavailable) || calls.Load() != 2 {
		t.Fatalf("down provider: %v after %d calls", err, calls.Load())
	}
}

func TestOutbox(t *testing.T) {
	o := notify.NewOutbox(2)
	o.SendEmail(ctx, notify.Email{To: "a@example.com", Subject: "one", Text: "<b>1</b>"})
	o.SendSMS(ctx, notify.SMS{To: "+1555", Body: "two"})
	o.SendSMS(ctx, notify.SMS{To: "+1555", Body: "three"})
	m := o.Messages()
	if len(m) != 2 || m[0].Body != "three" || m[1].Body != "two" {
		t.Fatalf("%+v", m)
	}
	rec := httptest.NewRecorder()
	o.ServeHTTP(rec, httptest.NewRequest("GET", "/dev/outbox", nil))
	if !strings.Contains(rec.Body.String(), "three") || strings.Contains(rec.Body.String(), "<b>") {
		t.Fatal("outbox page")
	}
}
