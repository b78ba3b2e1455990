package login

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/optibid/idp/internal/httpx"

	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/storage"
)

const sessionCookie = "optibid_session"

// currentSession returns this browser's live SSO session and its user, or
// ok=false. A session is live when not revoked, within its absolute and
// idle timeouts, and its user is neither disabled nor locked.
func (h *Handler) currentSession(ctx context.Context, r *http.Request) (storage.Session, storage.User, bool, error) {
	raw := h.Cookies.Get(r, sessionCookie)
	if raw == "" {
		return storage.Session{}, storage.User{}, false, nil
	}
	s, err := h.Store.SessionByHash(ctx, storage.HashSecret(raw))
	if errors.Is(err, storage.ErrNotFound) {
		return s, storage.User{}, false, nil
	}
	if err != nil {
		return s, storage.User{}, false, err
	}
	now := h.now()
	if !s.RevokedAt.IsZero() || !now.Before(s.ExpiresAt) || now.Sub(s.LastSeenAt) > h.cfg.SessionIdleTimeout {
		return s, storage.User{}, false, nil
	}
	u, err := h.Store.UserByID(ctx, s.UserID)
	if errors.Is(err, storage.ErrNotFound) {
		return s, u, false, nil
	}
	if err != nil {
		return s, u, false, err
	}
	if u.Disabled || u.Locked(now) {
		return s, u, false, nil
	}
	return s, u, true, nil
}

// newSession makes a fresh session (a new ID at every login, so an ID
// planted before login is worthless afterwards) and its cookie value.
func (h *Handler) newSession(r *http.Request, userID string, amr []string) (storage.Session, string) {
	now := h.now()
	raw := random.Token(32)
	return storage.Session{IDHash: storage.HashSecret(raw), UserID: userID, AuthTime: now, AMR: amr, CreatedAt: now,
		LastSeenAt: now, ExpiresAt: now.Add(h.cfg.SessionAbsoluteTimeout), IP: clientIP(r), UserAgent: httpx.UserAgent(r)}, raw
}

func (h *Handler) setSessionCookie(w http.ResponseWriter, raw string) {
	h.Cookies.Set(w, sessionCookie, raw, int(h.cfg.SessionAbsoluteTimeout/time.Second))
}

func (h *Handler) clearSessionCookie(w http.ResponseWriter) { h.Cookies.Set(w, sessionCookie, "", -1) }
