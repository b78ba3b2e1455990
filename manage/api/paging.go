package api

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Paging: every list answers at most limit rows (1 to maxLimit, default
// defaultLimit) after the cursor in after, and next (the cursor for the
// following page) when the page is full. Cursors are the sort key of the
// last row, so a page is stable while rows are added or removed elsewhere
// in the list.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

// sortableTime formats times so that their strings sort as the times do.
const sortableTime = "20060102T150405.000000000Z"

// pageParams reads limit and after; a bad limit is a 400 naming it.
func pageParams(w http.ResponseWriter, r *http.Request) (limit int, after string, ok bool) {
	limit = defaultLimit
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			writeJSON(w, http.StatusBadRequest, apiError{Error: "invalid_request", Field: "limit",
				Message: "limit must be a whole number from 1 to " + strconv.Itoa(maxLimit) + "."})
			return 0, "", false
		}
		limit = n
	}
	return limit, r.URL.Query().Get("after"), true
}

// page sorts rows by key (descending when desc), keeps those after the
// cursor and cuts the page; next is "" on the last page.
func page[T any](rows []T, key func(T) string, desc bool, limit int, after string) (out []T, next string) {
	cmp := func(a, b string) int {
		if desc {
			return strings.Compare(b, a)
		}
		return strings.Compare(a, b)
	}
	slices.SortStableFunc(rows, func(a, b T) int { return cmp(key(a), key(b)) })
	if after != "" {
		i, _ := slices.BinarySearchFunc(rows, after, func(r T, k string) int { return cmp(key(r), k) })
		for i < len(rows) && key(rows[i]) == after {
			i++
		}
		rows = rows[i:]
	}
	if len(rows) > limit {
		return rows[:limit], key(rows[limit-1])
	}
	return rows, ""
}

// listed writes one page of a list under name, with next when more follow.
func listed(w http.ResponseWriter, name string, rows any, next string) {
	out := map[string]any{name: rows}
	if next != "" {
		out["next"] = next
	}
	writeJSON(w, http.StatusOK, out)
}
