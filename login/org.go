package login

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/optibid/idp/storage"
)

// wantsOrg reports whether the scopes ask for organization claims ("org",
// "org:<slug>" or "entitlements", the provider's claim contract).
func wantsOrg(scopes []string) bool {
	return slices.ContainsFunc(scopes, func(s string) bool { return s == "org" || s == "entitlements" || strings.HasPrefix(s, "org:") })
}

type orgChoice struct{ ID, Name, Slug, Role string }

// memberOrgs lists the user's organizations with their roles.
func (h *Handler) memberOrgs(ctx context.Context, userID string) ([]orgChoice, error) {
	ms, err := h.Store.MembershipsByUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]orgChoice, 0, len(ms))
	for _, m := range ms {
		o, err := h.Store.OrganizationByID(ctx, m.OrgID)
		if err != nil {
			return nil, err
		}
		out = append(out, orgChoice{ID: o.ID, Name: o.Name, Slug: o.Slug, Role: m.Role})
	}
	return out, nil
}

// chooseOrg settles the organization of a login that asks for org claims:
// the one the client requested (the user must be a member), the only one,
// or the user's pick on the organization page. It reports whether the
// login may go on now; otherwise the response is written.
func (h *Handler) chooseOrg(w http.ResponseWriter, r *http.Request, ar *storage.AuthRequest, c storage.Client, u storage.User) bool {
	if !wantsOrg(ar.Scopes) || ar.OrgID != "" {
		return true
	}
	ctx := r.Context()
	orgs, err := h.memberOrgs(ctx, u.ID)
	if err != nil {
		h.fail(w, r, "memberships", err)
		return false
	}
	pick := ""
	switch {
	case ar.OrgRequest != "":
		i := slices.IndexFunc(orgs, func(o orgChoice) bool { return o.Slug == ar.OrgRequest })
		if i < 0 {
			http.Redirect(w, r, h.ErrorRedirectURL(*ar, "access_denied", "the user is not a member of the requested organization"), http.StatusSeeOther)
			return false
		}
		pick = orgs[i].ID
	case len(orgs) == 0:
		return true // no organization: no org claims
	case len(orgs) == 1:
		pick = orgs[0].ID
	default:
		h.render(w, r, http.StatusOK, "org", map[string]any{"ID": ar.ID, "CSRF": h.csrfToken(h.Cookies.BrowserID(r)),
			"ClientName": c.Name, "Orgs": orgs})
		return false
	}
	if err := h.Store.SetAuthRequestOrg(ctx, ar.ID, pick); err != nil {
		h.fail(w, r, "choose organization", err)
		return false
	}
	ar.OrgID = pick
	return true
}

// orgSubmit records the user's pick and continues the login.
func (h *Handler) orgSubmit(w http.ResponseWriter, r *http.Request) {
	if !h.checkForm(w, r) {
		return
	}
	ar, c, ok := h.requestAndClient(w, r, r.PostForm.Get("id"))
	if !ok {
		return
	}
	s, u, live, err := h.currentSession(r.Context(), r)
	if err != nil {
		h.fail(w, r, "load session", err)
		return
	}
	if !live {
		http.Redirect(w, r, "/login?id="+ar.ID, http.StatusSeeOther)
		return
	}
	orgs, err := h.memberOrgs(r.Context(), u.ID)
	if err != nil {
		h.fail(w, r, "memberships", err)
		return
	}
	pick := r.PostForm.Get("org")
	if !slices.ContainsFunc(orgs, func(o orgChoice) bool { return o.ID == pick }) {
		h.Error(w, r, http.StatusForbidden, "You are not a member of that organization.")
		return
	}
	if err := h.Store.SetAuthRequestOrg(r.Context(), ar.ID, pick); err != nil {
		h.fail(w, r, "choose organization", err)
		return
	}
	ar.OrgID = pick
	h.continueRequest(w, r, ar, c, u, s)
}
