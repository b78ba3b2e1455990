package login

import (
	"strings"

	"github.com/optibid/idp/manage"
)

// eventWords names the events a person sees on their account page in
// plain words (message IDs: the page translates them). Events not listed
// are shown as "Other account activity".
var eventWords = map[manage.EventType]string{
	manage.EventLoginSucceeded:            "Signed in",
	manage.EventLoginFailed:               "A sign-in failed",
	manage.EventLoginRefused:              "A sign-in was refused",
	manage.EventAccountLocked:             "Account locked after failed sign-ins",
	manage.EventAccountLockLifted:         "Account lock lifted: the attempt that set it was not a failure",
	manage.EventLogout:                    "Signed out",
	manage.EventSessionEnded:              "A session was signed out",
	manage.EventPasswordChanged:           "Password changed",
	manage.EventPasswordReset:             "Password reset",
	manage.EventPasswordResetRequested:    "Password reset requested",
	manage.EventReauthFailed:              "Wrong password when confirming a change",
	manage.EventTOTPEnrollmentStarted:     "Authenticator app set-up started",
	manage.EventTOTPEnrolled:              "Authenticator app added",
	manage.EventTOTPRemoved:               "Authenticator app removed",
	manage.EventBackupCodesGenerated:      "New backup codes made",
	manage.EventBackupCodeUsed:            "A backup code was used",
	manage.EventMFAFailed:                 "A second step failed",
	manage.EventOTPSent:                   "A one-time code was sent",
	manage.EventPhoneAdded:                "Phone number added",
	manage.EventPhoneVerified:             "Phone number verified",
	manage.EventEmailVerified:             "Email address confirmed",
	manage.EventEmailVerificationSent:     "Confirmation email sent",
	manage.EventProfileUpdated:            "Profile updated",
	manage.EventConsentGranted:            "An application was allowed access",
	manage.EventConsentDenied:             "An application was denied access",
	manage.EventConsentRevoked:            "An application was disconnected",
	manage.EventPasskeyRegistered:         "Passkey added",
	manage.EventPasskeyRemoved:            "Passkey removed",
	manage.EventPasskeyRenamed:            "Passkey renamed",
	manage.EventPasskeyCloneSuspected:     "A passkey that may have been copied was refused",
	manage.EventFederatedLogin:            "Signed in through your organization",
	manage.EventIdentityLinked:            "A company sign-in was linked",
	manage.EventIdentityUnlinked:          "A company sign-in was unlinked",
	manage.EventEmailChangeRequested:      "An address change was requested",
	manage.EventEmailChanged:              "Email address changed",
	manage.EventInvitationAccepted:        "Joined an organization",
	manage.EventUserRegistered:            "Account created",
	manage.EventRegistrationExistingEmail: "Someone tried to register with your address",
	manage.EventRefreshTokenReuse:         "A stolen-token attempt was stopped",
	manage.EventDataExported:              "Your data was exported",
}

// eventPhrase is the plain words for an event type.
func eventPhrase(typ string) string {
	if w, ok := eventWords[manage.EventType(typ)]; ok {
		return w
	}
	return "Other account activity"
}

// device describes a user agent in a few words ("Chrome on Windows"),
// or "" when it cannot tell.
func device(ua string) string {
	browser := ""
	for _, b := range []struct{ key, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"Chrome/", "Chrome"}, {"Chromium/", "Chromium"},
		{"Safari/", "Safari"}, {"curl/", "curl"}, {"Go-http-client", "a program"},
	} {
		if strings.Contains(ua, b.key) {
			browser = b.name
			break
		}
	}
	os := ""
	for _, o := range []struct{ key, name string }{
		{"Android", "Android"}, {"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Windows", "Windows"}, {"Mac OS X", "macOS"},
		{"CrOS", "ChromeOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.key) {
			os = o.name
			break
		}
	}
	switch {
	case browser != "" && os != "":
		return browser + " · " + os
	case browser != "":
		return browser
	}
	return os
}
