package console

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/mux"
)

// action turns a console form into one management-API call. page is the
// page it is posted from (and shown again when the API refuses it); show,
// when set, renders the API's answer on that page instead of redirecting
// (a secret shown once, a connection test).
type action struct {
	page   string
	method string
	path   func(f url.Values) string
	body   func(f url.Values) any
	done   string
	show   string
}

func lines(v string) []string {
	var out []string
	for _, l := range strings.FieldsFunc(v, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' || r == ' ' }) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// seg is a form value as one path segment of the API call. The router
// matches decoded paths, so an escaped "/" would still split the segment
// and "." or ".." would move up: a value that could change the path the
// API sees names nothing ("-", which is 404) instead.
func seg(f url.Values, k string) string {
	v := f.Get(k)
	if v == "" || v == "." || v == ".." || len(v) > 300 || strings.ContainsAny(v, `/\?#%`) ||
		strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "-"
	}
	return url.PathEscape(v)
}

// orgActions are an organization's changes, by the name the forms post to.
var orgActions = map[string]action{
	"settings": {page: "settings", method: http.MethodPatch, path: func(url.Values) string { return "" },
		body: func(f url.Values) any {
			b := map[string]any{"name": f.Get("name")}
			if f.Has("mfa") {
				b["mfa"] = f.Get("mfa")
				b["require_verified_email"] = f.Get("require_verified_email") == "on"
			}
			return b
		}, done: "Settings saved."},
	"branding": {page: "settings", method: http.MethodPatch, path: func(url.Values) string { return "" },
		body: func(f url.Values) any {
			logo := f.Get("logo_current")
			switch {
			case f.Get("logo_remove") == "on":
				logo = ""
			case f.Get("logo") != "": // an upload (orgAction turned the file into a data URL)
				logo = f.Get("logo")
			}
			return map[string]any{"branding": map[string]string{"display_name": f.Get("display_name"), "color": f.Get("color"),
				"support_url": f.Get("support_url"), "logo": logo}}
		}, done: "Branding saved: sign-ins for your organization show it now."},
	"domain-add": {page: "domains", method: http.MethodPost, path: func(url.Values) string { return "/domains" },
		body: func(f url.Values) any { return map[string]string{"domain": f.Get("domain")} }, done: "Domain added: publish the TXT record, then verify."},
	"domain-verify": {page: "domains", method: http.MethodPost, path: func(f url.Values) string { return "/domains/" + seg(f, "domain") + "/verify" },
		done: "Domain verified."},
	"domain-remove": {page: "domains", method: http.MethodDelete, path: func(f url.Values) string { return "/domains/" + seg(f, "domain") },
		done: "Domain removed."},
	"member-role": {page: "members", method: http.MethodPatch, path: func(f url.Values) string { return "/members/" + seg(f, "user") },
		body: func(f url.Values) any { return map[string]string{"role": f.Get("role")} }, done: "Role changed."},
	"member-remove": {page: "members", method: http.MethodDelete, path: func(f url.Values) string { return "/members/" + seg(f, "user") },
		done: "Member removed."},
	"invite": {page: "members", method: http.MethodPost, path: func(url.Values) string { return "/invitations" },
		body: func(f url.Values) any {
			return map[string]string{"email": f.Get("email"), "role": f.Get("role"), "language": f.Get("language")}
		}, done: "Invitation sent."},
	"invitation-revoke": {page: "members", method: http.MethodDelete, path: func(f url.Values) string { return "/invitations/" + seg(f, "id") },
		done: "Invitation revoked."},
	"invitation-resend": {page: "members", method: http.MethodPost, path: func(f url.Values) string { return "/invitations/" + seg(f, "id") + "/resend" },
		done: "Invitation sent again; the earlier link no longer works."},
	"connection-create": {page: "connections", method: http.MethodPost, path: func(url.Values) string { return "/connections" },
		body: func(f url.Values) any {
			settings := map[string]any{"client_id": f.Get("client_id")}
			for _, p := range presets {
				if p.Type != f.Get("type") {
					continue
				}
				for _, fl := range p.Fields {
					if v := strings.TrimSpace(f.Get(p.Type + "." + fl.Name)); v != "" {
						settings[fl.Name] = v
					}
				}
			}
			return map[string]any{"type": f.Get("type"), "name": f.Get("name"), "client_secret": f.Get("client_secret"),
				"default_role": f.Get("default_role"), "disabled": f.Get("enabled") != "on", "settings": settings}
		}, done: "Connection added. Test it before people rely on it."},
	"connection-test": {page: "connections", method: http.MethodPost, path: func(f url.Values) string { return "/connections/" + seg(f, "id") + "/test" },
		show: "Test"},
	"connection-enable": {page: "connections", method: http.MethodPatch, path: func(f url.Values) string { return "/connections/" + seg(f, "id") },
		body: func(f url.Values) any { return map[string]bool{"enabled": f.Get("enabled") == "true"} }, done: "Connection updated."},
	"connection-delete": {page: "connections", method: http.MethodDelete, path: func(f url.Values) string { return "/connections/" + seg(f, "id") },
		done: "Connection deleted; accounts linked through it can no longer sign in with it."},
	"client-create": {page: "clients", method: http.MethodPost, path: func(url.Values) string { return "/clients" },
		body: func(f url.Values) any {
			b := map[string]any{"name": f.Get("name"), "public": f.Get("kind") == "public"}
			switch f.Get("kind") {
			case "service":
				b["grant_types"] = []string{"client_credentials"}
				b["service_role"] = f.Get("service_role")
			default:
				b["redirect_uris"] = lines(f.Get("redirect_uris"))
				b["post_logout_redirect_uris"] = lines(f.Get("post_logout_redirect_uris"))
			}
			return b
		}, show: "Created"},
	"client-rotate": {page: "clients", method: http.MethodPost, path: func(f url.Values) string { return "/clients/" + seg(f, "id") + "/secret" },
		show: "Created"},
	"client-delete": {page: "clients", method: http.MethodDelete, path: func(f url.Values) string { return "/clients/" + seg(f, "id") },
		done: "Application deleted; its tokens no longer work."},
	"api-save": {page: "clients", method: http.MethodPut, path: func(url.Values) string { return "/apis" },
		body: func(f url.Values) any {
			scopes := []map[string]string{}
			for _, l := range strings.Split(f.Get("scopes"), "\n") {
				name, desc, _ := strings.Cut(strings.TrimSpace(l), " ")
				if name != "" {
					scopes = append(scopes, map[string]string{"name": name, "description": strings.TrimSpace(desc)})
				}
			}
			return map[string]any{"identifier": strings.TrimSpace(f.Get("identifier")), "name": f.Get("name"), "scopes": scopes,
				"claims": []string{"org", "permissions", "entitlements"}}
		}, done: "API saved."},
	"api-delete": {page: "clients", method: http.MethodDelete,
		path: func(f url.Values) string { return "/apis?" + url.Values{"identifier": {f.Get("identifier")}}.Encode() },
		done: "API deleted; tokens for it are no longer issued."},
	"feature-set": {page: "features", method: http.MethodPut, path: func(f url.Values) string { return "/features/" + seg(f, "key") },
		body: func(f url.Values) any {
			return map[string]any{"enabled": f.Get("enabled") == "true", "cascade": f.Get("cascade") == "true"}
		}, done: "Feature updated."},
	"feature-config": {page: "features", method: http.MethodPut, path: func(f url.Values) string { return "/features/" + seg(f, "key") },
		body: func(f url.Values) any {
			// Each value keeps the JSON type it reads as (a number, true or
			// false); anything else is a string.
			cfg := map[string]any{}
			for k, vs := range f {
				name, ok := strings.CutPrefix(k, "cfg.")
				if !ok || name == "" || len(vs) == 0 {
					continue
				}
				var v any
				if err := json.Unmarshal([]byte(strings.TrimSpace(vs[0])), &v); err != nil {
					v = vs[0]
				}
				if _, isObj := v.(map[string]any); isObj {
					v = vs[0]
				}
				cfg[name] = v
			}
			return map[string]any{"enabled": true, "config": cfg}
		}, done: "Configuration saved."},
	"template-apply": {page: "features", method: http.MethodPost, path: func(f url.Values) string { return "/templates/" + seg(f, "id") + "/apply" },
		done: "Template applied."},
}

// orgAction runs one of orgActions for the organization in the URL.
func (c *Console) orgAction(w http.ResponseWriter, r *http.Request, s *session) {
	r.Body = http.MaxBytesReader(w, r.Body, 128<<10)
	if err := parseForm(r); err != nil || !c.csrfOK(r, *s) {
		c.problem(w, r, http.StatusForbidden, "This form has expired. Go back, reload the page and try again.", "csrf")
		return
	}
	a, ok := orgActions[mux.Vars(r)["action"]]
	if !ok {
		c.problem(w, r, http.StatusNotFound, "There is nothing here.", "unknown action")
		return
	}
	ref := mux.Vars(r)["org"]
	var body any
	if a.body != nil {
		body = a.body(r.PostForm)
	}
	var answer map[string]any
	err := c.api(r, s, a.method, "/orgs/"+url.PathEscape(ref)+a.path(r.PostForm), body, &answer)
	var e *errAPI
	switch {
	case errors.As(err, &e) && e.status != http.StatusNotFound:
		// Refused: the same page again, saying why (the API's words).
		c.showOrg(w, r, s, a.page, e.status, e, nil)
	case err != nil:
		c.fail(w, r, "action", err)
	case a.show != "":
		c.showOrg(w, r, s, a.page, http.StatusOK, nil, map[string]any{a.show: answer})
	default:
		c.flash(w, a.done)
		http.Redirect(w, r, "/console/orgs/"+url.PathEscape(ref)+pagePath(a.page), http.StatusSeeOther)
	}
}

// parseForm reads a form, and a multipart one's logo file as a data URL
// in the form value "logo" (the branding rules check it again).
func parseForm(r *http.Request) error {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		return r.ParseForm()
	}
	if err := r.ParseMultipartForm(128 << 10); err != nil {
		return err
	}
	r.PostForm.Del("logo")
	f, _, err := r.FormFile("logo")
	if errors.Is(err, http.ErrMissingFile) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, 100<<10))
	if err != nil || len(raw) == 0 {
		return err
	}
	typ := http.DetectContentType(raw)
	if bytes.Contains(raw[:min(len(raw), 512)], []byte("<svg")) {
		typ = "image/svg+xml"
	}
	r.PostForm.Set("logo", "data:"+strings.SplitN(typ, ";", 2)[0]+";base64,"+base64.StdEncoding.EncodeToString(raw))
	return nil
}

func pagePath(page string) string {
	if page == "overview" {
		return ""
	}
	return "/" + page
}
