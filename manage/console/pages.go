package console

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gorilla/mux"

	"github.com/optibid/idp/internal/i18n"
	"github.com/optibid/idp/manage"
)

// orgInfo is GET /orgs/{org}: the organization and the person's standing.
type orgInfo struct {
	Org         orgView  `json:"org"`
	Role        string   `json:"role"`
	Permissions []string `json:"permissions"`
}

// orgBase loads the shared parts of an organization's page.
func (c *Console) orgBase(r *http.Request, s *session, active string) (page, error) {
	var p page
	if err := c.base(r, s, &p); err != nil {
		return p, err
	}
	var info orgInfo
	if err := c.api(r, s, http.MethodGet, "/orgs/"+url.PathEscape(mux.Vars(r)["org"]), nil, &info); err != nil {
		return p, err
	}
	p.Org, p.Role, p.Permissions, p.Active = &info.Org, info.Role, info.Permissions, active
	return p, nil
}

func (c *Console) orgPageVar(w http.ResponseWriter, r *http.Request, s *session) {
	c.orgPage(mux.Vars(r)["page"])(w, r, s)
}

// orgPage renders one of an organization's pages; extra is shown on it
// (an action's result: a secret shown once, a connection test).
func (c *Console) orgPage(name string) authedHandler {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		c.showOrg(w, r, s, name, http.StatusOK, nil, nil)
	}
}

// showOrg renders page name; failed is a refused change to explain, extra
// an action's result.
func (c *Console) showOrg(w http.ResponseWriter, r *http.Request, s *session, name string, status int, failed *errAPI, extra map[string]any) {
	p, err := c.orgBase(r, s, name)
	if err != nil {
		c.fail(w, r, "organization", err)
		return
	}
	data := map[string]any{}
	for k, v := range extra {
		data[k] = v
	}
	org := "/orgs/" + url.PathEscape(p.Org.ID)
	get := func(path string, into any) bool {
		if err := c.api(r, s, http.MethodGet, org+path, nil, into); err != nil {
			c.fail(w, r, name, err)
			return false
		}
		return true
	}
	may := func(perm string) bool { return slices.Contains(p.Permissions, perm) }
	if perm, ok := pagePermission[name]; ok && !may(perm) {
		// The API would refuse the page's main list too; say so plainly
		// rather than show an empty page.
		c.problem(w, r, http.StatusForbidden, "Your role in "+p.Org.Name+" does not include this page.", "page permission", "permission", perm)
		return
	}
	switch name {
	case "overview":
		p.Title = p.Org.Name
		var members struct{ Members []json.RawMessage }
		var features featureList
		if !get("/members?limit=1000", &members) || !get("/features", &features) {
			return
		}
		data["Members"] = len(members.Members)
		data["Enabled"] = features.enabled()
		if may("audit:read") {
			var audit auditPage
			if !get("/audit?limit=8", &audit) {
				return
			}
			data["Events"] = audit.Events
		}
	case "settings":
		p.Title = "Settings"
		data["Policies"] = manage.MFAPolicies
	case "domains":
		p.Title = "Domains"
		var ds struct {
			Domains []map[string]any `json:"domains"`
		}
		if !get("/domains", &ds) {
			return
		}
		data["Domains"] = ds.Domains
	case "members":
		p.Title = "Members"
		var ms struct {
			Members []map[string]any `json:"members"`
		}
		if !get("/members", &ms) {
			return
		}
		data["Members"] = ms.Members
		data["Roles"] = grantable(p.Role)
		if may("invitations:manage") {
			var inv struct {
				Invitations []map[string]any `json:"invitations"`
			}
			if !get("/invitations", &inv) {
				return
			}
			var pending []map[string]any
			for _, i := range inv.Invitations {
				if i["status"] == "pending" {
					pending = append(pending, i)
				}
			}
			data["Invitations"] = pending
			// The invitation mail's language: the browser's, to start with.
			data["Languages"] = i18n.Choices()
			data["Language"] = i18n.Negotiate(nil, r.Header.Get("Accept-Language"))
		}
	case "connections":
		p.Title = "Single sign-on"
		if may("connections:manage") {
			var cs struct {
				Connections []map[string]any `json:"connections"`
			}
			if !get("/connections", &cs) {
				return
			}
			data["Connections"] = cs.Connections
		}
		data["Presets"] = presets
		data["CallbackURL"] = strings.TrimSuffix(c.cfg.Issuer, "/") + "/federation/callback"
		data["Roles"] = grantable(p.Role)
	case "clients":
		p.Title = "Applications and APIs"
		var cs struct {
			Clients []map[string]any `json:"clients"`
		}
		if !get("/clients", &cs) {
			return
		}
		data["Clients"] = cs.Clients
		data["Roles"] = grantable(p.Role)
		var apis struct {
			APIs []map[string]any `json:"apis"`
		}
		if !get("/apis", &apis) {
			return
		}
		data["APIs"] = apis.APIs
	case "features":
		p.Title = "Features"
		var fs featureList
		var ts struct {
			Templates []map[string]any `json:"templates"`
		}
		var ch struct {
			Changes []map[string]any `json:"changes"`
		}
		if !get("/features", &fs) || !get("/templates", &ts) || !get("/features/changes", &ch) {
			return
		}
		data["Groups"] = fs.grouped(p.Me.PlatformAdmin)
		data["Operator"] = p.Me.PlatformAdmin
		data["Plan"] = fs.Plan
		data["Templates"] = ts.Templates
		if len(ch.Changes) > 20 {
			ch.Changes = ch.Changes[:20]
		}
		data["Changes"] = ch.Changes
	case "usage":
		p.Title = "Usage"
		var u usageReport
		if !get("/usage", &u) {
			return
		}
		data["Chart"] = u.chart()
		data["Totals"] = u.totalsSorted()
		data["Since"], data["Until"] = u.Since, u.Until
	case "audit":
		p.Title = "Audit log"
		q := auditQuery(r.URL.Query())
		var a auditPage
		if err := c.api(r, s, http.MethodGet, org+"/audit?"+q.Encode(), nil, &a); err != nil {
			var e *errAPI
			if errors.As(err, &e) && e.status == http.StatusBadRequest {
				failed = e
			} else {
				c.fail(w, r, name, err)
				return
			}
		}
		data["Events"] = a.Events
		data["Filter"] = map[string]string{"type": q.Get("type"), "user": q.Get("user"), "since": q.Get("since"), "before": q.Get("before")}
		if a.Next != "" {
			q.Set("after", a.Next)
			data["Older"] = "?" + q.Encode()
		}
		exp := auditQuery(r.URL.Query())
		exp.Del("limit")
		data["Export"] = exp.Encode()
	default:
		c.problem(w, r, http.StatusNotFound, "There is nothing here.", "unknown page")
		return
	}
	if failed != nil {
		p.Error, p.ErrorField = failed.Message, failed.Field
		if status == http.StatusOK {
			status = failed.status
		}
	}
	p.Data = data
	c.render(w, r, status, name, p)
}

// pagePermission is what each page needs: the permission of the API
// call that fills it (the API checks it again on every call).
var pagePermission = map[string]string{
	"overview": "org:read", "settings": "org:read", "domains": "org:read", "members": "members:read",
	"connections": "connections:manage", "clients": "clients:read", "features": "features:read", "usage": "usage:read",
	"audit": "audit:read",
}

// grantable lists the roles someone with role may give, highest first.
func grantable(role string) []string {
	all := []string{"owner", "admin", "member", "viewer"}
	i := slices.Index(all, role)
	if i < 0 {
		return nil
	}
	return all[i:]
}

// auditQuery keeps the audit filters the console passes on.
func auditQuery(in url.Values) url.Values {
	q := url.Values{}
	for _, k := range []string{"type", "user", "since", "before", "after"} {
		if v := strings.TrimSpace(in.Get(k)); v != "" {
			q.Set(k, v)
		}
	}
	q.Set("limit", "50")
	return q
}

type auditPage struct {
	Events []map[string]any `json:"events"`
	Next   string           `json:"next"`
}

type feature struct {
	Key         string         `json:"key"`
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Category    string         `json:"category"`
	Plans       []string       `json:"plans"`
	Requires    []string       `json:"requires"`
	Conflicts   []string       `json:"conflicts"`
	Enabled     bool           `json:"enabled"`
	Source      string         `json:"source"`
	Config      map[string]any `json:"config"`
	Current     map[string]any `json:"current_config"`
	// Filled by the console: what stands in the way of a click.
	MissingRequires []string `json:"-"`
	ActiveConflicts []string `json:"-"`
	NeededBy        []string `json:"-"`
	InPlan          bool     `json:"-"`
	// OutsidePlan: off and not in the plan, so only the platform
	// operator may turn it on (an override the plan does not pay for).
	OutsidePlan bool `json:"-"`
}

type featureList struct {
	Plan     string    `json:"plan"`
	Features []feature `json:"features"`
}

func (l featureList) enabled() []string {
	var out []string
	for _, f := range l.Features {
		if f.Enabled {
			out = append(out, f.Name)
		}
	}
	return out
}

type featureGroup struct {
	Category string
	Features []feature
}

// grouped groups the catalogue by category and works out, for each
// feature, what a click would run into: dependencies still off, conflicts
// on, and features that need it (so turning it off is explained first).
func (l featureList) grouped(operator bool) []featureGroup {
	on := map[string]bool{}
	names := map[string]string{}
	for _, f := range l.Features {
		on[f.Key], names[f.Key] = f.Enabled, f.Name
	}
	name := func(k string) string {
		if n := names[k]; n != "" {
			return n
		}
		return k
	}
	var groups []featureGroup
	idx := map[string]int{}
	for _, f := range l.Features {
		f.InPlan = slices.Contains(f.Plans, l.Plan)
		f.OutsidePlan = !f.Enabled && !f.InPlan && !operator
		for _, k := range f.Requires {
			if !on[k] {
				f.MissingRequires = append(f.MissingRequires, name(k))
			}
		}
		for _, k := range f.Conflicts {
			if on[k] {
				f.ActiveConflicts = append(f.ActiveConflicts, name(k))
			}
		}
		for _, g := range l.Features {
			if g.Enabled && slices.Contains(g.Requires, f.Key) {
				f.NeededBy = append(f.NeededBy, g.Name)
			}
		}
		cat := f.Category
		if cat == "" {
			cat = "Other"
		}
		i, ok := idx[cat]
		if !ok {
			i = len(groups)
			idx[cat] = i
			groups = append(groups, featureGroup{Category: cat})
		}
		groups[i].Features = append(groups[i].Features, f)
	}
	slices.SortFunc(groups, func(a, b featureGroup) int { return strings.Compare(a.Category, b.Category) })
	return groups
}

// preset is a form for one identity-provider type: the settings fields it
// asks for.
type preset struct {
	Type, Label string
	Fields      []presetField
}

type presetField struct{ Name, Label, Hint string }

// presets mirror the connector types (app's registry) and their settings.
var presets = []preset{
	{"okta", "Okta", []presetField{{"domain", "Okta domain", "acme.okta.com"}, {"authorization_server", "Authorization server (optional)", "default"}}},
	{"azuread", "Microsoft Entra ID (Azure AD)", []presetField{{"tenant", "Tenant ID", "a GUID, or organizations"}}},
	{"google", "Google Workspace", []presetField{{"hosted_domain", "Workspace domain", "acme.com"}}},
	{"auth0", "Auth0", []presetField{{"domain", "Auth0 domain", "acme.eu.auth0.com"}}},
	{"oidc", "Other OpenID Connect provider", []presetField{{"issuer", "Issuer URL", "https://idp.acme.com"}}},
}
