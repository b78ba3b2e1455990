package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/optibid/idp/storage"
)

// exportMe answers a data-subject access request: everything stored about
// the caller, as one JSON document to download.
func (h *Handler) exportMe(w http.ResponseWriter, r *http.Request, c caller) {
	doc, err := h.rules.ExportUser(r.Context(), c.actor(r), c.user.ID)
	if err != nil {
		h.internal(w, r, "export", err)
		return
	}
	w.Header().Set("Content-Disposition", `attachment; filename="optibid-identity-export.json"`)
	writeJSON(w, http.StatusOK, doc)
}

// eraseMe erases the caller's account. The body must repeat the account's
// email, so a stray request with a stolen-for-a-minute token cannot do it
// blind; a last owner must hand the organization over first.
func (h *Handler) eraseMe(w http.ResponseWriter, r *http.Request, c caller) {
	var body struct {
		Confirm string `json:"confirm"`
	}
	if !decode(w, r, &body) {
		return
	}
	if !strings.EqualFold(strings.TrimSpace(body.Confirm), c.user.Email) {
		fail(w, http.StatusBadRequest, "confirmation_required", `Send {"confirm": "<your email address>"} to erase your account.`)
		return
	}
	_, err := h.rules.EraseUser(r.Context(), c.actor(r), c.user.ID, "self")
	switch {
	case errors.Is(err, storage.ErrLastOwner):
		fail(w, http.StatusConflict, "last_owner", "You are the last owner of an organization: make another member an owner first.")
	case errors.Is(err, storage.ErrNotFound):
		notFound(w)
	case err != nil:
		h.internal(w, r, "erase", err)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}
