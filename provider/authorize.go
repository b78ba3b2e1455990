package provider

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/optibid/idp/internal/httpx"
	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/manage/registration"
	"github.com/optibid/idp/storage"
)

// singleValued are the authorization parameters that must not repeat
// (RFC 6749 §3.1).
var singleValued = []string{"response_type", "response_mode", "scope", "state", "nonce", "code_challenge",
	"code_challenge_method", "prompt", "max_age", "id_token_hint", "login_hint", "request", "request_uri", "connection", "organization",
	"display", "ui_locales", "claims_locales", "acr_values"}

// pkceChallenge is a base64url S256 challenge: 43 characters (RFC 7636 §4.2
// allows 43–128 for the method's output space).
var pkceChallenge = regexp.MustCompile(`^[A-Za-z0-9_-]{43,128}$`)

// authorize validates an authorization request and sends the browser to
// the login screens. Until client and redirect URI are verified nothing is
// redirected anywhere: the user sees an error page. After that, errors go
// back to the client with state and iss.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	ctx := op.ContextWithIssuer(r.Context(), p.cfg.Issuer)
	if err := r.ParseForm(); err != nil {
		p.errorPage(w, r, http.StatusBadRequest, "The sign-in request could not be read.", "reason", "unparsable request", "error", err)
		return
	}
	form := r.Form
	if len(form["client_id"]) > 1 || len(form["redirect_uri"]) > 1 {
		p.errorPage(w, r, http.StatusBadRequest, "The sign-in request is invalid: a parameter was repeated.",
			"reason", "client_id or redirect_uri repeated")
		return
	}
	c, err := p.clients.get(ctx, form.Get("client_id"))
	if errors.Is(err, storage.ErrNotFound) {
		p.errorPage(w, r, http.StatusBadRequest, "The application that sent you here is not registered.",
			"reason", "unknown client", "client_id", httpx.Clip(form.Get("client_id")))
		return
	}
	if err != nil {
		p.errorPage(w, r, http.StatusServiceUnavailable, "Sign-in is temporarily unavailable. Please try again shortly.",
			"reason", "load client", "error", err)
		return
	}
	httpx.NoteClient(ctx, c.Client.ID)
	redirectURI := form.Get("redirect_uri")
	if redirectURI == "" || !registration.MatchRedirectURI(c.Client.RedirectURIs, redirectURI, c.Public()) {
		p.errorPage(w, r, http.StatusBadRequest, "The application's return address is not registered, so you cannot be sent back to it.",
			"reason", "redirect_uri not registered for the client", "client_id", c.Client.ID, "redirect_uri", httpx.Clip(redirectURI),
			"registered", c.Client.RedirectURIs)
		return
	}
	state := form.Get("state")
	// fail decides on a bounce only when there is an error to report, so a
	// valid request pays no organization lookup.
	fail := func(code, desc string) {
		vouched, err := p.ClientVouched(ctx, c.Client)
		if err != nil {
			p.errorPage(w, r, http.StatusServiceUnavailable, "Sign-in is temporarily unavailable. Please try again shortly.",
				"reason", "client's organization", "error", err)
			return
		}
		if !vouched {
			// A client of an organization without a verified domain gets
			// no bounce: anyone can register one with any address.
			p.errorPage(w, r, http.StatusBadRequest, "The application's sign-in request is not valid. Return to the application and try again.", // the code is logged
				"reason", "invalid request of an unvouched client", "client_id", c.Client.ID, "error_code", code, "error_description", desc)
			return
		}
		http.Redirect(w, r, p.errorURL(redirectURI, state, code, desc), http.StatusFound)
	}

	for _, k := range singleValued {
		if len(form[k]) > 1 {
			fail("invalid_request", "parameter "+k+" is repeated")
			return
		}
	}
	switch {
	case form.Get("request") != "":
		fail("request_not_supported", "request objects are not supported")
		return
	case form.Get("request_uri") != "":
		fail("request_uri_not_supported", "request_uri is not supported")
		return
	}
	req, err := op.ParseAuthorizeRequest(r, p.op.Decoder())
	if err != nil {
		fail("invalid_request", "malformed authorization parameters")
		return
	}
	switch req.ResponseType {
	case "":
		fail("invalid_request", "response_type is required")
		return
	case oidc.ResponseTypeCode:
	default:
		fail("unsupported_response_type", "only response_type=code is supported")
		return
	}
	if req.ResponseMode != "" && req.ResponseMode != oidc.ResponseModeQuery {
		fail("invalid_request", "only response_mode=query is supported")
		return
	}
	if !slices.Contains(req.Scopes, oidc.ScopeOpenID) {
		fail("invalid_scope", "the openid scope is required")
		return
	}
	if slices.Contains(req.Scopes, oidc.ScopeOfflineAccess) && !c.hasGrant(oidc.GrantTypeRefreshToken) {
		fail("invalid_scope", "offline_access is not allowed for this client")
		return
	}
	if param := form.Get("organization"); param != "" {
		for _, sc := range req.Scopes {
			if slug, ok := strings.CutPrefix(sc, "org:"); ok && slug != param {
				fail("invalid_request", "organization and the org:<slug> scope name different organizations")
				return
			}
		}
	}
	resources, terr := p.resolveTargets(c, form["resource"], req.Scopes, true)
	if terr != nil {
		fail(terr.code, terr.desc)
		return
	}
	if req.MaxAge, err = op.ValidateAuthReqPrompt(req.Prompt, req.MaxAge); err != nil {
		fail("invalid_request", "prompt=none cannot be combined with other values")
		return
	}
	if msg := checkPKCE(c, req); msg != "" {
		fail("invalid_request", msg)
		return
	}
	hintSubject, err := op.ValidateAuthReqIDTokenHint(ctx, req.IDTokenHint, p.op.IDTokenHintVerifier(ctx))
	if err != nil {
		fail("login_required", "id_token_hint is invalid")
		return
	}
	browser := p.cookies.EnsureBrowserID(w, r)
	now := p.now().UTC()
	ar := storage.AuthRequest{
		ID: random.ID(), ClientID: req.ClientID, RedirectURI: req.RedirectURI, State: req.State, Nonce: req.Nonce,
		Scopes: req.Scopes, ResponseType: string(req.ResponseType), ResponseMode: string(req.ResponseMode),
		CodeChallenge: req.CodeChallenge, CodeChallengeMethod: string(req.CodeChallengeMethod),
		Prompt: req.Prompt, LoginHint: req.LoginHint, HintSubject: hintSubject, ACRValues: req.ACRValues,
		BrowserHash: httpx.BrowserHash(browser), CreatedAt: now, ExpiresAt: now.Add(p.cfg.AuthRequestTTL),
		Connection: form.Get("connection"), // an upstream the client asks for (validated by login)
		OrgRequest: requestedOrg(form.Get("organization"), req.Scopes), Resources: resources,
	}
	for _, l := range req.UILocales {
		ar.UILocales = append(ar.UILocales, l.String())
	}
	if req.MaxAge != nil {
		v := int64(*req.MaxAge)
		ar.MaxAge = &v
	}
	if err := p.store.CreateAuthRequest(ctx, ar); err != nil {
		slog.ErrorContext(ctx, "authorize: store auth request", "error", err)
		fail("temporarily_unavailable", "try again shortly")
		return
	}
	http.Redirect(w, r, p.cfg.LoginPath+"?id="+url.QueryEscape(ar.ID), http.StatusFound)
}

// requestedOrg is the organization slug the client asks for: the
// organization parameter, or an org:<slug> scope.
func requestedOrg(param string, scopes []string) string {
	if param != "" {
		return param
	}
	for _, s := range scopes {
		if slug, ok := strings.CutPrefix(s, "org:"); ok && slug != "" {
			return slug
		}
	}
	return ""
}

// checkPKCE returns why the request's PKCE parameters are unacceptable, or
// "". Public clients must send an S256 challenge; nobody may use plain.
func checkPKCE(c *client, req *oidc.AuthRequest) string {
	if req.CodeChallenge == "" {
		switch {
		case req.CodeChallengeMethod != "":
			return "code_challenge_method without code_challenge"
		case c.Public():
			return "PKCE (code_challenge with S256) is required for this client"
		}
		return ""
	}
	if req.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
		return "code_challenge_method must be S256"
	}
	if !pkceChallenge.MatchString(req.CodeChallenge) {
		return "code_challenge is malformed"
	}
	return ""
}

// callback issues the code once the login screens are done with an auth
// request, to the browser that started it only.
func (p *Provider) callback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ar, err := p.store.AuthRequestByID(ctx, r.URL.Query().Get("id"))
	if errors.Is(err, storage.ErrNotFound) {
		p.errorPage(w, r, http.StatusBadRequest, "This sign-in link is no longer valid. Return to the application and sign in again.",
			"reason", "unknown or expired auth request")
		return
	}
	if err != nil {
		p.errorPage(w, r, http.StatusServiceUnavailable, "Sign-in is temporarily unavailable. Please try again shortly.",
			"reason", "load auth request", "error", err)
		return
	}
	if !p.cookies.SameBrowser(r, ar.BrowserHash) {
		p.errorPage(w, r, http.StatusForbidden, "This sign-in was started in another browser. Return to the application and sign in again here.",
			"reason", "auth request bound to another browser", "client_id", ar.ClientID)
		return
	}
	if !ar.Done {
		http.Redirect(w, r, p.cfg.LoginPath+"?id="+url.QueryEscape(ar.ID), http.StatusFound)
		return
	}
	if ok, err := p.sessionAlive(r, ar.SessionID); err != nil || !ok {
		if err != nil {
			slog.ErrorContext(ctx, "callback: load session", "error", err)
		}
		http.Redirect(w, r, p.errorURL(ar.RedirectURI, ar.State, "login_required", "the session has ended"), http.StatusFound)
		return
	}
	code := random.Token(32)
	err = p.store.SaveAuthCode(ctx, ar.ID, storage.HashSecret(code), p.now().UTC().Add(p.cfg.CodeTTL))
	if errors.Is(err, storage.ErrAlreadyUsed) || errors.Is(err, storage.ErrNotFound) {
		p.errorPage(w, r, http.StatusBadRequest, "This sign-in was already completed. Return to the application.",
			"reason", "code already issued for the auth request", "client_id", ar.ClientID)
		return
	}
	if err != nil {
		p.errorPage(w, r, http.StatusServiceUnavailable, "Sign-in is temporarily unavailable. Please try again shortly.",
			"reason", "save code", "error", err)
		return
	}
	u, _ := url.Parse(ar.RedirectURI) // validated at /authorize
	q := u.Query()
	q.Set("code", code)
	if ar.State != "" {
		q.Set("state", ar.State)
	}
	q.Set("iss", p.cfg.Issuer)
	u.RawQuery = q.Encode()
	httpx.NoStore(w)
	http.Redirect(w, r, u.String(), http.StatusFound)
}

func (p *Provider) sessionAlive(r *http.Request, hash string) (bool, error) {
	s, err := p.store.SessionByHash(r.Context(), hash)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return s.RevokedAt.IsZero() && p.now().Before(s.ExpiresAt), nil
}

// errorURL builds an error response to a verified redirect URI, with state
// and the RFC 9207 iss parameter.
func (p *Provider) errorURL(redirectURI, state, code, desc string) string {
	u, err := url.Parse(redirectURI)
	if err != nil {
		return p.cfg.Issuer
	}
	q := u.Query()
	q.Set("error", code)
	if desc != "" {
		q.Set("error_description", cleanDescription(desc))
	}
	if state != "" {
		q.Set("state", state)
	}
	q.Set("iss", p.cfg.Issuer)
	u.RawQuery = q.Encode()
	return u.String()
}

// ErrorRedirectURL is the authorization error response for an auth request
// (login_required, consent_required, access_denied), for the login screens.
// Like /authorize, it bounces only to vouched clients: for a client of an
// organization without a verified domain it is our error page.
func (p *Provider) ErrorRedirectURL(ctx context.Context, ar storage.AuthRequest, code, desc string) string {
	c, err := p.clients.get(ctx, ar.ClientID)
	if err == nil {
		vouched, verr := p.ClientVouched(ctx, c.Client)
		err = verr
		if err == nil && vouched {
			return p.errorURL(ar.RedirectURI, ar.State, code, desc)
		}
	}
	return p.cfg.LoginPath + "/error?code=" + url.QueryEscape(code)
}

// cleanDescription keeps error_description to printable ASCII without the
// characters RFC 6749 §5.2 excludes, and short.
func cleanDescription(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 0x20 && r <= 0x7e && r != '"' && r != '\\' {
			b.WriteRune(r)
		}
		if b.Len() >= 200 {
			break
		}
	}
	return b.String()
}

// ClientVouched reports whether a client's addresses may receive a bounce
// (an authorization error or a post-logout redirect): the operator's
// clients, and those of organizations that verified a domain, so a
// throwaway self-registered organization cannot turn our pages into an
// open redirector. The login screens call it too: one rule for both.
func (p *Provider) ClientVouched(ctx context.Context, c storage.Client) (bool, error) {
	if c.OrgID == "" {
		return true, nil
	}
	ds, err := p.store.DomainsOf(ctx, c.OrgID)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(ds, func(d storage.OrganizationDomain) bool { return !d.VerifiedAt.IsZero() }), nil
}
