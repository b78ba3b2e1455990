package login

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/optibid/idp/internal/httpx"
	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/storage"
)

// logoutRequest is a validated RP-initiated logout request.
type logoutRequest struct {
	clientID, clientName, redirectURI, state string
	hintSubject                              string
	// vouched: the client is the operator's or belongs to an organization
	// with a verified domain. mayRedirect: vouched, and the request carries
	// a valid id_token_hint for the client or the signed-in user confirmed.
	// Otherwise the browser sees our signed-out page, never a bounce to an
	// address anyone could register.
	vouched, mayRedirect bool
}

// parseLogout validates an end_session request (OIDC RP-Initiated Logout
// 1.0): the hint must be ours, the client must match it, and a
// post_logout_redirect_uri must be registered for the client exactly, or
// nobody is redirected anywhere.
func (h *Handler) parseLogout(ctx context.Context, form url.Values) (logoutRequest, string) {
	lr := logoutRequest{clientID: form.Get("client_id"), redirectURI: form.Get("post_logout_redirect_uri"), state: form.Get("state")}
	if hint := form.Get("id_token_hint"); hint != "" {
		sub, azp, err := h.IDTokenHint(ctx, hint)
		if err != nil {
			return lr, "The sign-out request is not valid."
		}
		if lr.clientID != "" && lr.clientID != azp {
			return lr, "The sign-out request is not valid."
		}
		lr.clientID, lr.hintSubject = azp, sub
	}
	if lr.clientID != "" {
		c, err := h.Clients.Client(ctx, lr.clientID)
		if errors.Is(err, storage.ErrNotFound) {
			return lr, "The application that sent you here is not registered."
		}
		if err != nil {
			return lr, unavailable
		}
		lr.clientName = c.Name
		if lr.redirectURI != "" && !slices.Contains(c.PostLogoutRedirectURIs, lr.redirectURI) {
			return lr, "The application's sign-out return address is not registered."
		}
		if lr.vouched, err = h.ClientVouched(ctx, c); err != nil {
			return lr, unavailable
		}
		lr.mayRedirect = lr.hintSubject != "" && lr.vouched
	} else if lr.redirectURI != "" {
		return lr, "The sign-out request does not name its application."
	}
	return lr, ""
}

// target is where the browser goes after logout.
func (lr logoutRequest) target() string {
	if lr.redirectURI == "" || !lr.mayRedirect {
		return "/logged-out"
	}
	u, _ := url.Parse(lr.redirectURI)
	if lr.state != "" {
		q := u.Query()
		q.Set("state", lr.state)
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// logoutPage ends the session at once when the id_token_hint names the
// signed-in user; otherwise it asks the user to confirm, so that no third
// party can sign a user out (or bounce them) with a bare link.
func (h *Handler) logoutPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	lr, msg := h.parseLogout(ctx, r.URL.Query())
	if msg != "" {
		h.Error(w, r, http.StatusBadRequest, msg, "reason", "logout request refused", "post_logout_redirect_uri",
			httpx.Clip(r.FormValue("post_logout_redirect_uri")), "client_id", httpx.Clip(r.FormValue("client_id")))
		return
	}
	s, _, live, err := h.currentSession(ctx, r)
	if err != nil {
		h.fail(w, r, "load session", err)
		return
	}
	switch {
	case !live:
		h.clearSessionCookie(w)
		http.Redirect(w, r, lr.target(), http.StatusFound)
	case lr.hintSubject != "" && lr.hintSubject == s.UserID:
		h.endSession(w, r, s, lr)
	default:
		browser := h.Cookies.EnsureBrowserID(w, r)
		h.render(w, r, http.StatusOK, "logout", map[string]string{"CSRF": h.csrfToken(browser), "ClientID": lr.clientID,
			"ClientName": lr.clientName, "RedirectURI": lr.redirectURI, "State": lr.state})
	}
}

func (h *Handler) logoutSubmit(w http.ResponseWriter, r *http.Request) {
	if !h.checkForm(w, r) {
		return
	}
	lr, msg := h.parseLogout(r.Context(), r.PostForm)
	if msg != "" {
		h.Error(w, r, http.StatusBadRequest, msg, "reason", "logout request refused", "post_logout_redirect_uri",
			httpx.Clip(r.FormValue("post_logout_redirect_uri")), "client_id", httpx.Clip(r.FormValue("client_id")))
		return
	}
	if r.PostForm.Get("decision") != "logout" {
		http.Redirect(w, r, lr.target(), http.StatusSeeOther)
		return
	}
	s, _, live, err := h.currentSession(r.Context(), r)
	if err != nil {
		h.fail(w, r, "load session", err)
		return
	}
	if !live {
		h.clearSessionCookie(w)
		http.Redirect(w, r, lr.target(), http.StatusSeeOther)
		return
	}
	lr.mayRedirect = lr.vouched // the signed-in user confirmed
	h.endSession(w, r, s, lr)
}

func (h *Handler) endSession(w http.ResponseWriter, r *http.Request, s storage.Session, lr logoutRequest) {
	if err := h.Store.RevokeSession(r.Context(), s.IDHash, h.now(), h.audit(r, manage.EventLogout, s.UserID, lr.clientID, nil)); err != nil {
		h.fail(w, r, "end session", err)
		return
	}
	h.clearSessionCookie(w)
	http.Redirect(w, r, lr.target(), http.StatusSeeOther)
}

func (h *Handler) loggedOut(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "loggedout", nil)
}
