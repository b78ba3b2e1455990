package login

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/optibid/idp/login/web"
	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/storage"
)

// branded returns r carrying the brand of the organization the sign-in id
// is for, when it has one: the organization whose own application asks
// (a tenant's client), else the one the request names (organization= or
// org:<slug>). A page without a sign-in, or for the platform's own
// applications, keeps the product's look. Lookups that fail leave the
// page unbranded rather than failing it.
func (h *Handler) branded(r *http.Request, id string) *http.Request {
	if len(id) != 32 {
		return r
	}
	ctx := r.Context()
	ar, err := h.Store.AuthRequestByID(ctx, id)
	if err != nil || !h.Cookies.SameBrowser(r, ar.BrowserHash) {
		return r
	}
	var o storage.Organization
	if ar.ClientID != accountClient {
		if c, err := h.Clients.Client(ctx, ar.ClientID); err == nil && c.OrgID != "" {
			o, _ = h.Store.OrganizationByID(ctx, c.OrgID)
		}
	}
	if o.ID == "" && ar.OrgRequest != "" {
		o, _ = h.Store.OrganizationBySlug(ctx, ar.OrgRequest)
	}
	if o.ID == "" || o.Branding.IsZero() {
		return r
	}
	return r.WithContext(web.WithBrand(ctx, brandOf(o)))
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
