package console

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"unicode"

	"github.com/gorilla/mux"

	"github.com/optibid/idp/internal/i18n"

	"github.com/optibid/idp/manage/entitlements"
)

// platform is the operators' page: every organization (search), creating
// one with an owner invitation, plans, every connection, signing keys.
func (c *Console) platform(w http.ResponseWriter, r *http.Request, s *session) {
	c.showPlatform(w, r, s, http.StatusOK, nil, nil)
}

func (c *Console) showPlatform(w http.ResponseWriter, r *http.Request, s *session, status int, failed *errAPI, extra map[string]any) {
	var p page
	if err := c.base(r, s, &p); err != nil {
		c.fail(w, r, "platform", err)
		return
	}
	if !p.Me.PlatformAdmin {
		c.problem(w, r, http.StatusNotFound, "There is nothing here, or you do not have access to it.", "not an operator")
		return
	}
	data := map[string]any{}
	for k, v := range extra {
		data[k] = v
	}
	q := url.Values{"limit": {"50"}}
	search := strings.TrimSpace(r.URL.Query().Get("q"))
	if search != "" {
		q.Set("q", search)
	}
	if after := r.URL.Query().Get("after"); after != "" {
		q.Set("after", after)
	}
	var orgs struct {
		Orgs []orgEntry `json:"orgs"`
		Next string     `json:"next"`
	}
	var conns struct {
		Connections []map[string]any `json:"connections"`
	}
	var keys struct {
		Keys []map[string]any `json:"keys"`
	}
	for path, into := range map[string]any{"/orgs?" + q.Encode(): &orgs, "/connections": &conns, "/keys": &keys} {
		if err := c.api(r, s, http.MethodGet, path, nil, into); err != nil {
			c.fail(w, r, "platform", err)
			return
		}
	}
	data["Orgs"], data["Connections"], data["Keys"], data["Search"] = orgs.Orgs, conns.Connections, keys.Keys, search
	if orgs.Next != "" {
		q.Set("after", orgs.Next)
		data["More"] = "?" + q.Encode()
	}
	data["Plans"] = entitlements.Plans
	data["Languages"], data["Language"] = i18n.Choices(), i18n.Negotiate(nil, r.Header.Get("Accept-Language"))
	if failed != nil {
		p.Error, p.ErrorField = failed.Message, failed.Field
		status = failed.status
	}
	p.Title, p.Active, p.Data = "Platform", "platform", data
	c.render(w, r, status, "platform", p)
}

var platformActions = map[string]action{
	"org-create": {method: http.MethodPost, path: func(url.Values) string { return "/orgs" },
		body: func(f url.Values) any {
			return map[string]string{"slug": f.Get("slug"), "name": f.Get("name"), "plan": f.Get("plan"), "owner_email": f.Get("owner_email"), "language": f.Get("language")}
		}, show: "Created"},
	"org-plan": {method: http.MethodPatch, path: func(f url.Values) string { return "/orgs/" + seg(f, "org") },
		body: func(f url.Values) any { return map[string]string{"plan": f.Get("plan")} }, done: "Plan changed."},
	"keys-rotate": {method: http.MethodPost, path: func(url.Values) string { return "/keys/rotate" },
		body: func(f url.Values) any { return map[string]string{"alg": f.Get("alg")} }, done: "Signing keys rotated."},
}

func (c *Console) platformAction(w http.ResponseWriter, r *http.Request, s *session) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil || !c.csrfOK(r, *s) {
		c.problem(w, r, http.StatusForbidden, "This form has expired. Go back, reload the page and try again.", "csrf")
		return
	}
	a, ok := platformActions[mux.Vars(r)["action"]]
	if !ok {
		c.problem(w, r, http.StatusNotFound, "There is nothing here.", "unknown action")
		return
	}
	var answer map[string]any
	err := c.api(r, s, a.method, a.path(r.PostForm), a.body(r.PostForm), &answer)
	var e *errAPI
	switch {
	case errors.As(err, &e):
		c.showPlatform(w, r, s, e.status, e, nil)
	case err != nil:
		c.fail(w, r, "platform action", err)
	case a.show != "":
		c.showPlatform(w, r, s, http.StatusOK, nil, map[string]any{a.show: answer})
	default:
		c.flash(w, a.done)
		http.Redirect(w, r, "/console/platform", http.StatusSeeOther)
	}
}

// auditExport downloads the filtered audit log (every page, newest first,
// at most exportMax rows) as CSV or JSON lines.
func (c *Console) auditExport(w http.ResponseWriter, r *http.Request, s *session) {
	const exportMax = 50000
	ref, format := mux.Vars(r)["org"], mux.Vars(r)["format"]
	q := auditQuery(r.URL.Query())
	q.Set("limit", "1000")
	var rows []map[string]any
	for len(rows) < exportMax {
		var a auditPage
		if err := c.api(r, s, http.MethodGet, "/orgs/"+url.PathEscape(ref)+"/audit?"+q.Encode(), nil, &a); err != nil {
			c.fail(w, r, "audit export", err)
			return
		}
		rows = append(rows, a.Events...)
		if a.Next == "" {
			break
		}
		q.Set("after", a.Next)
	}
	h := w.Header()
	h.Set("Content-Disposition", `attachment; filename="audit-`+strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '_'
	}, ref)+"."+format+`"`)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if format == "jsonl" {
		h.Set("Content-Type", "application/x-ndjson")
		enc := json.NewEncoder(w)
		for _, row := range rows {
			_ = enc.Encode(row)
		}
		return
	}
	h.Set("Content-Type", "text/csv; charset=utf-8")
	cw := csv.NewWriter(w)
	cols := []string{"id", "time", "type", "actor_id", "subject_id", "org_id", "client_id", "ip", "user_agent", "request_id", "details"}
	_ = cw.Write(cols)
	for _, row := range rows {
		rec := make([]string, len(cols))
		for i, col := range cols {
			switch v := row[col].(type) {
			case string:
				rec[i] = csvSafe(v)
			case nil:
			default:
				b, _ := json.Marshal(v)
				rec[i] = csvSafe(string(b))
			}
		}
		_ = cw.Write(rec)
	}
	cw.Flush()
}

// csvSafe keeps a spreadsheet from running a value as a formula (CSV
// injection): user agents and details come from outside. Wherever a
// spreadsheet of any locale might start a cell (the value's start, or
// after ",", ";", tab or a line break; spaces of any kind, zero-width
// characters and quotes skipped), a formula sign, in any of its Unicode
// widths, gets a "'" before it, so every cell it could be split into is
// text.
func csvSafe(v string) string {
	var b strings.Builder
	cellStart := true
	for _, r := range v {
		switch {
		case cellStart && strings.ContainsRune("=+-@\t\r＝＋－＠﹦﹢﹣﹫", r):
			b.WriteByte('\'')
			cellStart = r == '\t' || r == '\r'
		case strings.ContainsRune(",;\t\r\n", r):
			cellStart = true
		case unicode.IsSpace(r) || r == '"' || r == '\'' || (r >= '\u200b' && r <= '\u200d') || r == '\ufeff':
			// Skipped: the cell may still start with a sign after these.
		default:
			cellStart = false
		}
		b.WriteRune(r)
	}
	return b.String()
}
