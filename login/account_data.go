package login

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/manage/privacy"
	"github.com/optibid/idp/storage"
)

// AccountRules are the management layer's rules the account page applies
// for the person themself: leaving an organization (the last owner
// stays), exporting their data and erasing their account.
type AccountRules interface {
	RemoveMember(ctx context.Context, by manage.Actor, org storage.Organization, own, self string, m storage.Membership) error
	ExportUser(ctx context.Context, by manage.Actor, userID string) (privacy.Document, error)
	EraseUser(ctx context.Context, by manage.Actor, userID, reason string) (string, error)
}

// orgView is one of the person's organizations on their account page.
type orgView struct {
	ID, Name, Slug, Role string
}

// accountOrgs lists the person's organizations.
func (h *Handler) accountOrgs(ctx context.Context, userID string) ([]orgView, error) {
	ms, err := h.Store.MembershipsByUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	var out []orgView
	for _, m := range ms {
		o, err := h.Store.OrganizationByID(ctx, m.OrgID)
		if err != nil {
			return nil, err
		}
		out = append(out, orgView{ID: o.ID, Name: o.Name, Slug: o.Slug, Role: m.Role})
	}
	slices.SortFunc(out, func(a, b orgView) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// accountRulesForm is accountForm for the changes that go through the
// management layer (Rules): where it is not wired, the page says so.
func (h *Handler) accountRulesForm(w http.ResponseWriter, r *http.Request) (storage.Session, storage.User, bool) {
	s, u, ok := h.accountForm(w, r)
	if ok && h.Rules == nil {
		h.accountView(w, r, s, u, http.StatusNotFound, accountData{Error: "That cannot be done here."})
		return s, u, false
	}
	return s, u, ok
}

// accountLeave takes the person out of one of their organizations; the
// last owner cannot leave (someone else must be made owner first).
func (h *Handler) accountLeave(w http.ResponseWriter, r *http.Request) {
	s, u, ok := h.accountRulesForm(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	ms, err := h.Store.MembershipsByUser(ctx, u.ID)
	if err != nil {
		h.fail(w, r, "leave", err)
		return
	}
	i := slices.IndexFunc(ms, func(m storage.Membership) bool { return m.OrgID == r.PostForm.Get("org") })
	if i < 0 {
		h.accountView(w, r, s, u, http.StatusNotFound, accountData{Error: "You are not a member of that organization."})
		return
	}
	o, err := h.Store.OrganizationByID(ctx, ms[i].OrgID)
	if err != nil {
		h.fail(w, r, "leave", err)
		return
	}
	err = h.Rules.RemoveMember(ctx, manage.ActorFrom(r, u.ID, ""), o, ms[i].Role, u.ID, ms[i])
	switch {
	case errors.Is(err, storage.ErrLastOwner):
		h.accountView(w, r, s, u, http.StatusConflict, accountData{Error: "You are the last owner of this organization: make another member an owner first."})
	case err != nil:
		h.fail(w, r, "leave", err)
	default:
		h.accountView(w, r, s, u, http.StatusOK, accountData{Notice: "You left the organization."})
	}
}

// accountExport downloads everything stored about the person (GDPR
// art. 15 and 20), as the management API's export does.
func (h *Handler) accountExport(w http.ResponseWriter, r *http.Request) {
	_, u, ok := h.accountRulesForm(w, r)
	if !ok {
		return
	}
	doc, err := h.Rules.ExportUser(r.Context(), manage.ActorFrom(r, u.ID, ""), u.ID)
	if err != nil {
		h.fail(w, r, "export", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="my-account.json"`)
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(doc)
}

// accountDelete erases the person's account after they confirm with their
// password and their address: their data goes, audit rows are
// pseudonymized, and the last owner of an organization must hand it over
// first.
func (h *Handler) accountDelete(w http.ResponseWriter, r *http.Request) {
	s, u, ok := h.accountRulesForm(w, r)
	if !ok {
		return
	}
	if !strings.EqualFold(strings.TrimSpace(r.PostForm.Get("confirm")), u.Email) {
		h.accountView(w, r, s, u, http.StatusBadRequest, accountData{Error: "Type your email address to confirm."})
		return
	}
	if !h.reauth(w, r, s, u, r.PostForm.Get("password"), "delete account") {
		return
	}
	_, err := h.Rules.EraseUser(r.Context(), manage.ActorFrom(r, u.ID, ""), u.ID, "self")
	switch {
	case errors.Is(err, storage.ErrLastOwner):
		h.accountView(w, r, s, u, http.StatusConflict, accountData{Error: "You are the last owner of an organization: make another member an owner first."})
	case err != nil:
		h.fail(w, r, "erase", err)
	default:
		h.clearSessionCookie(w)
		h.render(w, r, http.StatusOK, "notice", notice{Title: "Your account is deleted",
			Message: "Your account and its data are gone. Records of security events keep only a pseudonym."})
	}
}

// identityView is one of the person's company sign-ins.
type identityView struct {
	Connection, ConnectionID, Issuer, Subject, Email string
	LastLoginAt                                      time.Time
}

// accountIdentities lists the person's linked company sign-ins.
func (h *Handler) accountIdentities(ctx context.Context, userID string) ([]identityView, error) {
	ids, err := h.Store.IdentitiesOf(ctx, userID)
	if err != nil {
		return nil, err
	}
	var out []identityView
	for _, fi := range ids {
		name := fi.ConnectionID
		if c, err := h.Store.ConnectionByID(ctx, fi.ConnectionID); err == nil && c.Name != "" {
			name = c.Name
		}
		out = append(out, identityView{Connection: name, ConnectionID: fi.ConnectionID, Issuer: fi.Issuer, Subject: fi.Subject,
			Email: fi.Email, LastLoginAt: fi.LastLoginAt})
	}
	return out, nil
}

// accountUnlink removes one of the person's company sign-ins, when
// another way in remains (a password, a passkey or another company
// sign-in): nobody locks themselves out here.
func (h *Handler) accountUnlink(w http.ResponseWriter, r *http.Request) {
	s, u, ok := h.accountForm(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	ids, err := h.Store.IdentitiesOf(ctx, u.ID)
	if err != nil {
		h.fail(w, r, "unlink", err)
		return
	}
	f := r.PostForm
	i := slices.IndexFunc(ids, func(fi storage.FederatedIdentity) bool {
		return fi.ConnectionID == f.Get("connection") && fi.Issuer == f.Get("issuer") && fi.Subject == f.Get("subject")
	})
	if i < 0 {
		h.accountView(w, r, s, u, http.StatusNotFound, accountData{Error: "That sign-in is not linked to your account."})
		return
	}
	passkeys, err := h.Store.PasskeysByUser(ctx, u.ID)
	if err != nil {
		h.fail(w, r, "unlink", err)
		return
	}
	if onlyWayIn(u.PasswordHash != "", len(passkeys), len(ids)) {
		h.accountView(w, r, s, u, http.StatusConflict, accountData{Error: "This is your only way to sign in: set a password or add a passkey first."})
		return
	}
	fi := ids[i]
	err = h.Store.UnlinkIdentity(ctx, u.ID, fi.ConnectionID, fi.Issuer, fi.Subject,
		h.audit(r, manage.EventIdentityUnlinked, u.ID, "", map[string]string{"connection": fi.ConnectionID}))
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.fail(w, r, "unlink", err)
		return
	}
	h.accountView(w, r, s, u, http.StatusOK, accountData{Notice: "The company sign-in was unlinked."})
}

// onlyWayIn reports whether a company sign-in is the person's last way
// in: no password, no passkey, no other company sign-in.
func onlyWayIn(hasPassword bool, passkeys, identities int) bool {
	return !hasPassword && passkeys == 0 && identities <= 1
}
