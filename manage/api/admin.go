// Package api is the management API (JSON over HTTP under /api/v1,
// described in openapi.yaml beside this file). Callers authenticate with
// access tokens from this provider; every route below /orgs/{org} is
// allowed by the caller's permissions in that organization, and for an
// organization the caller does not belong to, every route answers 404, as
// for one that does not exist (tenant isolation).
package api

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gorilla/mux"

	"github.com/optibid/idp/internal/httpx"
	"github.com/optibid/idp/internal/i18n"
	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/manage/entitlements"
	"github.com/optibid/idp/manage/roles"
	"github.com/optibid/idp/storage"
)

// OpenAPI is the API's description.
//
//go:embed openapi.yaml
var OpenAPI []byte

// Store is what the API reads and changes.
type Store interface {
	// manage.Store: what the rules the API applies read and write.
	manage.Store
	AcceptInvitation(ctx context.Context, tokenHash string, u storage.User, now time.Time, inviterMay func(inviterRole, invitedRole string, platformAdmin bool) bool, ev storage.AuditEvent) (storage.Invitation, error)
	AddDomain(ctx context.Context, d storage.OrganizationDomain, ev storage.AuditEvent) error
	ClientByID(ctx context.Context, id string) (storage.Client, error)
	ClientsOf(ctx context.Context, orgID string) ([]storage.Client, error)
	ConnectionByID(ctx context.Context, id string) (storage.Connection, error)
	CreateInvitation(ctx context.Context, inv storage.Invitation, ev storage.AuditEvent) error
	Dashboard(ctx context.Context, userID, orgID string) ([]byte, error)
	DeleteClient(ctx context.Context, id string, now time.Time, ev storage.AuditEvent) error
	DeleteConnection(ctx context.Context, id string, ev storage.AuditEvent) error
	DeleteOrganization(ctx context.Context, orgID string, ev storage.AuditEvent) error
	DomainsOf(ctx context.Context, orgID string) ([]storage.OrganizationDomain, error)
	FeatureChanges(ctx context.Context, orgID string, limit int) ([]storage.FeatureChange, error)
	InvitationsOf(ctx context.Context, orgID string) ([]storage.Invitation, error)
	ListAPIs(ctx context.Context) ([]storage.API, error)
	ListAudit(ctx context.Context, f storage.AuditFilter) ([]storage.AuditEvent, error)
	ListConnections(ctx context.Context) ([]storage.Connection, error)
	ListTemplates(ctx context.Context) ([]storage.FeatureTemplate, error)
	ListWidgets(ctx context.Context) ([]storage.Widget, error)
	MembersOf(ctx context.Context, orgID string) ([]storage.Membership, error)
	MembershipsByUser(ctx context.Context, userID string) ([]storage.Membership, error)
	OrgFeatureSettings(ctx context.Context, orgID string) (map[string]storage.FeatureSetting, error)
	OrganizationByID(ctx context.Context, id string) (storage.Organization, error)
	RecordUsage(ctx context.Context, u storage.UsageCount) error
	RevokeInvitation(ctx context.Context, orgID, id string, now time.Time, ev storage.AuditEvent) error
	SetDashboard(ctx context.Context, userID, orgID string, layout []byte, now time.Time) error
	SetEmailPolicy(ctx context.Context, orgID string, requireVerified bool, ev storage.AuditEvent) error
	SetJoinByDomain(ctx context.Context, orgID string, on bool, ev storage.AuditEvent) error
	SetMFAPolicy(ctx context.Context, orgID, policy string, ev storage.AuditEvent) error
	SetMemberRole(ctx context.Context, orgID, userID, role string, ev storage.AuditEvent) error
	SetOrgSettings(ctx context.Context, orgID string, settings []byte, ev storage.AuditEvent) error
	SetPlan(ctx context.Context, orgID, plan string, ev storage.AuditEvent) error
	UpsertClient(ctx context.Context, c storage.Client, ev storage.AuditEvent) (storage.Client, error)
	UpsertConnection(ctx context.Context, c storage.Connection, ev storage.AuditEvent) error
	UpsertOrganization(ctx context.Context, o storage.Organization, ev storage.AuditEvent) (storage.Organization, error)
	UsageOf(ctx context.Context, orgID string, since, until time.Time) ([]storage.UsageCount, error)
	UserByID(ctx context.Context, id string) (storage.User, error)
	ListOrganizations(ctx context.Context, q storage.OrgQuery) ([]storage.Organization, error)
	SigningKeys(ctx context.Context) ([]storage.SigningKey, error)
}

// Resolver looks up DNS TXT records for domain verification.
type Resolver = manage.Resolver

// Deps are the API's collaborators.
type Deps struct {
	Store Store
	// Authenticate turns a bearer access token for the management API
	// into its caller. It fails with ErrUnavailable when the store cannot
	// tell (503), with any other error when the token is not one (401).
	Authenticate func(ctx context.Context, token string) (Principal, error)
	Resolver     Resolver
	// DomainKey keys the domain-verification values (32 bytes).
	DomainKey []byte
	// Catalogue is the feature catalogue.
	Catalogue func() entitlements.Catalogue
	Now       func() time.Time
	// Mailer sends invitations (nil: stored, not sent); ProductName and
	// InvitationURL go into the mail; InvitationTTL:
	// manage.DefaultInvitationTTL when zero.
	Mailer        manage.Mailer
	ProductName   string
	InvitationURL string
	InvitationTTL time.Duration
	// Translator writes the mails in their languages (nil: the embedded
	// catalogue, loaded for each mail).
	Translator *i18n.Translator
	// NoPasskeys: the deployment cannot have passkeys (manage.Service).
	NoPasskeys bool
	// ClientChanged drops a client from the provider's cache after a
	// change (nil: none).
	ClientChanged func(clientID string)
	// APIsChanged reloads the provider's APIs after a change (nil: none).
	APIsChanged func()
	// ManagementAPI is the management API's identifier, which no
	// organization may register.
	ManagementAPI string
	Connections   manage.Connectors
	// Keys rotates the signing keys (nil: not offered); KeyAlgorithms are
	// the configured algorithms.
	Keys          KeyRotator
	KeyAlgorithms []string
}

// Principal is the caller of a management-API token.
type Principal struct {
	// UserID is the signed-in user of a user's token.
	UserID string
	// ServiceAccount is the client of a service account's token: it acts
	// in its organization with its role, nowhere else.
	ServiceAccount *storage.Client
	// ReadOnly: the token has manage:read but not manage.
	ReadOnly bool
}

// ErrUnavailable means the caller could not be checked (the store is down).
var ErrUnavailable = errors.New("admin: authentication unavailable")

// Handler serves the API.
type Handler struct {
	Deps
	// rules is the management layer every change goes through.
	rules *manage.Service
}

// New returns the API.
func New(d Deps) *Handler {
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Handler{Deps: d, rules: &manage.Service{Store: d.Store, Now: d.Now, Catalogue: d.Catalogue,
		ManagementAPI: d.ManagementAPI, Connectors: d.Connections, Mailer: d.Mailer, ProductName: d.ProductName,
		InvitationURL: d.InvitationURL, InvitationTTL: d.InvitationTTL, Translator: d.Translator, Resolver: d.Resolver, DomainKey: d.DomainKey, NoPasskeys: d.NoPasskeys}}
}

// Register mounts the routes under /api/v1.
func (h *Handler) Register(r *mux.Router) {
	api := r.PathPrefix("/api/v1").Subrouter()
	api.HandleFunc("/openapi.yaml", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(OpenAPI)
	}).Methods(http.MethodGet)
	api.Handle("/me", h.user(h.me)).Methods(http.MethodGet)
	api.Handle("/me", h.user(h.eraseMe)).Methods(http.MethodDelete)
	api.Handle("/me/export", h.user(h.exportMe)).Methods(http.MethodGet)
	org := func(perm string, f orgHandler) http.Handler { return h.authenticated(h.inOrg(perm, f), true) }
	api.Handle("/orgs/{org}", org(roles.OrgRead, h.getOrg)).Methods(http.MethodGet)
	api.Handle("/orgs/{org}", org(roles.OrgUpdate, h.patchOrg)).Methods(http.MethodPatch)
	api.Handle("/orgs/{org}", org(roles.OrgDelete, h.deleteOrg)).Methods(http.MethodDelete)
	api.Handle("/orgs", h.user(h.createOrg)).Methods(http.MethodPost)
	api.Handle("/orgs", h.user(h.listOrgs)).Methods(http.MethodGet)
	api.Handle("/keys", h.user(h.listKeys)).Methods(http.MethodGet)
	api.Handle("/keys/rotate", h.user(h.rotateKeys)).Methods(http.MethodPost)
	api.Handle("/connections", h.user(h.platformConnections)).Methods(http.MethodGet)
	api.Handle("/audit", h.user(h.platformAudit)).Methods(http.MethodGet)
	api.Handle("/orgs/{org}/templates", org(roles.FeaturesRead, h.listTemplates)).Methods(http.MethodGet)
	api.Handle("/orgs/{org}/members", org(roles.MembersRead, h.listMembers)).Methods(http.MethodGet)
	api.Handle("/orgs/{org}/members", org(roles.MembersInvite, h.addMember)).Methods(http.MethodPost)
	api.Handle("/orgs/{org}/members/{user}", org(roles.RolesAssign, h.setRole)).Methods(http.MethodPatch)
	api.Handle("/orgs/{org}/members/{user}", org(roles.MembersRemove, h.removeMember)).Methods(http.MethodDelete)
	api.Handle("/invitations/accept", h.user(h.acceptInvitation)).Methods(http.MethodPost)
	api.Handle("/orgs/{org}/invitations", org(roles.InvitationsManage, h.listInvitations)).Methods(http.MethodGet)
	api.Handle("/orgs/{org}/invitations", org(roles.InvitationsManage, h.invite)).Methods(http.MethodPost)
	api.Handle("/orgs/{org}/invitations/{invitation}", org(roles.InvitationsManage, h.revokeInvitation)).Methods(http.MethodDelete)
	api.Handle("/orgs/{org}/invitations/{invitation}/resend", org(roles.InvitationsManage, h.resendInvitation)).Methods(http.MethodPost)
	api.Handle("/orgs/{org}/clients", org(roles.ClientsRead, h.listClients)).Methods(http.MethodGet)
	api.Handle("/orgs/{org}/clients", org(roles.ClientsManage, h.createClient)).Methods(http.MethodPost)
	api.Handle("/orgs/{org}/clients/{client}", org(roles.ClientsManage, h.deleteClient)).Methods(http.MethodDelete)
	api.Handle("/orgs/{org}/clients/{client}/secret", org(roles.ClientsManage, h.rotateSecret)).Methods(http.MethodPost)
	api.Handle("/apis", h.user(h.platformAPIs)).Methods(http.MethodGet)
	api.Handle("/apis", h.user(h.putPlatformAPI)).Methods(http.MethodPut)
	api.Handle("/apis", h.user(h.deletePlatformAPI)).Methods(http.MethodDelete)
	api.Handle("/orgs/{org}/apis", org(roles.ClientsRead, h.listAPIs)).Methods(http.MethodGet)
	api.Handle("/orgs/{org}/apis", org(roles.ClientsManage, h.putAPI)).Methods(http.MethodPut)
	api.Handle("/orgs/{org}/apis", org(roles.ClientsManage, h.deleteAPI)).Methods(http.MethodDelete)
	api.Handle("/orgs/{org}/widgets", org(roles.DashboardsPersonalize, h.listWidgets)).Methods(http.MethodGet)
	api.Handle("/orgs/{org}/dashboard", org(roles.DashboardsPersonalize, h.getDashboard)).Methods(http.MethodGet)
	api.Handle("/orgs/{org}/dashboard", org(roles.DashboardsPersonalize, h.putDashboard)).Methods(http.MethodPut)
	api.Handle("/orgs/{org}/usage", org(roles.OrgRead, h.recordUsage)).Methods(http.MethodPost)
	api.Handle("/orgs/{org}/usage", org(roles.UsageRead, h.usage)).Methods(http.MethodGet)
	api.Handle("/orgs/{org}/connections", org(roles.ConnectionsManage, h.listConnections)).Methods(http.MethodGet)
	api.Handle("/orgs/{org}/connections", org(roles.ConnectionsManage, h.createConnection)).Methods(http.MethodPost)
	api.Handle("/orgs/{org}/connections/{connection}", org(roles.ConnectionsManage, h.deleteConnection)).Methods(http.MethodDelete)
	api.Handle("/orgs/{org}/connections/{connection}", org(roles.ConnectionsManage, h.patchConnection)).Methods(http.MethodPatch)
	api.Handle("/orgs/{org}/connections/{connection}/test", org(roles.ConnectionsManage, h.testConnection)).Methods(http.MethodPost)
	api.Handle("/orgs/{org}/domains", org(roles.OrgRead, h.listDomains)).Methods(http.MethodGet)
	api.Handle("/orgs/{org}/domains", org(roles.DomainsManage, h.addDomain)).Methods(http.MethodPost)
	api.Handle("/orgs/{org}/domains/{domain}/verify", org(roles.DomainsManage, h.verifyDomain)).Methods(http.MethodPost)
	api.Handle("/orgs/{org}/domains/{domain}", org(roles.DomainsManage, h.removeDomain)).Methods(http.MethodDelete)
	api.Handle("/orgs/{org}/audit", org(roles.AuditRead, h.audit)).Methods(http.MethodGet)
	api.Handle("/orgs/{org}/features", org(roles.FeaturesRead, h.listFeatures)).Methods(http.MethodGet)
	api.Handle("/orgs/{org}/features/changes", org(roles.FeaturesRead, h.featureChanges)).Methods(http.MethodGet)
	api.Handle("/orgs/{org}/features/{feature}", org(roles.FeaturesManage, h.setFeature)).Methods(http.MethodPut)
	api.Handle("/orgs/{org}/templates/{template}/apply", org(roles.TemplatesApply, h.applyTemplate)).Methods(http.MethodPost)
}

// --- responses ---

type apiError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
	// Field names the request field a broken rule is about.
	Field string `json:"field,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	httpx.NoStore(w)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, apiError{Error: code, Message: msg})
}

func (h *Handler) internal(w http.ResponseWriter, r *http.Request, what string, err error) {
	slog.ErrorContext(r.Context(), "admin api: "+what, "error", err)
	w.Header().Set("Retry-After", "2")
	fail(w, http.StatusServiceUnavailable, "unavailable", "The service is temporarily unavailable.")
}

// failRule answers an error from the management layer: a broken rule is
// 400 with the field it names (code is the error code for it), a taken
// name 409, a missing object 404, anything else 503 (logged, never shown).
func (h *Handler) failRule(w http.ResponseWriter, r *http.Request, code, what string, err error) {
	var one *manage.ValidationError
	switch {
	case errors.As(err, &one):
		msg := one.Error()
		var all manage.ValidationErrors
		if errors.As(err, &all) {
			msg = strings.ReplaceAll(all.Error(), "\n", "; ")
		}
		writeJSON(w, http.StatusBadRequest, apiError{Error: code, Message: msg + ".", Field: one.Field})
	case errors.Is(err, storage.ErrConflict):
		fail(w, http.StatusConflict, "conflict", "That name is taken.")
	case errors.Is(err, storage.ErrNotFound):
		notFound(w)
	default:
		h.internal(w, r, what, err)
	}
}

func notFound(w http.ResponseWriter) { fail(w, http.StatusNotFound, "not_found", "No such object.") }

// --- authentication and authorization ---

type caller struct {
	user storage.User
	// service is set for a service account; user then only names it
	// (ID = client ID) for audit rows.
	service *storage.Client
}

type userHandler func(w http.ResponseWriter, r *http.Request, c caller)

// user admits people only (their own account, creating organizations,
// accepting invitations, the platform audit log).
func (h *Handler) user(f userHandler) http.Handler { return h.authenticated(f, false) }

// authenticated checks the bearer token: an access token for the
// management API, read-only tokens for reads only; service accounts only
// where allowService.
func (h *Handler) authenticated(f userHandler, allowService bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		unauthorized := func() {
			w.Header().Set("WWW-Authenticate", `Bearer realm="optibid-admin", error="invalid_token"`)
			fail(w, http.StatusUnauthorized, "invalid_token", "The access token is invalid or expired.")
		}
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="optibid-admin"`)
			fail(w, http.StatusUnauthorized, "unauthorized", "A bearer access token is required.")
			return
		}
		pr, err := h.Authenticate(r.Context(), token)
		if errors.Is(err, ErrUnavailable) {
			h.internal(w, r, "authenticate", err)
			return
		}
		if err != nil {
			unauthorized()
			return
		}
		if pr.ReadOnly && r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("WWW-Authenticate", `Bearer realm="optibid-admin", error="insufficient_scope", scope="manage"`)
			fail(w, http.StatusForbidden, "insufficient_scope", "This token may only read (scope manage:read).")
			return
		}
		if pr.ServiceAccount != nil {
			if !allowService {
				fail(w, http.StatusForbidden, "forbidden", "Service accounts act only within their organization.")
				return
			}
			f(w, r, caller{user: storage.User{ID: pr.ServiceAccount.ID, Name: pr.ServiceAccount.Name}, service: pr.ServiceAccount})
			return
		}
		u, err := h.Store.UserByID(r.Context(), pr.UserID)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			h.internal(w, r, "load user", err)
			return
		}
		if err != nil || u.Disabled {
			unauthorized()
			return
		}
		f(w, r, caller{user: u})
	})
}

type orgHandler func(w http.ResponseWriter, r *http.Request, c caller, org storage.Organization, role string)

// inOrg resolves {org} (an ID or a slug) through the management layer's
// EnterOrg: 404 when the caller is not a member (whether or not it
// exists), 403 without perm.
func (h *Handler) inOrg(perm string, f orgHandler) userHandler {
	return func(w http.ResponseWriter, r *http.Request, c caller) {
		a, err := h.rules.EnterOrg(r.Context(), c.who(), mux.Vars(r)["org"], perm)
		var forbidden *manage.ForbiddenError
		switch {
		case errors.Is(err, storage.ErrNotFound):
			notFound(w)
		case errors.As(err, &forbidden):
			fail(w, http.StatusForbidden, "forbidden", "Your role does not allow this ("+forbidden.Permission+").")
		case err != nil:
			h.internal(w, r, "organization", err)
		default:
			f(w, r, c, a.Org, a.Role)
		}
	}
}

// who is the caller as the management layer knows callers.
func (c caller) who() manage.Caller {
	return manage.Caller{UserID: c.user.ID, PlatformAdmin: c.service == nil && c.user.PlatformAdmin, Service: c.service}
}

func (h *Handler) audit(w http.ResponseWriter, r *http.Request, _ caller, org storage.Organization, _ string) {
	h.auditQuery(w, r, org.ID)
}

// platformAudit queries across organizations (platform admins only); the
// org parameter narrows it to one.
func (h *Handler) platformAudit(w http.ResponseWriter, r *http.Request, c caller) {
	if !c.user.PlatformAdmin {
		fail(w, http.StatusForbidden, "forbidden", "Only platform administrators query the whole audit log.")
		return
	}
	h.auditQuery(w, r, r.URL.Query().Get("org"))
}

// auditQuery answers one page of audit rows, newest first, filtered by
// type, user (actor or subject) and time.
func (h *Handler) auditQuery(w http.ResponseWriter, r *http.Request, orgID string) {
	q := r.URL.Query()
	f := storage.AuditFilter{OrgID: orgID, Type: q.Get("type"), UserID: q.Get("user"), Limit: 100}
	if n, err := strconv.Atoi(q.Get("limit")); err == nil && n > 0 && n <= 1000 {
		f.Limit = n
	}
	for name, dst := range map[string]*time.Time{"since": &f.Since, "before": &f.Before} {
		if v := q.Get(name); v != "" {
			t, err := parseWhen(v, h.Now())
			if err != nil {
				writeJSON(w, http.StatusBadRequest, apiError{Error: "invalid_request", Field: name,
					Message: name + " must be an RFC 3339 time or an age such as 90m, 24h or 7d."})
				return
			}
			*dst = t
		}
	}
	if after := q.Get("after"); after != "" {
		// The cursor of a previous page: its last row's time and ID.
		at, id, ok := strings.Cut(after, "_")
		t, err := time.Parse(time.RFC3339Nano, at)
		if !ok || err != nil || id == "" || len(id) > 64 {
			writeJSON(w, http.StatusBadRequest, apiError{Error: "invalid_request", Field: "after", Message: "after must be the next value of a previous page."})
			return
		}
		f.Before, f.BeforeID = t, id
	}
	evs, err := h.Store.ListAudit(r.Context(), f)
	if err != nil {
		h.internal(w, r, "audit", err)
		return
	}
	views := make([]AuditView, 0, len(evs))
	for _, ev := range evs {
		views = append(views, ViewAudit(ev))
	}
	out := map[string]any{"events": views}
	if len(evs) == f.Limit {
		last := evs[len(evs)-1]
		// next continues exactly after the last row (after=next);
		// next_before, a time, may skip rows of that very instant.
		out["next"] = last.Time.Format(time.RFC3339Nano) + "_" + last.ID
		out["next_before"] = last.Time.Format(time.RFC3339Nano)
	}
	writeJSON(w, http.StatusOK, out)
}

// parseWhen reads a time filter: an RFC 3339 time, or an age ("90m",
// "24h", "7d": that long before now).
func parseWhen(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 36500 {
			return time.Time{}, errors.New("bad age")
		}
		return now.AddDate(0, 0, -n), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > 100*365*24*time.Hour {
		return time.Time{}, errors.New("bad age")
	}
	return now.Add(-d), nil
}

// ViewAudit is an audit row as the API (and the CLI's audit export) shows
// it.
func ViewAudit(ev storage.AuditEvent) AuditView {
	return AuditView{ev.ID, ev.Time.Format(time.RFC3339Nano), ev.Type, ev.ActorID, ev.SubjectID, ev.OrgID, ev.ClientID,
		ev.IP, ev.UserAgent, ev.RequestID, ev.Details}
}

// AuditView is the JSON form of an audit row.
type AuditView struct {
	ID        string            `json:"id"`
	Time      string            `json:"time"`
	Type      string            `json:"type"`
	ActorID   string            `json:"actor_id"`
	SubjectID string            `json:"subject_id,omitempty"`
	OrgID     string            `json:"org_id"`
	ClientID  string            `json:"client_id,omitempty"`
	IP        string            `json:"ip,omitempty"`
	UserAgent string            `json:"user_agent,omitempty"`
	RequestID string            `json:"request_id,omitempty"`
	Details   map[string]string `json:"details,omitempty"`
}

// actor is who acts through the API: the user, or the service account
// (audited as itself).
func (c caller) actor(r *http.Request) manage.Actor {
	clientID := ""
	if c.service != nil {
		clientID = c.service.ID
	}
	a := manage.ActorFrom(r, c.user.ID, clientID)
	// Platform admins (people, not service accounts) act as operators.
	a.Operator = c.service == nil && c.user.PlatformAdmin
	return a
}

// event is an audit row for a change made through the API.
func (h *Handler) event(r *http.Request, typ manage.EventType, c caller, org storage.Organization, subject string, details map[string]string) storage.AuditEvent {
	return c.actor(r).Event(h.Now(), typ, manage.About{Subject: subject, Org: org.ID, Details: details})
}

// decode reads a small JSON body strictly. Invalid UTF-8 and NUL (also
// escaped) are refused like malformed JSON: no string reaches the store
// that it cannot hold.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		fail(w, http.StatusUnsupportedMediaType, "invalid_request", "Send application/json.")
		return false
	}
	body, err := io.ReadAll(r.Body)
	if err != nil || !utf8.Valid(body) || bytes.Contains(bytes.ToLower(body), []byte(`\u0000`)) {
		fail(w, http.StatusBadRequest, "invalid_request", "The JSON body could not be read.")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, decodeError(err))
		return false
	}
	return true
}

// decodeError names what is wrong with a body the decoder refused: an
// unknown field or a value of the wrong type by its name, anything else
// as unreadable. encoding/json has no typed error for an unknown field;
// its message is stable since Go 1.10.
func decodeError(err error) apiError {
	var typ *json.UnmarshalTypeError
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		field, uerr := strconv.Unquote(name)
		if uerr == nil && utf8.RuneCountInString(field) <= 100 {
			return apiError{Error: "invalid_request", Message: "unknown field " + strconv.Quote(field), Field: field}
		}
	}
	if errors.As(err, &typ) && typ.Field != "" {
		return apiError{Error: "invalid_request", Message: typ.Field + " must be of type " + jsonKind(typ.Type.Kind().String()), Field: typ.Field}
	}
	return apiError{Error: "invalid_request", Message: "The JSON body could not be read."}
}

// jsonKind names a Go kind as JSON calls it.
func jsonKind(kind string) string {
	switch {
	case kind == "bool":
		return "boolean"
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"), strings.HasPrefix(kind, "float"):
		return "number"
	case kind == "slice", kind == "array":
		return "array"
	case kind == "map", kind == "struct":
		return "object"
	}
	return kind
}
