package login

import (
	"context"
	"net/http"
	"slices"

	"github.com/optibid/idp/storage"
)

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

// chooseOrg settles the organization of a login that asks for org claims
// without asking when it can: the one the client requested (the user must
// be a member, else access_denied), or the only one. Otherwise it shows the
// organization page (prompt=none: interaction_required). picked reports
// that ar now has its organization; when ok is false the response is
// written.
func (h *Handler) chooseOrg(w http.ResponseWriter, r *http.Request, ar *storage.AuthRequest, c storage.Client, u storage.User, silent bool) (picked, ok bool) {
	ctx := r.Context()
	orgs, err := h.memberOrgs(ctx, u.ID)
	if err != nil {
		h.fail(w, r, "memberships", err)
		return false, false
	}
	pick := ""
	switch {
	case ar.OrgRequest != "":
		i := slices.IndexFunc(orgs, func(o orgChoice) bool { return o.Slug == ar.OrgRequest })
		if i < 0 {
			http.Redirect(w, r, h.ErrorRedirectURL(r.Context(), *ar, "access_denied", "the user is not a member of the requested organization"), http.StatusSeeOther)
			return false, false
		}
		pick = orgs[i].ID
	case len(orgs) == 1:
		pick = orgs[0].ID
	case silent:
		http.Redirect(w, r, h.ErrorRedirectURL(r.Context(), *ar, "interaction_required", "the user must choose an organization"), http.StatusFound)
		return false, false
	default:
		h.render(w, r, http.StatusOK, "org", map[string]any{"ID": ar.ID, "CSRF": h.csrfToken(h.Cookies.BrowserID(r)),
			"ClientName": c.Name, "Orgs": orgs})
		return false, false
	}
	if err := h.Store.SetAuthRequestOrg(ctx, ar.ID, pick); err != nil {
		h.fail(w, r, "choose organization", err)
		return false, false
	}
	ar.OrgID = pick
	return true, true
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
	// The pick is taken only at the organization step: everything before
	// it must be settled.
	if st, err := h.owed(r.Context(), ar, c, s, u, live, false); err != nil || st != stepOrganization {
		if err != nil {
			h.fail(w, r, "sign-in state", err)
			return
		}
		h.advance(w, r, ar, c, s, u, live, false)
		return
	}
	orgs, err := h.memberOrgs(r.Context(), u.ID)
	if err != nil {
		h.fail(w, r, "memberships", err)
		return
	}
	pick := r.PostForm.Get("org")
	i := slices.IndexFunc(orgs, func(o orgChoice) bool { return o.ID == pick })
	if i < 0 {
		h.Error(w, r, http.StatusForbidden, "You are not a member of that organization.")
		return
	}
	if ar.OrgRequest != "" && orgs[i].Slug != ar.OrgRequest {
		// The application asked for one organization: no other will do.
		h.Error(w, r, http.StatusForbidden, "This application asked for another organization.")
		return
	}
	if err := h.Store.SetAuthRequestOrg(r.Context(), ar.ID, pick); err != nil {
		h.fail(w, r, "choose organization", err)
		return
	}
	ar.OrgID = pick
	h.advance(w, r, ar, c, s, u, live, false)
}
