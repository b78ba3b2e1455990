// Package console is the web console (/console) for organization admins
// and platform operators: the management API's second front door.
//
// The console is a first-party relying party of the provider it runs in.
// It signs people in through the normal authorization-code flow with PKCE
// (so MFA, step-up and every login rule apply), keeps the resulting
// management-API tokens in a sealed, HttpOnly cookie, and performs every
// read and change by calling /api/v1 in-process with the signed-in
// person's access token. It therefore has no permission checks of its
// own to drift: what a viewer may not do through the API they cannot do
// here, another tenant's objects are 404 here as there, and every change
// is audited by the same code. The console only hides what the person's
// role cannot use, for clarity, never for safety.
package console
