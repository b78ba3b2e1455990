package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/storage"
)

// KeyRotator rotates the provider's signing keys (one algorithm, or every
// configured one for ""), on behalf of by.
type KeyRotator interface {
	Rotate(ctx context.Context, alg string, by manage.Actor) error
}

type orgEntry struct {
	Org  orgView `json:"org"`
	Role string  `json:"role"`
}

// listOrgs answers the caller's organizations, or every organization for
// platform administrators (role "" where they are not a member); q
// narrows by slug or name.
func (h *Handler) listOrgs(w http.ResponseWriter, r *http.Request, c caller) {
	limit, after, ok := pageParams(w, r)
	if !ok {
		return
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if len(q) > 200 {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "invalid_request", Field: "q", Message: "q must be at most 200 characters."})
		return
	}
	ms, err := h.Store.MembershipsByUser(r.Context(), c.user.ID)
	if err != nil {
		h.internal(w, r, "memberships", err)
		return
	}
	role := map[string]string{}
	for _, m := range ms {
		role[m.OrgID] = m.Role
	}
	out := []orgEntry{}
	if c.user.PlatformAdmin {
		// One row more than the page tells whether another page follows
		// (the store pages at most maxLimit rows: a full maxLimit page
		// offers a next cursor that may lead to an empty page).
		orgs, err := h.Store.ListOrganizations(r.Context(), storage.OrgQuery{Search: q, After: after, Limit: min(limit+1, maxLimit)})
		if err != nil {
			h.internal(w, r, "organizations", err)
			return
		}
		next := ""
		if len(orgs) > limit || len(orgs) == maxLimit {
			orgs = orgs[:min(limit, len(orgs))]
			next = orgs[len(orgs)-1].Slug
		}
		for _, o := range orgs {
			out = append(out, orgEntry{viewOrg(o), role[o.ID]})
		}
		listed(w, "orgs", out, next)
		return
	}
	for _, m := range ms {
		o, err := h.Store.OrganizationByID(r.Context(), m.OrgID)
		if err != nil {
			h.internal(w, r, "organization", err)
			return
		}
		if q == "" || strings.Contains(strings.ToLower(o.Slug+"\x00"+o.Name), strings.ToLower(q)) {
			out = append(out, orgEntry{viewOrg(o), m.Role})
		}
	}
	out, next := page(out, func(e orgEntry) string { return e.Org.Slug }, false, limit, after)
	listed(w, "orgs", out, next)
}

type keyView struct {
	KID       string     `json:"kid"`
	Alg       string     `json:"alg"`
	State     string     `json:"state"`
	CreatedAt time.Time  `json:"created_at"`
	RetireAt  *time.Time `json:"retire_at,omitempty"`
}

// listKeys shows the signing keys (public facts only) to platform
// administrators.
func (h *Handler) listKeys(w http.ResponseWriter, r *http.Request, c caller) {
	if !c.user.PlatformAdmin {
		fail(w, http.StatusForbidden, "forbidden", "Only platform administrators see the signing keys.")
		return
	}
	h.answerKeys(w, r)
}

func (h *Handler) answerKeys(w http.ResponseWriter, r *http.Request) {
	ks, err := h.Store.SigningKeys(r.Context())
	if err != nil {
		h.internal(w, r, "signing keys", err)
		return
	}
	rank := map[storage.SigningKeyState]int{storage.KeyCurrent: 0, storage.KeyNext: 1, storage.KeyRetired: 2}
	slices.SortStableFunc(ks, func(a, b storage.SigningKey) int {
		if d := strings.Compare(a.Algorithm, b.Algorithm); d != 0 {
			return d
		}
		if d := rank[a.State] - rank[b.State]; d != 0 {
			return d
		}
		return b.CreatedAt.Compare(a.CreatedAt)
	})
	out := make([]keyView, 0, len(ks))
	for _, k := range ks {
		v := keyView{KID: k.ID, Alg: k.Algorithm, State: string(k.State), CreatedAt: k.CreatedAt}
		if !k.ExpiresAt.IsZero() {
			t := k.ExpiresAt
			v.RetireAt = &t
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": out})
}

// rotateKeys rotates the signing keys now: next becomes current, current
// stays published until the tokens it signed have expired.
func (h *Handler) rotateKeys(w http.ResponseWriter, r *http.Request, c caller) {
	if !c.user.PlatformAdmin {
		fail(w, http.StatusForbidden, "forbidden", "Only platform administrators rotate the signing keys.")
		return
	}
	var body struct {
		Alg string `json:"alg"`
	}
	if !decode(w, r, &body) {
		return
	}
	if body.Alg != "" && !slices.Contains(h.KeyAlgorithms, body.Alg) {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "invalid_request", Field: "alg",
			Message: "alg must be one of " + strings.Join(h.KeyAlgorithms, ", ") + " (or empty for all)."})
		return
	}
	if h.Keys == nil {
		fail(w, http.StatusNotFound, "not_found", "Key rotation is not available here.")
		return
	}
	err := h.Keys.Rotate(r.Context(), body.Alg, c.actor(r))
	if errors.Is(err, storage.ErrConflict) {
		w.Header().Set("Retry-After", "30")
		fail(w, http.StatusConflict, "rotation_in_progress", "The keys were rotated moments ago; wait until every replica has the new key.")
		return
	}
	if err != nil {
		h.internal(w, r, "rotate keys", err)
		return
	}
	h.answerKeys(w, r)
}

type platformConnectionView struct {
	connectionView
	OrgID string `json:"org_id"`
}

// platformConnections lists every connection, the platform's own (org_id
// "") and every organization's, for platform administrators.
func (h *Handler) platformConnections(w http.ResponseWriter, r *http.Request, c caller) {
	if !c.user.PlatformAdmin {
		fail(w, http.StatusForbidden, "forbidden", "Only platform administrators list every connection.")
		return
	}
	limit, after, ok := pageParams(w, r)
	if !ok {
		return
	}
	all, err := h.Store.ListConnections(r.Context())
	if err != nil {
		h.internal(w, r, "connections", err)
		return
	}
	all, next := page(all, func(c storage.Connection) string { return c.ID }, false, limit, after)
	out := make([]platformConnectionView, 0, len(all))
	for _, c := range all {
		out = append(out, platformConnectionView{viewConnection(c), c.OrgID})
	}
	listed(w, "connections", out, next)
}
