package notify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/wneessen/go-mail"
)

// SMTPConfig configures delivery through an SMTP server.
type SMTPConfig struct {
	Host     string `yaml:"host"`
	Port     int    `yaml:"port"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	From     string `yaml:"from"`
	// TLS: "starttls" (default, required), "tls" (implicit, port 465) or
	// "none" (only for a relay on the same host).
	TLS string `yaml:"tls"`
}

// SMTP sends email through an SMTP server.
type SMTP struct{ cfg SMTPConfig }

var _ EmailSender = (*SMTP)(nil)

// NewSMTP validates cfg.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	if cfg.Host == "" || cfg.From == "" {
		return nil, errors.New("notify: smtp needs host and from")
	}
	if cfg.Port == 0 {
		cfg.Port = 587
	}
	switch cfg.TLS {
	case "":
		cfg.TLS = "starttls"
	case "starttls", "tls", "none":
	default:
		return nil, fmt.Errorf("notify: smtp tls %q must be starttls, tls or none", cfg.TLS)
	}
	return &SMTP{cfg: cfg}, nil
}

// SendEmail implements EmailSender.
func (s *SMTP) SendEmail(ctx context.Context, m Email) error {
	msg := mail.NewMsg()
	if err := msg.From(s.cfg.From); err != nil {
		return fmt.Errorf("%w: from: %w", ErrRejected, err)
	}
	if err := msg.To(m.To); err != nil {
		return fmt.Errorf("%w: to: %w", ErrRejected, err)
	}
	msg.SetUserAgent("OptiBid Identity")
	msg.Subject(m.Subject)
	msg.SetBodyString(mail.TypeTextPlain, m.Text)
	opts := []mail.Option{mail.WithPort(s.cfg.Port), mail.WithTimeout(10 * time.Second)}
	switch s.cfg.TLS {
	case "tls":
		opts = append(opts, mail.WithSSL())
	case "none":
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	}
	if s.cfg.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthPlain), mail.WithUsername(s.cfg.Username), mail.WithPassword(s.cfg.Password))
	}
	client, err := mail.NewClient(s.cfg.Host, opts...)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRejected, err)
	}
	return retry(ctx, func(ctx context.Context) error {
		err := client.DialAndSendWithContext(ctx, msg)
		var ne net.Error
		var se *mail.SendError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &se) && !se.IsTemp():
			return fmt.Errorf("%w: smtp: %w", ErrRejected, err)
		case errors.As(err, &ne), errors.As(err, &se):
			return fmt.Errorf("%w: smtp: %w", ErrUnavailable, err)
		}
		return fmt.Errorf("%w: smtp: %w", ErrUnavailable, err)
	})
}
