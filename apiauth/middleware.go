package apiauth

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
)

type tokenKey struct{}

// FromContext returns the token Middleware verified for this request.
func FromContext(ctx context.Context) (*Token, bool) {
	t, ok := ctx.Value(tokenKey{}).(*Token)
	return t, ok && t != nil
}

// Middleware verifies the request's `Authorization: Bearer` token and
// passes the request on with the *Token in its context (FromContext). It
// answers, per RFC 6750, 401 when the token is missing (a bare challenge)
// or fails verification (error="invalid_token"), 400 when the header is
// malformed, and 503 with Retry-After when the issuer cannot be reached.
// A request whose context already holds a verified token is passed on
// as is, so Middleware may wrap a handler more than once.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := FromContext(r.Context()); ok {
			next.ServeHTTP(w, r)
			return
		}
		raw, status := bearer(r)
		switch status {
		case http.StatusUnauthorized:
			v.deny(w, status, v.challenge(""), "unauthorized", "This API requires an access token.")
			return
		case http.StatusBadRequest:
			v.deny(w, status, v.challenge(`error="invalid_request"`), "invalid_request", "The Authorization header is malformed.")
			return
		}
		tok, err := v.Verify(r.Context(), raw)
		switch {
		case err == nil:
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tokenKey{}, tok)))
		case errors.Is(err, ErrInvalidToken):
			v.log.LogAttrs(r.Context(), slog.LevelInfo, "access token rejected", slog.String("error", err.Error()))
			v.deny(w, http.StatusUnauthorized, v.challenge(`error="invalid_token"`), "invalid_token", "The access token is invalid or has expired.")
		default:
			v.log.LogAttrs(r.Context(), slog.LevelWarn, "access token not verifiable", slog.String("error", err.Error()))
			w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(v.cfg.JWKSRefreshMinInterval.Seconds())))))
			v.deny(w, http.StatusServiceUnavailable, "", "temporarily_unavailable", "Access tokens cannot be verified right now. Retry later.")
		}
	})
}

// RequireScope lets through requests whose token was granted scope and
// answers others 403 with an RFC 6750 insufficient_scope challenge. It
// applies Middleware itself when no earlier one did.
func (v *Verifier) RequireScope(scope string) func(http.Handler) http.Handler {
	return v.require(func(t *Token) bool { return t.HasScope(scope) }, func(w http.ResponseWriter) {
		v.deny(w, http.StatusForbidden, v.challenge(`error="insufficient_scope", scope=`+quote(scope)),
			"insufficient_scope", "The access token lacks the scope "+strconv.Quote(scope)+".")
	})
}

// RequirePermission lets through requests whose user holds permission p in
// the token's organization and answers others 403 with a JSON error.
func (v *Verifier) RequirePermission(p string) func(http.Handler) http.Handler {
	return v.require(func(t *Token) bool { return t.HasPermission(p) }, func(w http.ResponseWriter) {
		v.deny(w, http.StatusForbidden, "", "insufficient_permission", "Your role does not grant the permission "+strconv.Quote(p)+".")
	})
}

// RequireFeature lets through requests whose organization has feature f
// enabled and answers others 403 with a JSON error.
func (v *Verifier) RequireFeature(f string) func(http.Handler) http.Handler {
	return v.require(func(t *Token) bool { return t.HasFeature(f) }, func(w http.ResponseWriter) {
		v.deny(w, http.StatusForbidden, "", "feature_not_enabled", "Your organization does not have the feature "+strconv.Quote(f)+".")
	})
}

func (v *Verifier) require(allowed func(*Token) bool, refuse func(http.ResponseWriter)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tok, _ := FromContext(r.Context()); !allowed(tok) {
				refuse(w)
				return
			}
			next.ServeHTTP(w, r)
		}))
	}
}

// bearer extracts the token of an `Authorization: Bearer` header. The
// status is 401 when there is no bearer token at all, 400 when the header
// is malformed, 0 otherwise.
func bearer(r *http.Request) (string, int) {
	values := r.Header.Values("Authorization")
	switch {
	case len(values) == 0:
		return "", http.StatusUnauthorized
	case len(values) > 1:
		return "", http.StatusBadRequest
	}
	scheme, token, _ := strings.Cut(values[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", http.StatusUnauthorized
	}
	token = strings.TrimSpace(token)
	if token == "" || strings.ContainsAny(token, " \t") {
		return "", http.StatusBadRequest
	}
	return token, 0
}

// challenge is a WWW-Authenticate value: the realm, then params.
func (v *Verifier) challenge(params string) string {
	c := "Bearer realm=" + quote(v.cfg.Realm)
	if params != "" {
		c += ", " + params
	}
	return c
}

// deny writes a JSON error with fixed text: never an error's own.
func (v *Verifier) deny(w http.ResponseWriter, status int, challenge, code, description string) {
	h := w.Header()
	if challenge != "" {
		h.Set("WWW-Authenticate", challenge)
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	body, _ := json.Marshal(map[string]string{"error": code, "error_description": description})
	_, _ = w.Write(append(body, '\n'))
}

// quote makes s an RFC 7230 quoted-string, dropping control characters.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range s {
		switch {
		case c < 0x20 || c == 0x7f:
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteRune(c)
		default:
			b.WriteRune(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
