// Package login serves everything a person sees: the sign-in form, the
// consent page, the logout confirmation and the error pages.
//
// Every page is server-rendered (no JavaScript), carries the security
// headers of internal/httpx plus a strict Content-Security-Policy, and every
// form is protected against CSRF (a token bound to the browser cookie, and a
// same-origin check on Origin). Each auth request is served only to the
// browser that started it. The package never imports provider: cmd passes
// in the few provider functions it needs.
package login
