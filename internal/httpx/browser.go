package httpx

import (
	"crypto/subtle"
	"net/http"

	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/storage"
)

// Cookies names and sets the project's cookies. On https every cookie gets
// the __Host- prefix and Secure (no Domain, Path=/), so no sibling host can
// set or read them; all are HttpOnly and SameSite=Lax.
type Cookies struct{ Secure bool }

// Name returns the cookie name for base, prefixed on https.
func (c Cookies) Name(base string) string {
	if c.Secure {
		return "__Host-" + base
	}
	return base
}

// Set writes a cookie; maxAge 0 makes it a browser-session cookie, <0
// deletes it.
func (c Cookies) Set(w http.ResponseWriter, base, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: c.Name(base), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: c.Secure, SameSite: http.SameSiteLaxMode})
}

// Get reads a cookie's value, or "".
func (c Cookies) Get(r *http.Request, base string) string {
	ck, err := r.Cookie(c.Name(base))
	if err != nil {
		return ""
	}
	return ck.Value
}

// SameOriginForm reports whether a form POST came from a page of origin
// (scheme://host).
//
// Our pages send Referrer-Policy: no-referrer, and under that policy
// browsers send "Origin: null" with every form POST, same-origin ones
// included. So Origin alone cannot tell; Sec-Fetch-Site, which pages
// cannot forge, does: a foreign Origin, a cross-site or same-site fetch, or
// a null Origin without Sec-Fetch-Site: same-origin are refused.
func SameOriginForm(r *http.Request, origin string) bool {
	o, site := r.Header.Get("Origin"), r.Header.Get("Sec-Fetch-Site")
	return !((o != "" && o != "null" && o != origin) || (site != "" && site != "same-origin" && site != "none") ||
		(o == "null" && site != "same-origin"))
}

const browserCookie = "optibid_browser"

// BrowserID returns the browser-binding ID of this browser, or "".
//
// Every auth request stores the hash of the ID of the browser that started
// it; the login screens and the authorize callback serve it only to that
// browser, so a login transaction cannot be continued or polled from
// another user agent (Dex CVE-2022-39222).
func (c Cookies) BrowserID(r *http.Request) string { return c.Get(r, browserCookie) }

// EnsureBrowserID returns this browser's ID, issuing one when it has none.
func (c Cookies) EnsureBrowserID(w http.ResponseWriter, r *http.Request) string {
	if id := c.BrowserID(r); len(id) == 43 {
		return id
	}
	id := random.Token(32)
	c.Set(w, browserCookie, id, 0)
	return id
}

// BrowserHash is the stored form of a browser ID.
func BrowserHash(id string) string {
	if id == "" {
		return ""
	}
	return storage.HashSecret("browser:" + id)
}

// SameBrowser reports whether r comes from the browser whose BrowserHash
// was recorded when a flow started (a sign-in, a federated hop): the one
// check that binds every step of a flow to the browser that began it. A
// flow recorded without a browser matches none.
func (c Cookies) SameBrowser(r *http.Request, recorded string) bool {
	got := BrowserHash(c.BrowserID(r))
	return recorded != "" && got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(recorded)) == 1
}
