package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"

	"github.com/gorilla/mux"

	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/manage/roles"
	"github.com/optibid/idp/storage"
)

type orgView struct {
	ID                   string           `json:"id"`
	Slug                 string           `json:"slug"`
	Name                 string           `json:"name"`
	Plan                 string           `json:"plan"`
	MFA                  string           `json:"mfa"`
	RequireVerifiedEmail bool             `json:"require_verified_email"`
	JoinByDomain         bool             `json:"join_by_domain"`
	Settings             json.RawMessage  `json:"settings"`
	Branding             storage.Branding `json:"branding"`
}

func viewOrg(o storage.Organization) orgView {
	settings := json.RawMessage(o.Settings)
	if len(settings) == 0 {
		settings = json.RawMessage(`{}`)
	}
	return orgView{o.ID, o.Slug, o.Name, o.Plan, o.MFAPolicy, o.RequireVerifiedEmail, o.JoinByDomain, settings, o.Branding}
}

func (h *Handler) me(w http.ResponseWriter, r *http.Request, c caller) {
	ms, err := h.Store.MembershipsByUser(r.Context(), c.user.ID)
	if err != nil {
		h.internal(w, r, "memberships", err)
		return
	}
	type mv struct {
		Org  orgView `json:"org"`
		Role string  `json:"role"`
	}
	out := []mv{}
	for _, m := range ms {
		o, err := h.Store.OrganizationByID(r.Context(), m.OrgID)
		if err != nil {
			h.internal(w, r, "organization", err)
			return
		}
		out = append(out, mv{viewOrg(o), m.Role})
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": c.user.ID, "email": c.user.Email, "name": c.user.Name, "platform_admin": c.user.PlatformAdmin,
		"memberships": out})
}

func (h *Handler) getOrg(w http.ResponseWriter, _ *http.Request, _ caller, o storage.Organization, role string) {
	writeJSON(w, http.StatusOK, map[string]any{"org": viewOrg(o), "role": role, "permissions": roles.Permissions(role)})
}

// patchOrg checks every field and permission before writing any, so a
// request is applied whole or not at all (short of a store failure).
func (h *Handler) patchOrg(w http.ResponseWriter, r *http.Request, c caller, o storage.Organization, role string) {
	var body struct {
		Name                 *string           `json:"name"`
		Plan                 *string           `json:"plan"`
		Settings             json.RawMessage   `json:"settings"`
		MFA                  *string           `json:"mfa"`
		RequireVerifiedEmail *bool             `json:"require_verified_email"`
		JoinByDomain         *bool             `json:"join_by_domain"`
		Branding             *storage.Branding `json:"branding"`
	}
	if !decode(w, r, &body) {
		return
	}
	need := func(perm string) bool { return roles.Has(role, perm) }
	switch {
	case body.JoinByDomain != nil && !need(roles.DomainsManage):
		fail(w, http.StatusForbidden, "forbidden", "Your role does not allow this ("+roles.DomainsManage+").")
		return
	case (body.MFA != nil || body.RequireVerifiedEmail != nil) && !need(roles.MFAPolicyManage):
		fail(w, http.StatusForbidden, "forbidden", "Your role does not allow this ("+roles.MFAPolicyManage+").")
		return
	}
	o, err := h.rules.UpdateOrganization(r.Context(), c.actor(r), o, manage.OrgChange{Name: body.Name, Plan: body.Plan, MFA: body.MFA,
		RequireVerifiedEmail: body.RequireVerifiedEmail, JoinByDomain: body.JoinByDomain, Settings: body.Settings,
		Branding: body.Branding})
	switch {
	case errors.Is(err, manage.ErrOperatorOnly):
		// A plan decides paid features: tenants do not choose their own.
		fail(w, http.StatusForbidden, "plan_change_forbidden", "The plan is changed by the platform operator (billing).")
	case err != nil:
		h.failRule(w, r, "invalid_request", "update organization", err)
	default:
		writeJSON(w, http.StatusOK, map[string]any{"org": viewOrg(o)})
	}
}

type memberView struct {
	UserID string `json:"user_id"`
	Email  string `json:"email"`
	Name   string `json:"name"`
	Role   string `json:"role"`
}

func (h *Handler) listMembers(w http.ResponseWriter, r *http.Request, _ caller, o storage.Organization, _ string) {
	limit, after, ok := pageParams(w, r)
	if !ok {
		return
	}
	ms, err := h.Store.MembersOf(r.Context(), o.ID)
	if err != nil {
		h.internal(w, r, "members", err)
		return
	}
	all := make([]memberView, 0, len(ms))
	for _, m := range ms {
		u, err := h.Store.UserByID(r.Context(), m.UserID)
		if err != nil {
			h.internal(w, r, "member", err)
			return
		}
		all = append(all, memberView{u.ID, u.Email, u.Name, m.Role})
	}
	out, next := page(all, func(m memberView) string { return m.Email + "|" + m.UserID }, false, limit, after)
	listed(w, "members", out, next)
}

// addMember invites the person: an owner adds people only by inviting
// them, and they join by accepting. The answer is the same whether or not
// an account has that email, so it reveals nothing about who has one, and
// nobody is put into an organization (and under its MFA policy) without
// their agreement.
func (h *Handler) addMember(w http.ResponseWriter, r *http.Request, c caller, o storage.Organization, own string) {
	h.invite(w, r, c, o, own)
}

// member finds {user} among the organization's members (404 otherwise).
func (h *Handler) member(w http.ResponseWriter, r *http.Request, o storage.Organization) (storage.Membership, bool) {
	ms, err := h.Store.MembersOf(r.Context(), o.ID)
	if err != nil {
		h.internal(w, r, "members", err)
		return storage.Membership{}, false
	}
	i := slices.IndexFunc(ms, func(m storage.Membership) bool { return m.UserID == mux.Vars(r)["user"] })
	if i < 0 {
		notFound(w)
		return storage.Membership{}, false
	}
	return ms[i], true
}

func (h *Handler) setRole(w http.ResponseWriter, r *http.Request, c caller, o storage.Organization, own string) {
	m, ok := h.member(w, r, o)
	if !ok {
		return
	}
	var body struct {
		Role string `json:"role"`
	}
	if !decode(w, r, &body) {
		return
	}
	h.answerRole(w, r, m, body.Role, h.rules.SetMemberRole(r.Context(), c.actor(r), o, own, m, body.Role), "You cannot change a role above your own.")
}

func (h *Handler) removeMember(w http.ResponseWriter, r *http.Request, c caller, o storage.Organization, own string) {
	m, ok := h.member(w, r, o)
	if !ok {
		return
	}
	h.answerRole(w, r, m, "", h.rules.RemoveMember(r.Context(), c.actor(r), o, own, c.user.ID, m),
		"You cannot remove a member whose role is above your own.")
}

// answerRole answers a role change or removal.
func (h *Handler) answerRole(w http.ResponseWriter, r *http.Request, m storage.Membership, role string, err error, ceiling string) {
	var ce *manage.RoleCeilingError
	switch {
	case errors.As(err, &ce):
		fail(w, http.StatusForbidden, "forbidden", ceiling)
	case errors.Is(err, storage.ErrLastOwner):
		fail(w, http.StatusConflict, "last_owner", "An organization needs an owner: make someone else owner first.")
	case errors.Is(err, storage.ErrNotFound):
		notFound(w)
	case err != nil:
		h.internal(w, r, "change role", err)
	case role == "":
		w.WriteHeader(http.StatusNoContent)
	default:
		writeJSON(w, http.StatusOK, map[string]string{"user_id": m.UserID, "role": role})
	}
}

type domainView struct {
	Domain   string `json:"domain"`
	Verified bool   `json:"verified"`
	Record   struct {
		Type  string `json:"type"`
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"record"`
}

func (h *Handler) viewDomain(d storage.OrganizationDomain) domainView {
	v := domainView{Domain: d.Domain, Verified: !d.VerifiedAt.IsZero()}
	v.Record.Type = "TXT"
	v.Record.Name, v.Record.Value = h.rules.DomainRecord(d.OrgID, d.Domain)
	return v
}

func (h *Handler) listDomains(w http.ResponseWriter, r *http.Request, _ caller, o storage.Organization, _ string) {
	limit, after, ok := pageParams(w, r)
	if !ok {
		return
	}
	ds, err := h.Store.DomainsOf(r.Context(), o.ID)
	if err != nil {
		h.internal(w, r, "domains", err)
		return
	}
	ds, next := page(ds, func(d storage.OrganizationDomain) string { return d.Domain }, false, limit, after)
	out := []domainView{}
	for _, d := range ds {
		out = append(out, h.viewDomain(d))
	}
	listed(w, "domains", out, next)
}

func (h *Handler) addDomain(w http.ResponseWriter, r *http.Request, c caller, o storage.Organization, _ string) {
	var body struct {
		Domain string `json:"domain"`
	}
	if !decode(w, r, &body) {
		return
	}
	d, err := h.rules.AddDomain(r.Context(), c.actor(r), o, body.Domain)
	if err != nil {
		h.failRule(w, r, "invalid_request", "add domain", err)
		return
	}
	writeJSON(w, http.StatusCreated, h.viewDomain(d))
}

// verifyDomain looks the TXT record up and marks the domain verified; a
// platform admin may vouch for a domain verified another way (?force=1).
func (h *Handler) verifyDomain(w http.ResponseWriter, r *http.Request, c caller, o storage.Organization, _ string) {
	d, err := h.rules.VerifyDomain(r.Context(), c.actor(r), o, mux.Vars(r)["domain"], r.URL.Query().Get("force") == "1")
	if errors.Is(err, manage.ErrNotVerified) {
		name, _ := h.rules.DomainRecord(o.ID, mux.Vars(r)["domain"])
		fail(w, http.StatusUnprocessableEntity, "not_verified", "The TXT record "+name+" does not hold the expected value yet.")
		return
	}
	if errors.Is(err, storage.ErrConflict) {
		// Only someone who controls the domain's DNS gets this far.
		fail(w, http.StatusConflict, "conflict", "Another organization verified this domain. Contact support if it is yours.")
		return
	}
	if err != nil {
		h.failRule(w, r, "invalid_request", "verify domain", err)
		return
	}
	writeJSON(w, http.StatusOK, h.viewDomain(d))
}

func (h *Handler) removeDomain(w http.ResponseWriter, r *http.Request, c caller, o storage.Organization, _ string) {
	if err := h.rules.RemoveDomain(r.Context(), c.actor(r), o, mux.Vars(r)["domain"]); err != nil {
		h.failRule(w, r, "invalid_request", "remove domain", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
