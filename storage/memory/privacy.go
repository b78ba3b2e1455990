package memory

import (
	"context"
	"encoding/hex"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/optibid/idp/storage"
)

func (s *Store) UserData(_ context.Context, userID string) (storage.UserData, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[userID]
	if !ok {
		return storage.UserData{}, storage.ErrNotFound
	}
	d := storage.UserData{User: u}
	for k, m := range s.memberships {
		if k[0] == userID {
			d.Memberships = append(d.Memberships, m)
		}
	}
	slices.SortFunc(d.Memberships, func(a, b storage.Membership) int { return a.CreatedAt.Compare(b.CreatedAt) })
	for _, ss := range s.sessions {
		if ss.UserID == userID {
			ss.AMR = slices.Clone(ss.AMR)
			d.Sessions = append(d.Sessions, ss)
		}
	}
	slices.SortFunc(d.Sessions, func(a, b storage.Session) int { return a.CreatedAt.Compare(b.CreatedAt) })
	for _, g := range s.grants {
		if g.UserID == userID {
			g.Scopes, g.AMR = slices.Clone(g.Scopes), slices.Clone(g.AMR)
			d.Grants = append(d.Grants, g)
		}
	}
	slices.SortFunc(d.Grants, func(a, b storage.Grant) int { return a.CreatedAt.Compare(b.CreatedAt) })
	for _, fi := range s.identities {
		if fi.UserID == userID {
			d.Identities = append(d.Identities, fi)
		}
	}
	slices.SortFunc(d.Identities, func(a, b storage.FederatedIdentity) int { return a.CreatedAt.Compare(b.CreatedAt) })
	if t, ok := s.totp[userID]; ok {
		d.TOTP = &t
	}
	for _, used := range s.backupCodes[userID] {
		if used.IsZero() {
			d.BackupCodes++
		}
	}
	for k, layout := range s.dashboards {
		if k[0] == userID {
			if d.Dashboards == nil {
				d.Dashboards = map[string][]byte{}
			}
			d.Dashboards[k[1]] = slices.Clone(layout)
		}
	}
	for k, n := range s.usage {
		if k.UserID == userID {
			k.Count = n
			d.Usage = append(d.Usage, k)
		}
	}
	slices.SortFunc(d.Usage, func(a, b storage.UsageCount) int { return a.Day.Compare(b.Day) })
	for _, ev := range s.audit { // oldest first
		if ev.ActorID == userID || ev.SubjectID == userID {
			ev.Details = cloneMap(ev.Details)
			d.Audit = append(d.Audit, ev)
		}
	}
	return d, nil
}

func (s *Store) EraseUser(_ context.Context, userID, pseudonym string, ev storage.AuditEvent) error {
	if !strings.HasPrefix(pseudonym, storage.ErasedPrefix) || pseudonym == storage.ErasedPrefix || pseudonym == userID {
		return errors.New("memory: erasure needs an " + storage.ErasedPrefix + "… pseudonym")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[userID]
	if !ok {
		return storage.ErrNotFound
	}
	digest := hex.EncodeToString(storage.AuditDigest(userID))
	if slices.ContainsFunc(s.audit, func(a storage.AuditEvent) bool {
		return a.ActorID == pseudonym || a.SubjectID == pseudonym || (a.Type == storage.AuditErasureType && a.Details["pseudonym"] == pseudonym)
	}) {
		return errors.New("memory: the pseudonym is taken")
	}
	if slices.ContainsFunc(s.audit, func(a storage.AuditEvent) bool {
		return a.Type == storage.AuditErasureType && a.Details["erased_id_digest"] == digest
	}) {
		return errors.New("memory: this ID was erased before")
	}
	for k, m := range s.memberships {
		if k[0] != userID || m.Role != "owner" {
			continue
		}
		owners := 0
		for k2, x := range s.memberships {
			if k2[1] == k[1] && x.Role == "owner" {
				owners++
			}
		}
		if owners <= 1 {
			return storage.ErrLastOwner
		}
	}
	delete(s.users, userID)
	deleteWhere(s.memberships, func(m storage.Membership) bool { return m.UserID == userID })
	deleteWhere(s.sessions, func(x storage.Session) bool { return x.UserID == userID })
	deleteWhere(s.authRequests, func(ar storage.AuthRequest) bool {
		if ar.UserID == userID || ar.PendingUserID == userID {
			delete(s.codes, ar.CodeHash)
			delete(s.redemptions, ar.ID)
			return true
		}
		return false
	})
	deleteWhere(s.refreshTokens, func(rt storage.RefreshToken) bool { return rt.UserID == userID })
	deleteWhere(s.grants, func(g storage.Grant) bool { return g.UserID == userID })
	deleteWhere(s.actionTokens, func(t storage.ActionToken) bool { return t.UserID == userID })
	deleteWhere(s.otp, func(c storage.OTPChallenge) bool { return c.UserID == userID })
	deleteWhere(s.identities, func(fi storage.FederatedIdentity) bool { return fi.UserID == userID })
	deleteWhere(s.invitations, func(i storage.Invitation) bool { return i.AcceptedBy == userID || strings.EqualFold(i.Email, u.Email) })
	maps.DeleteFunc(s.dashboards, func(k [2]string, _ []byte) bool { return k[0] == userID })
	maps.DeleteFunc(s.usage, func(k storage.UsageCount, _ int64) bool { return k.UserID == userID })
	maps.DeleteFunc(s.consents, func(k [2]string, _ storage.Consent) bool { return k[0] == userID })
	delete(s.totp, userID)
	deleteWhere(s.passkeys, func(p storage.Passkey) bool { return p.UserID == userID })
	deleteWhere(s.passkeyChallenges, func(c storage.PasskeyChallenge) bool { return c.UserID == userID })
	delete(s.backupCodes, userID)
	rows := 0
	for i, a := range s.audit {
		if a.ActorID != userID && a.SubjectID != userID && (a.Details["email"] == "" || !strings.EqualFold(a.Details["email"], u.Email)) {
			continue
		}
		if a.ActorID == userID {
			a.ActorID = pseudonym
		}
		if a.SubjectID == userID {
			a.SubjectID = pseudonym
		}
		a.IP, a.UserAgent = "", ""
		a.Details = cloneMap(a.Details)
		maps.DeleteFunc(a.Details, func(k, _ string) bool { return slices.Contains(storage.PersonalDetails, k) })
		s.audit[i] = a
		rows++
	}
	// The erasure's own record, as storage/postgres's erase_user_audit
	// writes it.
	s.appendAudit(storage.AuditEvent{Type: storage.AuditErasureType,
		Details: map[string]string{"pseudonym": pseudonym, "erased_id_digest": digest, "rows": strconv.Itoa(rows)}})
	s.appendAudit(ev)
	return nil
}
