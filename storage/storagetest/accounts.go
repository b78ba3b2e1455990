package storagetest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/storage"
)

func testOrganizations(t *testing.T, s storage.Store) {
	o, err := s.UpsertOrganization(ctx, storage.Organization{Slug: "acme", Name: "Acme"}, ev("org_created"))
	must(t, err)
	if o.ID == "" || o.CreatedAt.IsZero() {
		t.Fatalf("org not stamped: %+v", o)
	}
	o2, err := s.UpsertOrganization(ctx, storage.Organization{Slug: "acme", Name: "Acme Corp"}, storage.AuditEvent{})
	must(t, err)
	if o2.ID != o.ID || o2.Name != "Acme Corp" {
		t.Fatalf("upsert by slug: got %+v, want id %s", o2, o.ID)
	}
	got, err := s.OrganizationBySlug(ctx, "acme")
	must(t, err)
	if got.Name != "Acme Corp" {
		t.Fatalf("by slug: %+v", got)
	}
	if _, err := s.OrganizationByID(ctx, o.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OrganizationByID(ctx, "nope"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("want ErrNotFound, got %v", err)
	}
	if n := auditCount(t, s, "org_created"); n != 1 {
		t.Fatalf("audit rows = %d, want 1", n)
	}
	must(t, s.SetOrgSettings(ctx, o.ID, []byte(`{"timezone": "Europe/Oslo", "limits": {"desks": 3}}`), ev("org_settings_changed")))
	got, err = s.OrganizationBySlug(ctx, "acme")
	must(t, err)
	jsonEq(t, got.Settings, `{"timezone": "Europe/Oslo", "limits": {"desks": 3}}`)
	if err := s.SetOrgSettings(ctx, "nope", []byte(`{}`), storage.AuditEvent{}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("settings of an unknown org: %v", err)
	}
	t.Run("List", func(t *testing.T) { testListOrganizations(t, s) })
}

func testUsers(t *testing.T, s storage.Store) {
	email := "Ada." + random.ID() + "@Example.COM"
	u, err := s.CreateUser(ctx, storage.User{Email: email, Name: "Ada", PasswordHash: "h"}, storage.AuditEvent{})
	must(t, err)
	if u.Email != strings.ToLower(email) || u.ID == "" || u.CreatedAt.IsZero() {
		t.Fatalf("user not stored as created (email %q): %+v", email, u)
	}
	for _, lookup := range []string{u.Email, email, strings.ToUpper(email)} {
		byEmail, err := s.UserByEmail(ctx, lookup)
		if err != nil || byEmail.ID != u.ID {
			t.Fatalf("lookup by email %q: %v %+v", lookup, err, byEmail)
		}
	}
	if _, err := s.UserByEmail(ctx, "other."+email); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown email: want ErrNotFound, got %v", err)
	}
	if _, err := s.CreateUser(ctx, storage.User{Email: strings.ToUpper(email)}, storage.AuditEvent{}); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("duplicate email in another case: want ErrConflict, got %v", err)
	}
	must(t, s.UpdateProfile(ctx, u.ID, "New Name", true, ev("profile_updated")))
	got, err := s.UserByID(ctx, u.ID)
	must(t, err)
	if got.Name != "New Name" || !got.EmailVerified {
		t.Fatalf("profile not updated: %+v", got)
	}
	if err := s.UpdateProfile(ctx, "nope", "x", false, storage.AuditEvent{}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("want ErrNotFound, got %v", err)
	}
	if _, err := s.UserByID(ctx, "nope"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("want ErrNotFound, got %v", err)
	}
	t.Run("List", func(t *testing.T) { testListUsers(t, s) })
}

// listSearches are the searches of testListOrganizations and
// testListUsers (the keys they find, in order): a search is a literal,
// case-insensitive substring of the key or the name. Unescaped, "100%"
// would find "Wind 1000 Green" too, and "r_s" "underXscore".
var listSearches = map[string][]string{
	"100%":   {"list-x-c"},
	"r_s":    {"list-under"},
	`k\s`:    {"list-back"},
	"GREEN":  {"list-x-c", "list-xb"},
	"LIST-X": {"list-x-c", "list-xb"},
	"zz%zz":  nil,
}

// listRows are the rows testListOrganizations and testListUsers add:
// more than a default page, with keys whose byte order is not a
// natural-language collation's ("list-x-c" < "list-xb"), and names for
// listSearches.
func listRows() (keys, names []string) {
	for i := range 104 {
		keys, names = append(keys, fmt.Sprintf("list-%03d", i)), append(names, fmt.Sprintf("Row %d", i))
	}
	keys = append(keys, "list-x-c", "list-xb", "list-under", "list-underx", "list-back")
	names = append(names, "Wind 100% Green", "Wind 1000 Green", "under_score", "underXscore", `back\slash`)
	return keys, names
}

func testListOrganizations(t *testing.T, s storage.Store) {
	keys, names := listRows()
	for i, slug := range keys {
		_, err := s.UpsertOrganization(ctx, storage.Organization{Slug: slug, Name: names[i]}, storage.AuditEvent{})
		must(t, err)
	}
	list := func(search, after string, limit int) ([]storage.Organization, error) {
		return s.ListOrganizations(ctx, storage.OrgQuery{Search: search, After: after, Limit: limit})
	}
	checkList(t, list, func(o storage.Organization) string { return o.Slug }, keys, listSearches)
	got, err := list("LIST-BACK", "", 0)
	must(t, err)
	want, err := s.OrganizationBySlug(ctx, "list-back")
	must(t, err)
	if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Fatalf("listed %+v, stored %+v", got, want)
	}
}

func testListUsers(t *testing.T, s storage.Store) {
	keys, names := listRows()
	for i, local := range keys {
		_, err := s.CreateUser(ctx, storage.User{Email: local + "@Example.com", Name: names[i], PasswordHash: "h"}, storage.AuditEvent{})
		must(t, err)
		keys[i] = local + "@example.com"
	}
	searches := map[string][]string{}
	for search, found := range listSearches {
		for _, k := range found {
			searches[search] = append(searches[search], k+"@example.com")
		}
	}
	list := func(search, after string, limit int) ([]storage.User, error) {
		return s.ListUsers(ctx, storage.UserQuery{Search: search, After: after, Limit: limit})
	}
	checkList(t, list, func(u storage.User) string { return u.Email }, keys, searches)
	got, err := list("list-back@", "", 0)
	must(t, err)
	want, err := s.UserByEmail(ctx, "list-back@example.com")
	must(t, err)
	if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Fatalf("listed %+v, stored %+v", got, want)
	}
}

// checkList checks a paged list, given the keys it must hold among others:
// pages of any size, each starting after the last key of the one before,
// cover every row exactly once in byte order of key; a limit <= 0 or
// above 1000 is 100; a search finds what searches say, and pages too.
func checkList[T any](t *testing.T, list func(search, after string, limit int) ([]T, error), key func(T) string, created []string, searches map[string][]string) {
	t.Helper()
	keys := func(search, after string, limit int) []string {
		t.Helper()
		rows, err := list(search, after, limit)
		must(t, err)
		out := make([]string, 0, len(rows))
		for _, r := range rows {
			out = append(out, key(r))
		}
		return out
	}
	all := keys("", "", 1000)
	for i := 1; i < len(all); i++ {
		if all[i-1] >= all[i] {
			t.Fatalf("not in byte order, or twice: %q then %q", all[i-1], all[i])
		}
	}
	for _, k := range created {
		if !slices.Contains(all, k) {
			t.Fatalf("%q is not listed: %q", k, all)
		}
	}
	for _, size := range []int{1, 7, 100} {
		var seen []string
		for after := ""; ; {
			page := keys("", after, size)
			if len(page) > size {
				t.Fatalf("a page of %d holds %d rows", size, len(page))
			}
			seen = append(seen, page...)
			if len(page) < size {
				break
			}
			after = page[len(page)-1]
		}
		if !slices.Equal(seen, all) {
			t.Fatalf("pages of %d listed %q, want %q", size, seen, all)
		}
	}
	for limit, want := range map[int]int{0: 100, -1: 100, 1001: 100, 1000: len(all), 3: 3} {
		if got := keys("", "", limit); !slices.Equal(got, all[:want]) {
			t.Fatalf("limit %d: %d rows, want the first %d", limit, len(got), want)
		}
	}
	for search, want := range searches {
		if got := keys(search, "", 0); !slices.Equal(got, want) {
			t.Fatalf("search %q found %q, want %q", search, got, want)
		}
		if len(want) > 1 {
			if got := keys(search, want[0], 1); !slices.Equal(got, want[1:2]) {
				t.Fatalf("search %q after %q found %q, want %q", search, want[0], got, want[1:2])
			}
		}
	}
}

func testMemberships(t *testing.T, s storage.Store) {
	u := newUser(t, s)
	a, err := s.UpsertOrganization(ctx, storage.Organization{Slug: "a", Name: "A"}, storage.AuditEvent{})
	must(t, err)
	b, err := s.UpsertOrganization(ctx, storage.Organization{Slug: "b", Name: "B"}, storage.AuditEvent{})
	must(t, err)
	must(t, s.UpsertMembership(ctx, storage.Membership{UserID: u.ID, OrgID: a.ID, Role: "member"}, ev("member_added")))
	must(t, s.UpsertMembership(ctx, storage.Membership{UserID: u.ID, OrgID: b.ID, Role: "viewer"}, storage.AuditEvent{}))
	must(t, s.UpsertMembership(ctx, storage.Membership{UserID: u.ID, OrgID: a.ID, Role: "admin"}, storage.AuditEvent{}))
	ms, err := s.MembershipsByUser(ctx, u.ID)
	must(t, err)
	if len(ms) != 2 || ms[0].OrgID != a.ID || ms[0].Role != "admin" || ms[1].Role != "viewer" {
		t.Fatalf("memberships: %+v", ms)
	}
	if err := s.UpsertMembership(ctx, storage.Membership{UserID: "nope", OrgID: a.ID, Role: "member"}, storage.AuditEvent{}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown user: want ErrNotFound, got %v", err)
	}
}

func testLoginFailures(t *testing.T, s storage.Store) {
	u := newUser(t, s)
	p := storage.DefaultLockoutPolicy()
	at := now()
	var got storage.User
	var err error
	for i := 1; i <= 5; i++ {
		got, err = s.LoginFailed(ctx, u.ID, p, at, ev("login_failed"))
		must(t, err)
		if got.FailedLogins != i {
			t.Fatalf("counter = %d, want %d", got.FailedLogins, i)
		}
		if locked := got.Locked(at); locked != (i >= 5) {
			t.Fatalf("after %d failures locked=%v", i, locked)
		}
	}
	sess := storage.Session{IDHash: storage.HashSecret("sid"), UserID: u.ID, AuthTime: at, CreatedAt: at, LastSeenAt: at, ExpiresAt: at.Add(time.Hour)}
	// As if the fifth counted check were this one (Seq: nothing after it).
	must(t, s.LoginSucceeded(ctx, u.ID, &storage.Ticket{Count: 5, LockAfter: p.LockAfter, Seq: 5}, at, "newhash", sess, ev("login_succeeded"), ev("account_lock_lifted")))
	got, err = s.UserByID(ctx, u.ID)
	must(t, err)
	if got.FailedLogins != 0 || !got.LockedUntil.IsZero() || got.PasswordHash != "newhash" {
		t.Fatalf("success did not reset/rehash: %+v", got)
	}
	must(t, s.LoginSucceeded(ctx, u.ID, nil, now(), "", storage.Session{}, storage.AuditEvent{}, ev("account_lock_lifted")))
	got, _ = s.UserByID(ctx, u.ID)
	if got.PasswordHash != "newhash" {
		t.Fatal("empty newHash must keep the hash")
	}
	if _, err := s.SessionByHash(ctx, sess.IDHash); err != nil {
		t.Fatalf("session not stored: %v", err)
	}
	if n := auditCount(t, s, "login_failed"); n != 5 {
		t.Fatalf("audit login_failed = %d", n)
	}
}

// testAdmission: a check is admitted only while the account is open and
// counted before it runs; the lock row commits with the lock; a burst
// evaluates at most the hard cap; a right password admitted before
// parallel failures cannot erase them or get in past a lock they caused.
func testAdmission(t *testing.T, s storage.Store) {
	u := newUser(t, s)
	p := storage.LockoutPolicy{LockAfter: 20, LockFor: time.Hour, MaxFailures: 30}
	at := now()
	ticket, err := s.AdmitLogin(ctx, u.ID, p, at, ev("account_locked"))
	must(t, err)
	if ticket.Count != 1 {
		t.Fatalf("first ticket %+v", ticket)
	}
	// 49 parallel admissions after the right one: 19 get in before the
	// lock at 20, the rest are refused; the lock's audit row is there.
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted, refused := 0, 0
	for range 49 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.AdmitLogin(ctx, u.ID, p, at, ev("account_locked"))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				admitted++
			case errors.Is(err, storage.ErrLocked):
				refused++
			default:
				t.Errorf("admit: %v", err)
			}
		}()
	}
	wg.Wait()
	if admitted != 19 || refused != 30 {
		t.Fatalf("admitted %d refused %d, want 19 and 30", admitted, refused)
	}
	if n := auditCount(t, s, "account_locked"); n != 1 {
		t.Fatalf("account_locked rows = %d", n)
	}
	// The right password, admitted first, cannot get in past the lock the
	// later failures caused, nor erase them.
	sess := storage.Session{IDHash: storage.HashSecret("late"), UserID: u.ID, AuthTime: at, CreatedAt: at, LastSeenAt: at, ExpiresAt: at.Add(time.Hour)}
	if err := s.LoginSucceeded(ctx, u.ID, &ticket, at, "", sess, ev("login_succeeded"), ev("account_lock_lifted")); !errors.Is(err, storage.ErrLocked) {
		t.Fatalf("the right password after the lock committed: %v", err)
	}
	if _, err := s.SessionByHash(ctx, sess.IDHash); !errors.Is(err, storage.ErrNotFound) {
		t.Fatal("a refused success stored its session")
	}
	got, _ := s.UserByID(ctx, u.ID)
	if got.FailedLogins != 20 || !got.Locked(at) {
		t.Fatalf("the failures were erased: %+v", got)
	}
	// Before any lock, a success takes back only what came before it.
	w := newUser(t, s)
	first, err := s.AdmitLogin(ctx, w.ID, p, at, storage.AuditEvent{})
	must(t, err)
	for range 3 {
		_, err := s.AdmitLogin(ctx, w.ID, p, at, storage.AuditEvent{})
		must(t, err)
	}
	must(t, s.LoginSucceeded(ctx, w.ID, &first, at, "", storage.Session{}, storage.AuditEvent{}, ev("account_lock_lifted")))
	if got, _ := s.UserByID(ctx, w.ID); got.FailedLogins != 3 {
		t.Fatalf("a success erased later failures: %d, want 3", got.FailedLogins)
	}
	// A right password before its second factor takes back only itself.
	right, err := s.AdmitLogin(ctx, w.ID, p, at, storage.AuditEvent{})
	must(t, err)
	must(t, s.ReleaseAdmission(ctx, w.ID, right, ev("account_lock_lifted")))
	if got, _ := s.UserByID(ctx, w.ID); got.FailedLogins != 3 || !got.LockedUntil.Equal(right.LockedBefore) {
		t.Fatalf("release: %d failures, locked until %v; want 3 and the lock before it (%v)", got.FailedLogins, got.LockedUntil, right.LockedBefore)
	}
	// A backoff that the right answer's own admission armed is gone again;
	// a failure admitted after it keeps its lock.
	backoff := storage.LockoutPolicy{BackoffAfter: 1, BackoffBase: time.Minute, BackoffMax: time.Hour}
	bu := newUser(t, s)
	// (A clock with nanoseconds, as the server's: the store keeps less.)
	right, err = s.AdmitLogin(ctx, bu.ID, backoff, at.Add(333), storage.AuditEvent{})
	must(t, err)
	must(t, s.ReleaseAdmission(ctx, bu.ID, right, ev("account_lock_lifted")))
	if got, _ := s.UserByID(ctx, bu.ID); got.Locked(at) {
		t.Fatalf("a right answer's release left its backoff: %+v", got.LockedUntil)
	}
	right, err = s.AdmitLogin(ctx, bu.ID, backoff, at, storage.AuditEvent{})
	must(t, err)
	_, err = s.LoginFailed(ctx, bu.ID, backoff, at, storage.AuditEvent{})
	must(t, err)
	must(t, s.ReleaseAdmission(ctx, bu.ID, right, ev("account_lock_lifted")))
	if got, _ := s.UserByID(ctx, bu.ID); !got.Locked(at) {
		t.Fatal("a later failure's lock was lifted by an earlier success")
	}
	// Two held admissions, then a failure, then both releases: when the
	// second is released the count is back to its ticket's, but the lock
	// is the failure's, not the one that ticket set: it stands (review
	// finding).
	ou := newUser(t, s)
	first, err = s.AdmitLogin(ctx, ou.ID, backoff, at, storage.AuditEvent{})
	must(t, err)
	later := at.Add(2 * time.Hour) // past the first backoff
	second, err := s.AdmitLogin(ctx, ou.ID, backoff, later, storage.AuditEvent{})
	must(t, err)
	failedAt := later.Add(3 * time.Hour)
	_, err = s.LoginFailed(ctx, ou.ID, backoff, failedAt, storage.AuditEvent{})
	must(t, err)
	must(t, s.ReleaseAdmission(ctx, ou.ID, first, ev("account_lock_lifted")))
	must(t, s.ReleaseAdmission(ctx, ou.ID, second, ev("account_lock_lifted")))
	if got, _ := s.UserByID(ctx, ou.ID); got.FailedLogins != 1 || !got.Locked(failedAt) {
		t.Fatalf("out-of-order releases: %d failures, locked until %v; want 1 and the failure's lock", got.FailedLogins, got.LockedUntil)
	}
	if n := auditCount(t, s, "account_lock_lifted"); n != 0 {
		t.Fatalf("releases that lifted no logged lock wrote %d lift rows", n)
	}
	// A release that takes back a lock whose row its own admission wrote
	// says so in the log (a timed lock, and the hard cap); one whose lock
	// a later failure replaced writes nothing.
	for _, lp := range []storage.LockoutPolicy{{LockAfter: 1, LockFor: time.Hour}, {MaxFailures: 1}} {
		lu := newUser(t, s)
		locking, err := s.AdmitLogin(ctx, lu.ID, lp, at, ev("account_locked"))
		must(t, err)
		if !locking.Logged {
			t.Fatalf("an admission that locked did not say so: %+v", locking)
		}
		before := auditCount(t, s, "account_lock_lifted")
		must(t, s.ReleaseAdmission(ctx, lu.ID, locking, ev("account_lock_lifted")))
		got, _ := s.UserByID(ctx, lu.ID)
		if got.Locked(at) || got.FailedLogins != 0 {
			t.Fatalf("%+v: the released lock stands: %+v", lp, got)
		}
		if n := auditCount(t, s, "account_lock_lifted"); n != before+1 {
			t.Fatalf("%+v: lift rows %d, want %d", lp, n, before+1)
		}
	}
	// A success that takes back its own logged lock says so as well.
	lp := storage.LockoutPolicy{LockAfter: 1, LockFor: time.Hour}
	su := newUser(t, s)
	locking, err := s.AdmitLogin(ctx, su.ID, lp, at, ev("account_locked"))
	must(t, err)
	before := auditCount(t, s, "account_lock_lifted")
	must(t, s.LoginSucceeded(ctx, su.ID, &locking, at, "", storage.Session{}, ev("login_succeeded"), ev("account_lock_lifted")))
	if got, _ := s.UserByID(ctx, su.ID); got.Locked(at) || auditCount(t, s, "account_lock_lifted") != before+1 {
		t.Fatalf("a success at the lock: locked until %v, lift rows %d, want open and %d", got.LockedUntil, auditCount(t, s, "account_lock_lifted"), before+1)
	}
	lu := newUser(t, s)
	locking, err = s.AdmitLogin(ctx, lu.ID, lp, at, ev("account_locked"))
	must(t, err)
	_, err = s.LoginFailed(ctx, lu.ID, lp, at, ev("login_failed"))
	must(t, err)
	before = auditCount(t, s, "account_lock_lifted")
	must(t, s.ReleaseAdmission(ctx, lu.ID, locking, ev("account_lock_lifted")))
	if got, _ := s.UserByID(ctx, lu.ID); !got.Locked(at) || auditCount(t, s, "account_lock_lifted") != before {
		t.Fatalf("a lock a later failure replaced was lifted, or logged as lifted: %+v", got)
	}
	// An earlier check released between a ticket's admission and its
	// success lowers the count: that must not hide what came after the
	// ticket (review finding; both read the count before).
	//  - The ticket's own logged lock, taken back by its success, is
	//    logged as lifted.
	ep := storage.LockoutPolicy{BackoffAfter: 2, BackoffBase: time.Second, BackoffMax: time.Minute, LockAfter: 2, LockFor: time.Hour, MaxFailures: 10}
	eu := newUser(t, s)
	early, err := s.AdmitLogin(ctx, eu.ID, ep, at, ev("account_locked")) // a check still queued
	must(t, err)
	tk, err := s.AdmitLogin(ctx, eu.ID, ep, at, ev("account_locked")) // locks, logged
	must(t, err)
	before = auditCount(t, s, "account_lock_lifted")
	must(t, s.ReleaseAdmission(ctx, eu.ID, early, ev("account_lock_lifted"))) // the queued one is shed
	must(t, s.LoginSucceeded(ctx, eu.ID, &tk, at, "", storage.Session{}, ev("login_succeeded"), ev("account_lock_lifted")))
	if got, _ := s.UserByID(ctx, eu.ID); got.Locked(at) || auditCount(t, s, "account_lock_lifted") != before+1 {
		t.Fatalf("the ticket's own lock: locked until %v, lift rows %d, want open and %d", got.LockedUntil, auditCount(t, s, "account_lock_lifted"), before+1)
	}
	//  - A failure admitted after the ticket keeps its lock and refuses
	//    the success, although the count is back at the ticket's.
	ep = storage.LockoutPolicy{BackoffAfter: 3, BackoffBase: time.Second, BackoffMax: time.Minute, LockAfter: 3, LockFor: time.Hour, MaxFailures: 10}
	gu := newUser(t, s)
	early, err = s.AdmitLogin(ctx, gu.ID, ep, at, ev("account_locked"))
	must(t, err)
	tk, err = s.AdmitLogin(ctx, gu.ID, ep, at, ev("account_locked"))
	must(t, err)
	_, err = s.AdmitLogin(ctx, gu.ID, ep, at, ev("account_locked")) // a wrong guess after the ticket: locks
	must(t, err)
	must(t, s.ReleaseAdmission(ctx, gu.ID, early, ev("account_lock_lifted")))
	if err := s.LoginSucceeded(ctx, gu.ID, &tk, at, "", storage.Session{}, ev("login_succeeded"), ev("account_lock_lifted")); !errors.Is(err, storage.ErrLocked) {
		t.Fatalf("a success got past a later failure's lock: %v", err)
	}
	if got, _ := s.UserByID(ctx, gu.ID); !got.Locked(at) || got.FailedLogins != 2 {
		t.Fatalf("the later failure was erased: locked until %v, %d failures", got.LockedUntil, got.FailedLogins)
	}
	//  - Without a lock, the later failure stays counted after a success.
	nu := newUser(t, s)
	np := storage.LockoutPolicy{LockAfter: 20, LockFor: time.Hour, MaxFailures: 30}
	early, err = s.AdmitLogin(ctx, nu.ID, np, at, storage.AuditEvent{})
	must(t, err)
	tk, err = s.AdmitLogin(ctx, nu.ID, np, at, storage.AuditEvent{})
	must(t, err)
	_, err = s.LoginFailed(ctx, nu.ID, np, at, ev("login_failed"))
	must(t, err)
	must(t, s.ReleaseAdmission(ctx, nu.ID, early, ev("account_lock_lifted")))
	must(t, s.LoginSucceeded(ctx, nu.ID, &tk, at, "", storage.Session{}, ev("login_succeeded"), ev("account_lock_lifted")))
	if got, _ := s.UserByID(ctx, nu.ID); got.FailedLogins != 1 {
		t.Fatalf("a success erased a failure counted after it: %d failures, want 1", got.FailedLogins)
	}
	// Checks held in a queue across the owner's success (or a reset) and
	// released after it take nothing back: their failures were already
	// forgiven, and taking back later ones would give extra guesses
	// (review finding).
	qp := storage.LockoutPolicy{LockAfter: 5, LockFor: time.Hour, MaxFailures: 10}
	for _, settle := range []string{"success", "reset"} {
		qu := newUser(t, s)
		q1, err := s.AdmitLogin(ctx, qu.ID, qp, at, ev("account_locked"))
		must(t, err)
		q2, err := s.AdmitLogin(ctx, qu.ID, qp, at, ev("account_locked"))
		must(t, err)
		if settle == "success" {
			own, err := s.AdmitLogin(ctx, qu.ID, qp, at, ev("account_locked"))
			must(t, err)
			must(t, s.LoginSucceeded(ctx, qu.ID, &own, at, "", storage.Session{}, ev("login_succeeded"), ev("account_lock_lifted")))
		} else {
			must(t, s.SetPassword(ctx, qu.ID, "reset", at, ev("password_reset")))
		}
		guesses := 0
		for i := range 20 {
			if i == 4 { // four wrong guesses in, the queued checks are shed
				must(t, s.ReleaseAdmission(ctx, qu.ID, q1, ev("account_lock_lifted")))
				must(t, s.ReleaseAdmission(ctx, qu.ID, q2, ev("account_lock_lifted")))
			}
			if _, err := s.AdmitLogin(ctx, qu.ID, qp, at, ev("account_locked")); errors.Is(err, storage.ErrLocked) {
				break
			}
			guesses++
		}
		if guesses != qp.LockAfter {
			t.Fatalf("after a %s, %d guesses before the lock, want %d", settle, guesses, qp.LockAfter)
		}
	}
	// A burst against the hard cap evaluates at most the cap.
	v := newUser(t, s)
	hardCap := storage.LockoutPolicy{MaxFailures: 100}
	admitted = 0
	for range 150 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.AdmitLogin(ctx, v.ID, hardCap, at, storage.AuditEvent{}); err == nil {
				mu.Lock()
				admitted++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if admitted != 100 {
		t.Fatalf("a burst of 150 was admitted %d times against a cap of 100", admitted)
	}
}

func testLoginFailuresConcurrent(t *testing.T, s storage.Store) {
	u := newUser(t, s)
	p := storage.DefaultLockoutPolicy()
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.LoginFailed(ctx, u.ID, p, now(), ev("login_failed"))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	got, err := s.UserByID(ctx, u.ID)
	must(t, err)
	if got.FailedLogins != 50 {
		t.Fatalf("counter = %d after 50 parallel failures, want exactly 50", got.FailedLogins)
	}
	if !got.Locked(now()) {
		t.Fatal("account not locked after 50 failures")
	}
	if n := auditCount(t, s, "login_failed"); n != 50 {
		t.Fatalf("audit rows = %d, want 50", n)
	}
}

func testOrgPolicyAndDomains(t *testing.T, s storage.Store) {
	a, err := s.UpsertOrganization(ctx, storage.Organization{Slug: "a", Name: "A"}, storage.AuditEvent{})
	must(t, err)
	if a.MFAPolicy != "optional" {
		t.Fatalf("default MFA policy %q", a.MFAPolicy)
	}
	must(t, s.SetMFAPolicy(ctx, a.ID, "required", ev("mfa_policy_changed")))
	if got, _ := s.OrganizationByID(ctx, a.ID); got.MFAPolicy != "required" {
		t.Fatalf("policy %q", got.MFAPolicy)
	}
	must(t, s.SetEmailPolicy(ctx, a.ID, true, ev("email_policy_changed")))
	if got, _ := s.OrganizationByID(ctx, a.ID); !got.RequireVerifiedEmail || got.MFAPolicy != "required" {
		t.Fatalf("email policy: %+v", got)
	}
	if err := s.SetEmailPolicy(ctx, "nope", true, storage.AuditEvent{}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown org: %v", err)
	}
	if err := s.SetMFAPolicy(ctx, "nope", "off", storage.AuditEvent{}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown org: %v", err)
	}
	b, _ := s.UpsertOrganization(ctx, storage.Organization{Slug: "b", Name: "B"}, storage.AuditEvent{})
	must(t, s.AddDomain(ctx, storage.OrganizationDomain{OrgID: a.ID, Domain: "Acme.Example"}, storage.AuditEvent{}))
	if _, err := s.OrganizationByVerifiedDomain(ctx, "acme.example"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unverified domain matched: %v", err)
	}
	must(t, s.AddDomain(ctx, storage.OrganizationDomain{OrgID: a.ID, Domain: "acme.example", VerifiedAt: now()}, ev("domain_verified")))
	if got, err := s.OrganizationByVerifiedDomain(ctx, "ACME.example"); err != nil || got.ID != a.ID {
		t.Fatalf("verified domain: %+v %v", got, err)
	}
	// Claims stand side by side: another organization's claim neither
	// removes nor blocks one, and tells nothing; only one verifies.
	must(t, s.AddDomain(ctx, storage.OrganizationDomain{OrgID: a.ID, Domain: "squat.example"}, storage.AuditEvent{}))
	must(t, s.AddDomain(ctx, storage.OrganizationDomain{OrgID: b.ID, Domain: "squat.example"}, storage.AuditEvent{}))
	claimed := func(org storage.Organization) bool {
		ds, err := s.DomainsOf(ctx, org.ID)
		must(t, err)
		return slices.ContainsFunc(ds, func(d storage.OrganizationDomain) bool { return d.Domain == "squat.example" })
	}
	if !claimed(a) || !claimed(b) {
		t.Fatalf("a second claim removed the first: a %v b %v", claimed(a), claimed(b))
	}
	must(t, s.AddDomain(ctx, storage.OrganizationDomain{OrgID: a.ID, Domain: "squat.example", VerifiedAt: now()}, storage.AuditEvent{}))
	must(t, s.AddDomain(ctx, storage.OrganizationDomain{OrgID: a.ID, Domain: "squat.example"}, storage.AuditEvent{})) // re-adding keeps it verified
	if o, err := s.OrganizationByVerifiedDomain(ctx, "squat.example"); err != nil || o.ID != a.ID {
		t.Fatalf("squatted domain after the owner verified it: %+v %v", o, err)
	}
	// Claiming a verified domain is allowed (it says nothing) but can never
	// be verified.
	must(t, s.AddDomain(ctx, storage.OrganizationDomain{OrgID: b.ID, Domain: "acme.example"}, storage.AuditEvent{}))
	if err := s.AddDomain(ctx, storage.OrganizationDomain{OrgID: b.ID, Domain: "acme.example", VerifiedAt: now()}, ev("domain_verified")); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("verifying a domain another organization verified: %v", err)
	}
	if o, err := s.OrganizationByVerifiedDomain(ctx, "acme.example"); err != nil || o.ID != a.ID {
		t.Fatalf("acme.example after b's attempt: %+v %v", o, err)
	}
	// Removing one organization's claim leaves the other's.
	must(t, s.RemoveDomain(ctx, b.ID, "squat.example", ev("domain_removed")))
	if o, err := s.OrganizationByVerifiedDomain(ctx, "squat.example"); err != nil || o.ID != a.ID || claimed(b) {
		t.Fatalf("after b removed its claim: %+v %v", o, err)
	}
}

func testPhonePendingSessions(t *testing.T, s storage.Store) {
	u := newUser(t, s)
	must(t, s.SetPhone(ctx, u.ID, "+41791234567", true, ev("phone_verified")))
	if got, _ := s.UserByID(ctx, u.ID); got.Phone != "+41791234567" || !got.PhoneVerified {
		t.Fatalf("phone: %+v", got)
	}
	ar, _ := completedRequest(t, s, u, time.Minute)
	if err := s.SetPendingLogin(ctx, ar.ID, u.ID, []string{"pwd"}, now()); !errors.Is(err, storage.ErrAlreadyUsed) {
		t.Fatalf("pending after code: %v", err)
	}
	at := now()
	fresh := storage.AuthRequest{ID: random.ID(), ClientID: "web", RedirectURI: "x", ResponseType: "code", BrowserHash: "b", CreatedAt: at,
		ExpiresAt: at.Add(time.Minute), Connection: "acme-okta"}
	must(t, s.CreateAuthRequest(ctx, fresh))
	must(t, s.SetPendingLogin(ctx, fresh.ID, u.ID, []string{"pwd"}, at))
	got, _ := s.AuthRequestByID(ctx, fresh.ID)
	if got.PendingUserID != u.ID || got.PendingAMR[0] != "pwd" || !got.PendingAt.Equal(at) || got.Done || got.Connection != "acme-okta" {
		t.Fatalf("pending: %+v", got)
	}
	for i, exp := range []time.Duration{time.Hour, 2 * time.Hour, -time.Minute} {
		sess := storage.Session{IDHash: storage.HashSecret(random.ID()), UserID: u.ID, AuthTime: at, CreatedAt: at.Add(time.Duration(i) * time.Second),
			LastSeenAt: at, ExpiresAt: at.Add(exp)}
		must(t, s.LoginSucceeded(ctx, u.ID, nil, now(), "", sess, storage.AuditEvent{}, ev("account_lock_lifted")))
	}
	list, err := s.SessionsByUser(ctx, u.ID, at)
	must(t, err)
	if len(list) != 2 || list[0].CreatedAt.Before(list[1].CreatedAt) {
		t.Fatalf("sessions: %+v", list)
	}
}

func testLoginOrg(t *testing.T, s storage.Store) {
	u := newUser(t, s)
	org, _ := s.UpsertOrganization(ctx, storage.Organization{Slug: "trading", Name: "Trading"}, storage.AuditEvent{})
	must(t, s.UpsertMembership(ctx, storage.Membership{UserID: u.ID, OrgID: org.ID, Role: "member"}, storage.AuditEvent{}))
	at := now()
	ar := storage.AuthRequest{ID: random.ID(), ClientID: "web", RedirectURI: "x", ResponseType: "code", BrowserHash: "b", OrgRequest: "trading",
		Scopes: []string{"openid", "org"}, CreatedAt: at, ExpiresAt: at.Add(time.Minute)}
	must(t, s.CreateAuthRequest(ctx, ar))
	must(t, s.SetAuthRequestOrg(ctx, ar.ID, org.ID))
	got, _ := s.AuthRequestByID(ctx, ar.ID)
	if got.OrgRequest != "trading" || got.OrgID != org.ID {
		t.Fatalf("auth request org: %+v", got)
	}
	must(t, s.CompleteAuthRequest(ctx, ar.ID, u.ID, at, []string{"pwd"}, "sess"))
	code := random.Token(32)
	must(t, s.SaveAuthCode(ctx, ar.ID, storage.HashSecret(code), at.Add(time.Minute)))
	if err := s.SetAuthRequestOrg(ctx, ar.ID, "other"); !errors.Is(err, storage.ErrAlreadyUsed) {
		t.Fatalf("org change after the code: %v", err)
	}
	gid := random.ID()
	_, err := s.RedeemCode(ctx, storage.HashSecret(code), storage.CodeBinding{ClientID: "web", RedirectURI: "x"}, gid, at.Add(time.Hour), at, storage.AuditEvent{}, storage.AuditEvent{})
	must(t, err)
	tok := random.Token(32)
	must(t, s.IssueRefreshToken(ctx, storage.RefreshToken{Hash: storage.HashSecret(tok), GrantID: gid, ClientID: "web", UserID: u.ID,
		AuthTime: at, CreatedAt: at, ExpiresAt: at.Add(time.Hour)}, at, storage.AuditEvent{}))
	st, err := s.RefreshTokenByHash(ctx, storage.HashSecret(tok))
	must(t, err)
	if st.Grant.OrgID != org.ID || st.Org.Org.Slug != "trading" || st.Org.Role != "member" {
		t.Fatalf("refresh state org: %+v", st.Org)
	}
	// A role change reaches the next refresh; so does the end of membership.
	must(t, s.UpsertMembership(ctx, storage.Membership{UserID: u.ID, OrgID: org.ID, Role: "admin"}, storage.AuditEvent{}))
	if st, _ := s.RefreshTokenByHash(ctx, storage.HashSecret(tok)); st.Org.Role != "admin" {
		t.Fatalf("role after change: %q", st.Org.Role)
	}
	at2, err := s.AccessTokenState(ctx, "jti", gid)
	must(t, err)
	if at2.Org.Org.ID != org.ID || at2.Org.Role != "admin" {
		t.Fatalf("access token state org: %+v", at2.Org)
	}
}

func testMembersAndOwners(t *testing.T, s storage.Store) {
	org, _ := s.UpsertOrganization(ctx, storage.Organization{Slug: "owners", Name: "Owners"}, storage.AuditEvent{})
	a, b := newUser(t, s), newUser(t, s)
	must(t, s.UpsertMembership(ctx, storage.Membership{UserID: a.ID, OrgID: org.ID, Role: "owner"}, storage.AuditEvent{}))
	must(t, s.UpsertMembership(ctx, storage.Membership{UserID: b.ID, OrgID: org.ID, Role: "member"}, storage.AuditEvent{}))
	if ms, _ := s.MembersOf(ctx, org.ID); len(ms) != 2 || ms[0].UserID != a.ID {
		t.Fatalf("members: %+v", ms)
	}
	if err := s.SetMemberRole(ctx, org.ID, a.ID, "admin", storage.AuditEvent{}); !errors.Is(err, storage.ErrLastOwner) {
		t.Fatalf("demoting the last owner: %v", err)
	}
	if err := s.SetMemberRole(ctx, org.ID, a.ID, "", storage.AuditEvent{}); !errors.Is(err, storage.ErrLastOwner) {
		t.Fatalf("removing the last owner: %v", err)
	}
	must(t, s.SetMemberRole(ctx, org.ID, b.ID, "owner", ev("role_changed")))
	// Two owners demote each other at once: exactly one succeeds.
	errs := make(chan error, 2)
	go func() { errs <- s.SetMemberRole(ctx, org.ID, a.ID, "member", storage.AuditEvent{}) }()
	go func() { errs <- s.SetMemberRole(ctx, org.ID, b.ID, "member", storage.AuditEvent{}) }()
	e1, e2 := <-errs, <-errs
	if (e1 == nil) == (e2 == nil) {
		t.Fatalf("concurrent demotions: %v / %v", e1, e2)
	}
	owners := 0
	ms, _ := s.MembersOf(ctx, org.ID)
	for _, m := range ms {
		if m.Role == "owner" {
			owners++
		}
	}
	if owners != 1 {
		t.Fatalf("owners left: %d", owners)
	}
	if err := s.SetMemberRole(ctx, org.ID, "nobody", "member", storage.AuditEvent{}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("non-member: %v", err)
	}
	must(t, s.AddDomain(ctx, storage.OrganizationDomain{OrgID: org.ID, Domain: "b.example"}, storage.AuditEvent{}))
	must(t, s.AddDomain(ctx, storage.OrganizationDomain{OrgID: org.ID, Domain: "a.example", VerifiedAt: now()}, storage.AuditEvent{}))
	if ds, _ := s.DomainsOf(ctx, org.ID); len(ds) != 2 || ds[0].Domain != "a.example" || ds[0].VerifiedAt.IsZero() || !ds[1].VerifiedAt.IsZero() {
		t.Fatalf("domains: %+v", ds)
	}
	must(t, s.AppendAudit(ctx, storage.AuditEvent{Type: "x", OrgID: org.ID, Time: now().Add(-time.Minute)}))
	must(t, s.AppendAudit(ctx, storage.AuditEvent{Type: "x", OrgID: "other", Time: now()}))
	if evs, _ := s.ListAudit(ctx, storage.AuditFilter{OrgID: org.ID}); len(evs) != 1 {
		t.Fatalf("audit by org: %d", len(evs))
	}
	if evs, _ := s.ListAudit(ctx, storage.AuditFilter{Type: "x", Before: now().Add(-30 * time.Second)}); len(evs) != 1 || evs[0].OrgID != org.ID {
		t.Fatalf("audit before: %+v", evs)
	}
}

// testSignUpAtomic: a sign-up's user, organization and ownership land
// together or not at all.
func testSignUpAtomic(t *testing.T, s storage.Store) {
	u, o, err := s.CreateUserWithOrganization(ctx, storage.User{Email: "Founder@Startup.example", Name: "F"},
		storage.Organization{Slug: "startup-1a2b3c", Name: "Startup"}, ev("user_registered"), ev("organization_created"))
	must(t, err)
	if ms, _ := s.MembershipsByUser(ctx, u.ID); len(ms) != 1 || ms[0].OrgID != o.ID || ms[0].Role != "owner" || u.Email != "founder@startup.example" {
		t.Fatalf("sign-up: %+v %+v %+v", u, o, ms)
	}
	if n := auditCount(t, s, "organization_created"); n != 1 {
		t.Fatalf("organization_created rows %d", n)
	}
	// A taken slug: no user either.
	if _, _, err := s.CreateUserWithOrganization(ctx, storage.User{Email: "second@startup.example"},
		storage.Organization{Slug: "startup-1a2b3c", Name: "Again"}, storage.AuditEvent{}, storage.AuditEvent{}); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("taken slug: %v", err)
	}
	if _, err := s.UserByEmail(ctx, "second@startup.example"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("user left behind by a failed sign-up: %v", err)
	}
	// A taken email: no organization either.
	if _, _, err := s.CreateUserWithOrganization(ctx, storage.User{Email: "founder@startup.example"},
		storage.Organization{Slug: "startup-9z9z9z", Name: "Dup"}, storage.AuditEvent{}, storage.AuditEvent{}); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("taken email: %v", err)
	}
	if _, err := s.OrganizationBySlug(ctx, "startup-9z9z9z"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("organization left behind by a failed sign-up: %v", err)
	}
	must(t, s.SetJoinByDomain(ctx, o.ID, true, storage.AuditEvent{}))
	if got, _ := s.OrganizationByID(ctx, o.ID); !got.JoinByDomain {
		t.Fatal("join_by_domain not stored")
	}
}

// testOrgDeletion: deleting an organization takes what belongs to it and
// leaves the members' accounts and the audit log; platform admins are
// granted and withdrawn.
func testOrgDeletion(t *testing.T, s storage.Store) {
	u := newUser(t, s)
	o, err := s.CreateOrganization(ctx, storage.Organization{Slug: "doomed", Name: "Doomed", Plan: "enterprise"}, u.ID, ev("organization_created"))
	must(t, err)
	if ms, _ := s.MembersOf(ctx, o.ID); len(ms) != 1 || ms[0].UserID != u.ID || ms[0].Role != "owner" || o.Plan != "enterprise" || o.MFAPolicy != "optional" {
		t.Fatalf("created: %+v, members %+v", o, ms)
	}
	if _, err := s.CreateOrganization(ctx, storage.Organization{Slug: "doomed", Name: "Again"}, u.ID, storage.AuditEvent{}); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("taken slug: %v", err)
	}
	if _, err := s.CreateOrganization(ctx, storage.Organization{Slug: "orphan", Name: "Orphan"}, "no-such-user", storage.AuditEvent{}); err == nil {
		t.Fatal("created with an unknown owner")
	}
	if _, err := s.OrganizationBySlug(ctx, "orphan"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("half-created organization: %v", err)
	}
	must(t, s.AddDomain(ctx, storage.OrganizationDomain{OrgID: o.ID, Domain: "doomed.example", VerifiedAt: now()}, storage.AuditEvent{}))
	must(t, s.CreateInvitation(ctx, storage.Invitation{ID: "inv-doomed", OrgID: o.ID, Email: "x@doomed.example", Role: "member",
		TokenHash: storage.HashSecret("doomed"), CreatedAt: now(), ExpiresAt: now().Add(time.Hour)}, storage.AuditEvent{}))
	// A client of the organization holding a user's grant.
	_, err = s.UpsertClient(ctx, storage.Client{ID: "doomed-app", OrgID: o.ID, SecretHash: "x"}, storage.AuditEvent{})
	must(t, err)
	arq := storage.AuthRequest{ID: random.ID(), ClientID: "doomed-app", RedirectURI: "x", ResponseType: "code", BrowserHash: "b", CreatedAt: now(), ExpiresAt: now().Add(time.Minute)}
	must(t, s.CreateAuthRequest(ctx, arq))
	must(t, s.CompleteAuthRequest(ctx, arq.ID, u.ID, now(), nil, "s"))
	must(t, s.SaveAuthCode(ctx, arq.ID, storage.HashSecret("doomed-code"), now().Add(time.Minute)))
	gid := random.ID()
	_, err = s.RedeemCode(ctx, storage.HashSecret("doomed-code"), storage.CodeBinding{ClientID: "doomed-app", RedirectURI: "x"}, gid, now().Add(time.Hour), now(), storage.AuditEvent{}, storage.AuditEvent{})
	must(t, err)
	must(t, s.DeleteOrganization(ctx, o.ID, storage.AuditEvent{Type: "organization_deleted", OrgID: o.ID}))
	if g, err := s.GrantByID(ctx, gid); err != nil || g.RevokedAt.IsZero() {
		t.Fatalf("a grant of the organization's client outlived it: %+v %v", g, err)
	}
	if _, err := s.ClientByID(ctx, "doomed-app"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the organization's client outlived it: %v", err)
	}
	if _, err := s.OrganizationByID(ctx, o.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("organization after deletion: %v", err)
	}
	if ms, _ := s.MembershipsByUser(ctx, u.ID); len(ms) != 0 {
		t.Fatalf("memberships after deletion: %+v", ms)
	}
	if _, err := s.OrganizationByVerifiedDomain(ctx, "doomed.example"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("domain after deletion: %v", err)
	}
	if list, _ := s.InvitationsOf(ctx, o.ID); len(list) != 0 {
		t.Fatalf("invitations after deletion: %+v", list)
	}
	if _, err := s.UserByID(ctx, u.ID); err != nil {
		t.Fatalf("member's account went with the organization: %v", err)
	}
	if evs, _ := s.ListAudit(ctx, storage.AuditFilter{OrgID: o.ID}); len(evs) == 0 {
		t.Fatal("the organization's audit rows went with it")
	}
	if err := s.DeleteOrganization(ctx, o.ID, storage.AuditEvent{}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("deleting twice: %v", err)
	}
	must(t, s.SetPlatformAdmin(ctx, u.ID, true, ev("platform_admin_granted")))
	if got, _ := s.UserByID(ctx, u.ID); !got.PlatformAdmin {
		t.Fatal("platform admin not stored")
	}
	must(t, s.SetPlatformAdmin(ctx, u.ID, false, ev("platform_admin_withdrawn")))
	if got, _ := s.UserByEmail(ctx, u.Email); got.PlatformAdmin {
		t.Fatal("platform admin not withdrawn")
	}
}

// testBranding: an organization's branding is stored whole and read back
// by every lookup.
func testBranding(t *testing.T, s storage.Store) {
	o, err := s.UpsertOrganization(ctx, storage.Organization{Slug: "branded", Name: "Branded"}, storage.AuditEvent{})
	must(t, err)
	if !o.Branding.IsZero() {
		t.Fatalf("new organization branded: %+v", o.Branding)
	}
	b := storage.Branding{DisplayName: "Branded Energy", Logo: "data:image/png;base64,iVBORw0KGgo=", Color: "#0a5c36", SupportURL: "https://help.branded.example"}
	must(t, s.SetBranding(ctx, o.ID, b, ev("branding_changed")))
	must(t, s.AddDomain(ctx, storage.OrganizationDomain{OrgID: o.ID, Domain: "branded.example", VerifiedAt: now()}, storage.AuditEvent{}))
	for name, get := range map[string]func() (storage.Organization, error){
		"id":     func() (storage.Organization, error) { return s.OrganizationByID(ctx, o.ID) },
		"slug":   func() (storage.Organization, error) { return s.OrganizationBySlug(ctx, "branded") },
		"domain": func() (storage.Organization, error) { return s.OrganizationByVerifiedDomain(ctx, "branded.example") },
	} {
		if got, err := get(); err != nil || got.Branding != b {
			t.Fatalf("by %s: %+v %v", name, got.Branding, err)
		}
	}
	if n := auditCount(t, s, "branding_changed"); n != 1 {
		t.Fatalf("branding_changed rows: %d", n)
	}
	if err := s.SetBranding(ctx, "nope", b, storage.AuditEvent{}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown org: %v", err)
	}
}
