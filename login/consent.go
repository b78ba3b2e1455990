package login

import (
	"net/http"
	"strings"

	"github.com/optibid/idp/login/web"
	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/storage"
)

var scopeText = map[string]string{
	"openid":         "Sign you in",
	"profile":        "See your name",
	"email":          "See your email address",
	"offline_access": "Stay connected when you are not using it",
	"org":            "See your organization and your role in it",
	"entitlements":   "See which features your organization has",
}

type consentData struct {
	ID, CSRF, ClientName, Email string
	Scopes                      []web.Phrase
}

// consentRequest loads what both consent handlers need (the request for
// this browser, its client, the session) and checks that the sign-in has
// reached the consent step: everything before it (the sign-in itself,
// prompt=login, max_age, a second factor, step-up, a verified email, the
// organization) is settled. Otherwise it sends the browser to what is
// owed and reports false.
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
	st, err := h.owed(r.Context(), ar, c, s, u, live, false)
	if err != nil {
		h.fail(w, r, "sign-in state", err)
		return ar, c, s, u, false
	}
	if st != stepConsent {
		h.advance(w, r, ar, c, s, u, live, false)
		return ar, c, s, u, false
	}
	return ar, c, s, u, true
}

func (h *Handler) consentPage(w http.ResponseWriter, r *http.Request) {
	ar, c, _, u, ok := h.consentRequest(w, r, r.URL.Query().Get("id"))
	if !ok {
		return
	}
	var scopes []web.Phrase
	for _, s := range ar.Scopes {
		scopes = append(scopes, h.describeScope(s, ar.Resources))
	}
	for _, id := range ar.Resources {
		if api, ok := h.apiNamed(id); ok {
			scopes = append(scopes, web.Phrase{Text: "Use {{.API}} for you", Data: map[string]any{"API": api.Name}})
		}
	}
	h.render(w, r, http.StatusOK, "consent", consentData{ID: ar.ID, CSRF: h.csrfToken(h.Cookies.BrowserID(r)),
		ClientName: c.Name, Email: u.Email, Scopes: scopes})
}

func (h *Handler) consentSubmit(w http.ResponseWriter, r *http.Request) {
	if !h.checkForm(w, r) {
		return
	}
	ar, c, s, u, ok := h.consentRequest(w, r, r.PostForm.Get("id"))
	if !ok {
		return
	}
	if r.PostForm.Get("decision") != "allow" {
		_ = h.Store.AppendAudit(r.Context(), h.audit(r, manage.EventConsentDenied, u.ID, ar.ClientID, nil))
		http.Redirect(w, r, h.ErrorRedirectURL(r.Context(), ar, "access_denied", "the user denied the request"), http.StatusSeeOther)
		return
	}
	// The grant is remembered, so the same (or a smaller) request does not
	// ask again; the audit row commits with it.
	if err := h.Store.GrantConsent(r.Context(), storage.Consent{UserID: u.ID, ClientID: ar.ClientID, Scopes: ar.Scopes, Resources: ar.Resources},
		h.audit(r, manage.EventConsentGranted, u.ID, ar.ClientID, map[string]string{"scope": strings.Join(ar.Scopes, " "),
			"resources": strings.Join(ar.Resources, " ")})); err != nil {
		h.fail(w, r, "grant consent", err)
		return
	}
	h.advance(w, r, ar, c, s, u, true, true)
}

// describeScope says in words what a scope lets the client do: the
// standard ones from scopeText, an API's from its registered description
// (named after the API), anything else as a named permission.
func (h *Handler) describeScope(scope string, resources []string) web.Phrase {
	if t, ok := scopeText[scope]; ok {
		return web.Say(t)
	}
	if strings.HasPrefix(scope, "org:") {
		return web.Phrase{Text: "See your role in the organization {{.Org}}", Data: map[string]any{"Org": strings.TrimPrefix(scope, "org:")}}
	}
	described := func(api storage.API) (web.Phrase, bool) {
		for _, sc := range api.Scopes {
			if sc.Name == scope && sc.Description != "" {
				// The API's own words, in the language its owner wrote them.
				return web.Phrase{Text: "{{.API}}: {{.Description}}", Data: map[string]any{"API": api.Name, "Description": sc.Description}}, true
			}
		}
		return web.Phrase{}, false
	}
	for _, id := range resources {
		if api, ok := h.apiNamed(id); ok {
			if p, ok := described(api); ok {
				return p
			}
		}
	}
	// A scope that selects its API (no resource named): the one API that
	// defines it says what it is.
	if h.APIsWithScope != nil {
		if apis := h.APIsWithScope(scope); len(apis) == 1 {
			if p, ok := described(apis[0]); ok {
				return p
			}
		}
	}
	return web.Phrase{Text: "Use the “{{.Scope}}” permission", Data: map[string]any{"Scope": scope}}
}

func (h *Handler) apiNamed(id string) (storage.API, bool) {
	if h.API == nil {
		return storage.API{}, false
	}
	return h.API(id)
}
