package storagetest

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/storage"
)

func newPasskey(userID, name string, at time.Time) storage.Passkey {
	return storage.Passkey{ID: []byte(random.ID()), UserID: userID, Name: name, PublicKey: []byte{0xa5, 1, 2, 3}, AttestationType: "none",
		AAGUID: make([]byte, 16), BackupEligible: true, Transports: []string{"internal", "hybrid"}, CreatedAt: at}
}

// passkeyAudit counts the rows of type typ about userID.
func passkeyAudit(t *testing.T, s storage.Store, userID, typ string) int {
	t.Helper()
	rows, err := s.ListAudit(ctx, storage.AuditFilter{SubjectID: userID, Limit: 100})
	must(t, err)
	n := 0
	for _, r := range rows {
		if r.Type == typ {
			n++
		}
	}
	return n
}

func passkeyEv(typ, userID string) storage.AuditEvent {
	e := ev(typ)
	e.ActorID, e.SubjectID = userID, userID
	return e
}

func testPasskeys(t *testing.T, s storage.Store) {
	u, other := newUser(t, s), newUser(t, s)
	at := now()
	p := newPasskey(u.ID, "Laptop", at)
	must(t, s.AddPasskey(ctx, p, passkeyEv("passkey_registered", u.ID)))
	if err := s.AddPasskey(ctx, newPasskey("no-such-user", "x", at), storage.AuditEvent{}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown user: %v", err)
	}
	dup := newPasskey(other.ID, "Stolen ID", at)
	dup.ID = p.ID
	if err := s.AddPasskey(ctx, dup, storage.AuditEvent{}); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("credential ID registered twice: %v", err)
	}
	second := newPasskey(u.ID, "Phone", at.Add(time.Second))
	second.BackupEligible, second.AAGUID, second.Transports = false, nil, nil
	must(t, s.AddPasskey(ctx, second, passkeyEv("passkey_registered", u.ID)))
	if n := passkeyAudit(t, s, u.ID, "passkey_registered"); n != 2 {
		t.Fatalf("registration rows: %d", n)
	}

	list, err := s.PasskeysByUser(ctx, u.ID)
	must(t, err)
	if len(list) != 2 || list[0].Name != "Laptop" || list[1].Name != "Phone" {
		t.Fatalf("list: %+v", list)
	}
	got := list[0]
	if !bytes.Equal(got.ID, p.ID) || got.UserID != u.ID || !bytes.Equal(got.PublicKey, p.PublicKey) || got.AttestationType != "none" ||
		len(got.AAGUID) != 16 || !got.BackupEligible || got.BackupState || len(got.Transports) != 2 || !got.CreatedAt.Equal(at) ||
		!got.LastUsedAt.IsZero() || got.SignCount != 0 {
		t.Fatalf("stored passkey: %+v", got)
	}
	if others, _ := s.PasskeysByUser(ctx, other.ID); len(others) != 0 {
		t.Fatalf("other user's list: %+v", others)
	}
	if byID, err := s.PasskeyByID(ctx, second.ID); err != nil || byID.UserID != u.ID || byID.BackupEligible {
		t.Fatalf("by ID: %+v %v", byID, err)
	}
	if _, err := s.PasskeyByID(ctx, []byte("unknown")); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown ID: %v", err)
	}

	// Sign counts: a synced passkey stays at 0; a counting one must move
	// forward, and standing still or going back is a clone.
	must(t, s.UsePasskey(ctx, p.ID, 0, true, at, storage.AuditEvent{}))
	must(t, s.UsePasskey(ctx, p.ID, 0, true, at.Add(time.Minute), storage.AuditEvent{}))
	must(t, s.UsePasskey(ctx, p.ID, 5, true, at.Add(2*time.Minute), storage.AuditEvent{}))
	for _, n := range []uint32{5, 4, 0} {
		if err := s.UsePasskey(ctx, p.ID, n, false, at.Add(3*time.Minute), passkeyEv("passkey_clone_suspected", u.ID)); !errors.Is(err, storage.ErrCloned) {
			t.Fatalf("count %d after 5: %v", n, err)
		}
	}
	if n := passkeyAudit(t, s, u.ID, "passkey_clone_suspected"); n != 3 {
		t.Fatalf("clone rows: %d", n)
	}
	got, _ = s.PasskeyByID(ctx, p.ID)
	if got.SignCount != 5 || !got.BackupState || !got.LastUsedAt.Equal(at.Add(2*time.Minute)) {
		t.Fatalf("after use: %+v", got)
	}
	// Of concurrent assertions carrying the same count, one moves it.
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, clones := 0, 0
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.UsePasskey(ctx, p.ID, 6, true, now(), storage.AuditEvent{})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, storage.ErrCloned):
				clones++
			default:
				t.Errorf("concurrent use: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || clones != 19 {
		t.Fatalf("concurrent uses: wins=%d clones=%d", wins, clones)
	}
	if err := s.UsePasskey(ctx, []byte("unknown"), 1, false, at, storage.AuditEvent{}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("use unknown: %v", err)
	}

	// Rename and delete: only the owner's.
	if err := s.RenamePasskey(ctx, other.ID, p.ID, "Mine now", passkeyEv("passkey_renamed", other.ID)); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("rename another's: %v", err)
	}
	must(t, s.RenamePasskey(ctx, u.ID, p.ID, "Work laptop", passkeyEv("passkey_renamed", u.ID)))
	if got, _ := s.PasskeyByID(ctx, p.ID); got.Name != "Work laptop" {
		t.Fatalf("renamed: %q", got.Name)
	}
	if err := s.DeletePasskey(ctx, other.ID, p.ID, passkeyEv("passkey_removed", other.ID)); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("delete another's: %v", err)
	}
	must(t, s.DeletePasskey(ctx, u.ID, p.ID, passkeyEv("passkey_removed", u.ID)))
	if err := s.DeletePasskey(ctx, u.ID, p.ID, passkeyEv("passkey_removed", u.ID)); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	if _, err := s.PasskeyByID(ctx, p.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("deleted: %v", err)
	}
	if err := s.UsePasskey(ctx, p.ID, 9, false, at, storage.AuditEvent{}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("use deleted: %v", err)
	}
	if n, m, o := passkeyAudit(t, s, u.ID, "passkey_renamed"), passkeyAudit(t, s, u.ID, "passkey_removed"), passkeyAudit(t, s, other.ID, "passkey_removed"); n != 1 || m != 1 || o != 0 {
		t.Fatalf("rename/remove rows: %d %d %d", n, m, o)
	}

	// Erasure takes the user's passkeys with it.
	must(t, s.EraseUser(ctx, u.ID, storage.ErasedPrefix+random.ID(), ev("user_erased")))
	if _, err := s.PasskeyByID(ctx, second.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("passkey of an erased user: %v", err)
	}
}

func testPasskeyChallenges(t *testing.T, s storage.Store) {
	at := now()
	c := storage.PasskeyChallenge{IDHash: storage.HashSecret(random.ID()), Purpose: storage.PasskeySignIn, AuthRequestID: "ar1",
		BrowserHash: "browser-a", Session: []byte(`{"challenge":"abc"}`), CreatedAt: at, ExpiresAt: at.Add(5 * time.Minute)}
	must(t, s.CreatePasskeyChallenge(ctx, c))
	if err := s.CreatePasskeyChallenge(ctx, c); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("same challenge twice: %v", err)
	}
	// Another browser neither gets it nor burns it.
	for _, b := range []string{"browser-b", ""} {
		if _, err := s.ConsumePasskeyChallenge(ctx, c.IDHash, b, at); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("browser %q: %v", b, err)
		}
	}
	if _, err := s.ConsumePasskeyChallenge(ctx, "unknown", "browser-a", at); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
	var got storage.PasskeyChallenge
	winner := race(t, func(int) error {
		g, err := s.ConsumePasskeyChallenge(ctx, c.IDHash, "browser-a", at.Add(time.Second))
		if err == nil {
			got = g
		}
		return err
	})
	_ = winner
	if got.Purpose != storage.PasskeySignIn || got.AuthRequestID != "ar1" || string(got.Session) != `{"challenge":"abc"}` || got.UsedAt.IsZero() {
		t.Fatalf("consumed: %+v", got)
	}

	old := storage.PasskeyChallenge{IDHash: storage.HashSecret(random.ID()), Purpose: storage.PasskeyRegistration, UserID: "u1",
		BrowserHash: "browser-a", Session: []byte("{}"), CreatedAt: at.Add(-10 * time.Minute), ExpiresAt: at.Add(-5 * time.Minute)}
	must(t, s.CreatePasskeyChallenge(ctx, old))
	if _, err := s.ConsumePasskeyChallenge(ctx, old.IDHash, "browser-a", at); !errors.Is(err, storage.ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
	if _, err := s.DeleteExpired(ctx, at); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ConsumePasskeyChallenge(ctx, old.IDHash, "browser-a", at); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("expired challenge after clean-up: %v", err)
	}
}
