package login

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/mux"

	"github.com/optibid/idp/login/web"
	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/storage"
)

// signInContext returns r carrying what the pages of the sign-in id show:
// the languages the application asked for (ui_locales), and the brand of
// the organization the sign-in is for, when it has one: the organization
// whose own application asks (a tenant's client), else the one the
// request names (organization= or org:<slug>). A page without a sign-in,
// or for the platform's own applications, keeps the product's look.
// Lookups that fail leave the page plain rather than failing it.
func (h *Handler) signInContext(r *http.Request, id string) *http.Request {
	if len(id) != 32 {
		return r
	}
	ctx := r.Context()
	ar, err := h.Store.AuthRequestByID(ctx, id)
	if err != nil || !h.Cookies.SameBrowser(r, ar.BrowserHash) {
		return r
	}
	if len(ar.UILocales) > 0 {
		ctx = web.WithLanguages(ctx, ar.UILocales)
		r = r.WithContext(ctx)
	}
	var o storage.Organization
	if ar.ClientID != accountClient {
		if c, err := h.Clients.Client(ctx, ar.ClientID); err == nil && c.OrgID != "" {
			o, _ = h.Store.OrganizationByID(ctx, c.OrgID)
		}
	}
	if o.ID == "" && ar.OrgRequest != "" {
		// A sign-in that only names an organization wears its look when the
		// organization has proved a domain: anyone can register one and
		// name it in a link, and its name, logo and support link must not
		// dress up the platform's own applications for a phishing message.
		if named, err := h.Store.OrganizationBySlug(ctx, ar.OrgRequest); err == nil && h.hasVerifiedDomain(ctx, named.ID) {
			o = named
		}
	}
	if o.ID == "" || o.Branding.IsZero() {
		return r
	}
	return r.WithContext(web.WithBrand(ctx, brandOf(o)))
}

func (h *Handler) hasVerifiedDomain(ctx context.Context, orgID string) bool {
	ds, err := h.Store.DomainsOf(ctx, orgID)
	if err != nil {
		return false
	}
	for _, d := range ds {
		if !d.VerifiedAt.IsZero() {
			return true
		}
	}
	return false
}

func brandOf(o storage.Organization) web.Brand {
	b := web.Brand{OrgID: o.ID, Name: o.Branding.DisplayName, HasColor: o.Branding.Color != "", SupportURL: o.Branding.SupportURL}
	if b.Name == "" {
		b.Name = o.Name
	}
	if strings.HasPrefix(o.Branding.Logo, "data:image/") { // checked by manage.CheckBranding when stored
		b.Logo = template.URL(o.Branding.Logo)
	}
	return b
}

// setLanguage keeps the language a person chose on a page (a cookie for a
// year) and sends them back to the page, which must be one of ours.
func (h *Handler) setLanguage(w http.ResponseWriter, r *http.Request) {
	code := mux.Vars(r)["lang"]
	known := false
	for _, t := range web.Languages {
		known = known || t.String() == code
	}
	if !known {
		h.Error(w, r, http.StatusNotFound, "There is no page at this address.", "reason", "unknown language")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: web.LangCookie, Value: code, Path: "/", MaxAge: 365 * 24 * 3600, HttpOnly: true,
		Secure: h.Cookies.Secure, SameSite: http.SameSiteLaxMode})
	back := r.URL.Query().Get("back")
	if u, err := url.Parse(back); err != nil || !strings.HasPrefix(back, "/") || strings.HasPrefix(back, "//") ||
		strings.Contains(back, "\\") || u.Host != "" || u.Scheme != "" {
		back = "/account"
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// brandingCSS serves an organization's colours as a stylesheet
// (/branding/{org}.css): the pages' CSP allows same-origin styles only, so
// colours cannot be inline. Branding is public (it is on the sign-in
// page), so this needs no sign-in.
func (h *Handler) brandingCSS(w http.ResponseWriter, r *http.Request) {
	o, err := h.Store.OrganizationByID(r.Context(), mux.Vars(r)["org"])
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.fail(w, r, "branding", err)
		return
	}
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	if err != nil || o.Branding.Color == "" || manage.CheckBranding(&storage.Branding{Color: o.Branding.Color}) != nil {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	c := o.Branding.Color
	fmt.Fprintf(w, ":root { --brand: %s; --brand-dark: %s; }\n.brand { color: var(--brand); }\n", c, manage.Darker(c, 0.18))
}
