// Package manage is the one home of the business rules every front door
// shares: the login screens, the management API, the console, the CLI and
// the config bootstrap all call it, and none of them re-states a rule.
//
// It owns what may be registered and by whom (organizations and their
// slugs, plans and MFA policies; clients and service accounts; APIs),
// who may grant which role (ranks and ceilings live in manage/roles), the
// feature rules (manage/entitlements), privacy (manage/privacy), and the
// audit trail's vocabulary: typed event constants built into rows by one
// builder from an Actor. A rule that fails is a *ValidationError naming
// the field, which each front door renders in its own way.
package manage
