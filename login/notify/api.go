package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// SendGridConfig configures email through the SendGrid v3 API.
type SendGridConfig struct {
	APIKey string `yaml:"api_key"`
	From   string `yaml:"from"`
	// BaseURL defaults to SendGrid's public API.
	BaseURL string `yaml:"base_url"`
}

// SendGrid sends email over the SendGrid v3 mail/send API.
type SendGrid struct {
	cfg    SendGridConfig
	client *http.Client
}

var _ EmailSender = (*SendGrid)(nil)

// NewSendGrid validates cfg; client may be nil.
func NewSendGrid(cfg SendGridConfig, client *http.Client) (*SendGrid, error) {
	if cfg.APIKey == "" || cfg.From == "" {
		return nil, errors.New("notify: sendgrid needs api_key and from")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = "https://api.sendgrid.com"
	}
	return &SendGrid{cfg: cfg, client: httpClient(client)}, nil
}

// SendEmail implements EmailSender.
func (s *SendGrid) SendEmail(ctx context.Context, m Email) error {
	type addr struct {
		Email string `json:"email"`
	}
	body, _ := json.Marshal(map[string]any{
		"personalizations": []map[string]any{{"to": []addr{{m.To}}}},
		"from":             addr{s.cfg.From},
		"subject":          m.Subject,
		"content":          []map[string]string{{"type": "text/plain", "value": m.Text}},
	})
	return retry(ctx, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(s.cfg.BaseURL, "/")+"/v3/mail/send", bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("%w: %w", ErrRejected, err)
		}
		req.Header.Set("Authorization", "Bearer "+s.cfg.APIKey)
		req.Header.Set("Content-Type", "application/json")
		return do(s.client, req, "sendgrid")
	})
}

// TwilioConfig configures SMS through Twilio's Messages API.
type TwilioConfig struct {
	AccountSID string `yaml:"account_sid"`
	AuthToken  string `yaml:"auth_token"`
	From       string `yaml:"from"`
	// BaseURL defaults to Twilio's public API.
	BaseURL string `yaml:"base_url"`
}

// Twilio sends SMS over Twilio's REST API.
type Twilio struct {
	cfg    TwilioConfig
	client *http.Client
}

var _ SMSSender = (*Twilio)(nil)

// NewTwilio validates cfg; client may be nil.
func NewTwilio(cfg TwilioConfig, client *http.Client) (*Twilio, error) {
	if cfg.AccountSID == "" || cfg.AuthToken == "" || cfg.From == "" {
		return nil, errors.New("notify: twilio needs account_sid, auth_token and from")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = "https://api.twilio.com"
	}
	return &Twilio{cfg: cfg, client: httpClient(client)}, nil
}

// SendSMS implements SMSSender.
func (t *Twilio) SendSMS(ctx context.Context, m SMS) error {
	form := url.Values{"To": {m.To}, "From": {t.cfg.From}, "Body": {m.Body}}.Encode()
	endpoint := fmt.Sprintf("%s/2010-04-01/Accounts/%s/Messages.json", strings.TrimRight(t.cfg.BaseURL, "/"), url.PathEscape(t.cfg.AccountSID))
	return retry(ctx, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form))
		if err != nil {
			return fmt.Errorf("%w: %w", ErrRejected, err)
		}
		req.SetBasicAuth(t.cfg.AccountSID, t.cfg.AuthToken)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return do(t.client, req, "twilio")
	})
}

func do(c *http.Client, req *http.Request, provider string) error {
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, provider, err)
	}
	defer resp.Body.Close()
	return classify(provider, resp)
}
