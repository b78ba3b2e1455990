package login

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/mux"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/optibid/idp/federation"
	"github.com/optibid/idp/internal/httpx"
	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/login/web"
	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/manage/roles"
	"github.com/optibid/idp/storage"
)

// Connectors resolves a stored connection to a working connector.
type Connectors interface {
	Connector(ctx context.Context, c storage.Connection) (federation.Connector, error)
}

// federationStateTTL bounds a trip upstream.
const federationStateTTL = 10 * time.Minute

func (h *Handler) registerFederation(r *mux.Router) {
	r.HandleFunc("/login/federated/{connection}", h.federatedStart).Methods(http.MethodGet)
	r.HandleFunc("/federation/callback", h.federatedCallback).Methods(http.MethodGet)
}

type button struct{ ID, Name string }

// buttons lists the sign-in buttons for a request: the enabled connections
// it may reach directly (see reachable). An organization's IdP is otherwise
// found only by home-realm discovery of its verified domain, so no tenant
// can put a button (under any label) on another tenant's sign-in page.
func (h *Handler) buttons(ctx context.Context, ar storage.AuthRequest, c storage.Client) []button {
	if h.Connectors == nil {
		return nil
	}
	all, err := h.Store.ListConnections(ctx)
	if err != nil {
		slog.WarnContext(ctx, "list connections", "error", err)
		return nil
	}
	named, err := h.namedOrganization(ctx, ar)
	if err != nil {
		slog.WarnContext(ctx, "requested organization", "error", err)
	}
	var out []button
	for _, conn := range all {
		if conn.Enabled && reachable(conn, c, named) {
			out = append(out, button{conn.ID, conn.Name})
		}
	}
	return out
}

// offered reports whether a sign-in may go through conn: a connection it
// may reach directly, or an organization's found by home-realm discovery
// of an email on its verified domains. A link cannot send another
// tenant's users (or a first-party app's) to an organization's IdP.
func (h *Handler) offered(ctx context.Context, conn storage.Connection, ar storage.AuthRequest, c storage.Client, hint string) (bool, error) {
	named, err := h.namedOrganization(ctx, ar)
	if err != nil {
		return false, err
	}
	if reachable(conn, c, named) {
		return true, nil
	}
	for _, email := range []string{hint, ar.LoginHint} {
		if id, err := h.homeRealm(ctx, strings.ToLower(email)); err != nil || id == conn.ID {
			return err == nil, err
		}
	}
	return false, nil
}

// reachable is the one rule for which connections a request may use
// without home-realm discovery: the operator's (global) connections; an
// organization's for its own clients and for requests naming it
// (organization=<slug>, resolved to namedOrg).
func reachable(conn storage.Connection, c storage.Client, namedOrg string) bool {
	return conn.OrgID == "" || conn.OrgID == c.OrgID || conn.OrgID == namedOrg
}

// namedOrganization resolves the request's organization=<slug> to an ID;
// "" when none is named or the slug is unknown.
func (h *Handler) namedOrganization(ctx context.Context, ar storage.AuthRequest) (string, error) {
	if ar.OrgRequest == "" {
		return "", nil
	}
	o, err := h.Store.OrganizationBySlug(ctx, ar.OrgRequest)
	if errors.Is(err, storage.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("organization by slug: %w", err)
	}
	return o.ID, nil
}

// homeRealm finds the enabled connection of the organization that verified
// the email's domain (home-realm discovery), or "".
func (h *Handler) homeRealm(ctx context.Context, email string) (string, error) {
	at := strings.LastIndexByte(email, '@')
	if h.Connectors == nil || at < 0 {
		return "", nil
	}
	org, err := h.Store.OrganizationByVerifiedDomain(ctx, email[at+1:])
	if errors.Is(err, storage.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	all, err := h.Store.ListConnections(ctx)
	if err != nil {
		return "", err
	}
	for _, c := range all {
		if c.Enabled && c.OrgID == org.ID {
			return c.ID, nil
		}
	}
	return "", nil
}

func federatedURL(connection, authRequest, hint string) string {
	u := "/login/federated/" + url.PathEscape(connection) + "?id=" + url.QueryEscape(authRequest)
	if hint != "" {
		u += "&hint=" + url.QueryEscape(hint)
	}
	return u
}

// federatedStart sends the browser upstream with fresh state, nonce and
// PKCE verifier, stored single-use and bound to this browser and request.
func (h *Handler) federatedStart(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ar, cl, ok := h.requestAndClient(w, r, r.URL.Query().Get("id"))
	if !ok {
		return
	}
	conn, err := h.Store.ConnectionByID(ctx, mux.Vars(r)["connection"])
	switch {
	case errors.Is(err, storage.ErrNotFound):
		h.Error(w, r, http.StatusBadRequest, "That sign-in option is not available.", "reason", "unknown connection")
		return
	case err != nil:
		h.fail(w, r, "load connection", err)
		return
	case !conn.Enabled:
		h.federationFailed(w, r, conn, "", "connection_disabled", nil, http.StatusBadRequest, "That sign-in option is not available.")
		return
	}
	if offered, err := h.offered(ctx, conn, ar, cl, r.URL.Query().Get("hint")); err != nil {
		h.fail(w, r, "connection offered", err)
		return
	} else if !offered {
		h.federationFailed(w, r, conn, "", "not_offered", nil, http.StatusBadRequest, "That sign-in option is not available.")
		return
	}
	c, err := h.Connectors.Connector(ctx, conn)
	if err != nil {
		h.fail(w, r, "build connector", err)
		return
	}
	state, nonce, verifier := random.Token(32), random.Token(32), random.Token(32)
	now := h.now()
	if err := h.Store.CreateFederationState(ctx, storage.FederationState{StateHash: storage.HashSecret(state), ConnectionID: conn.ID,
		AuthRequestID: ar.ID, Nonce: nonce, CodeVerifier: verifier, BrowserHash: ar.BrowserHash, CreatedAt: now,
		ExpiresAt: now.Add(federationStateTTL)}); err != nil {
		h.fail(w, r, "federation state", err)
		return
	}
	to, err := c.AuthURL(ctx, federation.Request{State: state, Nonce: nonce, CodeChallenge: zoidc.NewSHACodeChallenge(verifier),
		LoginHint: r.URL.Query().Get("hint")})
	if err != nil {
		h.federationFailed(w, r, conn, "", "upstream_unavailable", err, http.StatusBadGateway,
			"The sign-in service of {{.Connection}} is not responding. Try again later, or sign in another way.")
		return
	}
	http.Redirect(w, r, to, http.StatusFound)
}

// federationFailed answers a friendly page, logs the cause and audits it.
// Nothing about any account has changed when it is called.
func (h *Handler) federationFailed(w http.ResponseWriter, r *http.Request, conn storage.Connection, userID, reason string, cause error, status int, msg string) {
	h.metrics.federation.WithLabelValues(conn.ID, reason).Inc()
	_ = h.Store.AppendAudit(r.Context(), h.audit(r, manage.EventFederationFailed, userID, "", map[string]string{"connection": conn.ID, "reason": reason}))
	// Messages name the connection through {{.Connection}}.
	h.Templates.ErrorWith(w, r, status, msg, map[string]any{"Connection": conn.Name}, web.Next{},
		"reason", "federated sign-in failed: "+reason, "connection", conn.ID, "error", cause)
}

// federatedCallback receives the upstream's answer.
func (h *Handler) federatedCallback(w http.ResponseWriter, r *http.Request) {
	ctx, q := r.Context(), r.URL.Query()
	st, err := h.Store.ConsumeFederationState(ctx, storage.HashSecret(q.Get("state")), h.now())
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrExpired) || errors.Is(err, storage.ErrAlreadyUsed) {
			h.federationFailed(w, r, storage.Connection{}, "", "bad_state", err, http.StatusBadRequest,
				"This sign-in could not be completed. Return to the application and sign in again.")
			return
		}
		h.fail(w, r, "federation state", err)
		return
	}
	conn, err := h.Store.ConnectionByID(ctx, st.ConnectionID)
	if err != nil {
		h.fail(w, r, "load connection", err)
		return
	}
	// The answer must come back to the browser that went upstream.
	if !h.Cookies.SameBrowser(r, st.BrowserHash) {
		h.federationFailed(w, r, conn, "", "other_browser", nil, http.StatusForbidden,
			"This sign-in was started in another browser. Return to the application and sign in again here.")
		return
	}
	if !conn.Enabled {
		h.federationFailed(w, r, conn, "", "connection_disabled", nil, http.StatusForbidden, "That sign-in option is not available.")
		return
	}
	if e := q.Get("error"); e != "" {
		h.federationFailed(w, r, conn, "", "upstream_error", errors.New(httpx.Clip(e)), http.StatusBadRequest,
			"{{.Connection}} did not sign you in. Return to the application and try again.")
		return
	}
	ar, c, ok := h.requestAndClient(w, r, st.AuthRequestID)
	if !ok {
		return
	}
	conr, err := h.Connectors.Connector(ctx, conn)
	if err != nil {
		h.fail(w, r, "build connector", err)
		return
	}
	id, err := conr.Exchange(ctx, q.Get("code"), st.CodeVerifier, st.Nonce)
	switch {
	case errors.Is(err, federation.ErrNotAllowed):
		h.federationFailed(w, r, conn, "", "not_allowed", err, http.StatusForbidden, "Your account at {{.Connection}} may not sign in here.")
		return
	case errors.Is(err, federation.ErrInvalidToken):
		h.federationFailed(w, r, conn, "", "invalid_token", err, http.StatusBadRequest,
			"The answer from {{.Connection}} could not be verified. Return to the application and sign in again.")
		return
	case err != nil:
		h.federationFailed(w, r, conn, "", "upstream_unavailable", err, http.StatusBadGateway,
			"The sign-in service of {{.Connection}} is not responding. Try again later, or sign in another way.")
		return
	}
	u, msg, err := h.resolveFederatedUser(r, conn, id)
	if err != nil {
		h.fail(w, r, "federated user", err)
		return
	}
	if msg != "" {
		h.federationFailed(w, r, conn, "", "not_linked", nil, http.StatusConflict, msg)
		return
	}
	if u.Disabled || u.Locked(h.now()) {
		h.federationFailed(w, r, conn, u.ID, "account_refused", nil, http.StatusForbidden, badCredentials)
		return
	}
	amr := []string{"fed"}
	// An upstream's second factor counts only where the operator trusts
	// the connection to say so; otherwise local MFA rules apply.
	upstreamMFA := conn.TrustUpstreamMFA && slices.ContainsFunc(id.AMR, func(m string) bool { return m == "mfa" || m == "otp" || m == "hwk" || m == "swk" })
	if upstreamMFA {
		amr = append(amr, "mfa")
	}
	h.metrics.federation.WithLabelValues(conn.ID, "success").Inc()
	_ = h.Store.AppendAudit(ctx, h.audit(r, manage.EventFederatedLogin, u.ID, ar.ClientID, map[string]string{"connection": conn.ID}))
	d, err := h.mfaRequired(ctx, ar, c, u)
	if err != nil {
		h.fail(w, r, "mfa decision", err)
		return
	}
	if d.need && !upstreamMFA {
		h.toSecondFactor(w, r, ar, u.ID, amr)
		return
	}
	h.completeLogin(w, r, ar, c, u, amr, "", nil)
}

// resolveFederatedUser finds or creates the local user for an upstream
// identity. Links are made by (connection, issuer, subject) only; by email
// only when the connection allows it, the upstream asserts email_verified,
// and the email's domain is a verified domain of the connection's
// organization. msg, when set, is why the sign-in was refused (nothing was
// changed).
func (h *Handler) resolveFederatedUser(r *http.Request, conn storage.Connection, id federation.Identity) (storage.User, string, error) {
	ctx, now := r.Context(), h.now()
	fi := storage.FederatedIdentity{ConnectionID: conn.ID, Issuer: id.Issuer, Subject: id.Subject, Email: id.Email}
	link, err := h.Store.IdentityByUpstream(ctx, conn.ID, id.Issuer, id.Subject)
	switch {
	case err == nil:
		u, err := h.Store.UserByID(ctx, link.UserID)
		if err != nil {
			return u, "", err
		}
		_ = h.Store.TouchIdentity(ctx, fi, now)
		if id.Name != "" && id.Name != u.Name {
			if err := h.Store.UpdateProfile(ctx, u.ID, id.Name, u.EmailVerified, h.audit(r, manage.EventProfileUpdated, u.ID, "", map[string]string{"by": conn.ID})); err != nil {
				return u, "", err
			}
			u.Name = id.Name
		}
		return u, "", nil
	case !errors.Is(err, storage.ErrNotFound):
		return storage.User{}, "", err
	}
	id.Email = plainEmail(id.Email)
	if id.Email == "" {
		return storage.User{}, "{{.Connection}} did not share a usable email address, so no account could be set up.", nil
	}
	existing, err := h.Store.UserByEmail(ctx, id.Email)
	switch {
	case err == nil:
		ok, err := h.mayLinkByEmail(ctx, conn, id, existing)
		if err != nil {
			return existing, "", err
		}
		if !ok {
			return existing, "An account with this email address already exists. Sign in with your password; {{.Connection}} cannot be used for it.", nil
		}
		fi.UserID, fi.LinkedByEmail = existing.ID, true
		if err := h.Store.LinkIdentity(ctx, fi, h.audit(r, manage.EventIdentityLinked, existing.ID, "", map[string]string{"connection": conn.ID, "by": "email"})); err != nil {
			return existing, "", err
		}
		return existing, "", nil
	case !errors.Is(err, storage.ErrNotFound):
		return storage.User{}, "", err
	}
	// An organization's IdP sets up accounts for its own verified domains
	// only: it cannot claim an address someone else will register.
	if conn.OrgID != "" {
		own, err := h.onOrgDomain(ctx, conn, id.Email)
		if err != nil {
			return storage.User{}, "", err
		}
		if !own {
			return storage.User{}, "Your account at {{.Connection}} may not sign in here with this email address.", nil
		}
	}
	var m *storage.Membership
	if conn.OrgID != "" {
		role := conn.DefaultRole
		for _, g := range id.Groups {
			if mapped, ok := conn.RoleMapping[g]; ok && roles.Rank(mapped) > roles.Rank(role) {
				role = mapped
			}
		}
		if roles.Rank(role) > roles.Rank(conn.MaxRole) { // the connection's ceiling
			role = conn.MaxRole
		}
		m = &storage.Membership{OrgID: conn.OrgID, Role: role}
	}
	verified, err := h.vouchesFor(ctx, conn, id)
	if err != nil {
		return storage.User{}, "", err
	}
	u, err := h.Store.ProvisionFederatedUser(ctx, storage.User{Email: id.Email, Name: id.Name, EmailVerified: verified}, m, fi,
		h.audit(r, manage.EventUserProvisioned, "", "", map[string]string{"connection": conn.ID}))
	if errors.Is(err, storage.ErrConflict) { // a concurrent first login won
		return h.resolveFederatedUser(r, conn, id)
	}
	return u, "", err
}

// vouchesFor reports whether the connection's email counts as verified
// here: the upstream says so, and for an organization's connection the
// address is on one of that organization's verified domains (an
// organization's IdP speaks for its own domains only).
func (h *Handler) vouchesFor(ctx context.Context, conn storage.Connection, id federation.Identity) (bool, error) {
	if !id.EmailVerified || id.Email == "" {
		return false, nil
	}
	if conn.OrgID == "" {
		return true, nil // the operator's own connection
	}
	return h.onOrgDomain(ctx, conn, id.Email)
}

// onOrgDomain reports whether email is on a verified domain of the
// connection's organization.
func (h *Handler) onOrgDomain(ctx context.Context, conn storage.Connection, email string) (bool, error) {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return false, nil
	}
	org, err := h.Store.OrganizationByVerifiedDomain(ctx, email[at+1:])
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	return err == nil && org.ID == conn.OrgID, err
}

// plainEmail is an upstream's email in the one form accounts use: a bare
// ASCII address, lower case, with no display name, spaces, invisible
// characters or trailing dot ("" when it is not one), so no look-alike of
// an existing address is set up.
func plainEmail(raw string) string {
	a, err := mail.ParseAddress(raw)
	if err != nil || a.Name != "" || a.Address != raw || len(raw) > 254 || strings.HasSuffix(raw, ".") {
		return ""
	}
	for _, r := range raw {
		if r <= ' ' || r > '~' {
			return ""
		}
	}
	return strings.ToLower(raw)
}

// mayLinkByEmail decides whether an existing account may be linked to the
// upstream identity on its email alone. All must hold: the connection asks
// for it and the operator allowed it; the connection belongs to the
// organization that verified the email's domain, and vouches for the
// address; the account belongs to that organization only, with a role
// within the connection's ceiling. Anything else could hand one tenant's
// IdP another tenant's (or the platform's) accounts.
func (h *Handler) mayLinkByEmail(ctx context.Context, conn storage.Connection, id federation.Identity, u storage.User) (bool, error) {
	if !conn.LinkByEmail || !conn.AllowEmailLinking || conn.OrgID == "" || u.PlatformAdmin {
		return false, nil
	}
	if ok, err := h.vouchesFor(ctx, conn, id); err != nil || !ok {
		return false, err
	}
	ms, err := h.Store.MembershipsByUser(ctx, u.ID)
	if err != nil {
		return false, err
	}
	for _, m := range ms {
		if m.OrgID != conn.OrgID || roles.Rank(m.Role) > roles.Rank(conn.MaxRole) {
			return false, nil
		}
	}
	return true, nil
}
