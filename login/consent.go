package login

import (
	"net/http"

	"github.com/optibid/idp/storage"
)

var scopeText = map[string]string{
	"openid":         "Sign you in",
	"profile":        "See your name",
	"email":          "See your email address",
	"offline_access": "Stay connected when you are not using it",
}

type consentData struct {
	ID, CSRF, ClientName, Email string
	Scopes                      []string
}

// consentRequest loads what both consent handlers need: the request (for
// this browser), its client and the live session.
func (h *Handler) consentRequest(w http.ResponseWriter, r *http.Request, id string) (storage.AuthRequest, storage.Client, storage.Session, storage.User, bool) {
	ar, c, ok := h.requestAndClient(w, r, id)
	if !ok {
		return ar, c, storage.Session{}, storage.User{}, false
	}
	s, u, live, err := h.currentSession(r.Context(), r)
	if err != nil {
		h.fail(w, r, "load session", err)
		return ar, c, s, u, false
	}
	if !live {
		http.Redirect(w, r, "/login?id="+ar.ID, http.StatusSeeOther)
		return ar, c, s, u, false
	}
	return ar, c, s, u, true
}

func (h *Handler) consentPage(w http.ResponseWriter, r *http.Request) {
	ar, c, _, u, ok := h.consentRequest(w, r, r.URL.Query().Get("id"))
	if !ok {
		return
	}
	var scopes []string
	for _, s := range ar.Scopes {
		if t, ok := scopeText[s]; ok {
			scopes = append(scopes, t)
		} else {
			scopes = append(scopes, "Use the “"+s+"” permission")
		}
	}
	h.render(w, r, http.StatusOK, "consent", consentData{ID: ar.ID, CSRF: h.csrfToken(h.Cookies.BrowserID(r)),
		ClientName: c.Name, Email: u.Email, Scopes: scopes})
}

func (h *Handler) consentSubmit(w http.ResponseWriter, r *http.Request) {
	if !h.checkForm(w, r) {
		return
	}
	ar, _, s, u, ok := h.consentRequest(w, r, r.PostForm.Get("id"))
	if !ok {
		return
	}
	if r.PostForm.Get("decision") != "allow" {
		_ = h.Store.AppendAudit(r.Context(), h.audit(r, "consent_denied", u.ID, ar.ClientID, nil))
		http.Redirect(w, r, h.ErrorRedirectURL(ar, "access_denied", "the user denied the request"), http.StatusSeeOther)
		return
	}
	_ = h.Store.AppendAudit(r.Context(), h.audit(r, "consent_granted", u.ID, ar.ClientID, nil))
	h.finish(w, r, ar, s)
}
