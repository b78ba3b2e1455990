package postgres

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/optibid/idp/storage"
)

// --- AuthRequests ---

const arCols = `id, client_id, redirect_uri, state, nonce, scopes, response_type, response_mode, code_challenge,
	code_challenge_method, prompt, max_age, login_hint, hint_subject, acr_values, ui_locales, browser_hash, user_id,
	auth_time, amr, session_hash, done, coalesce(code_hash, ''), code_expires_at, redeemed_at, grant_id, created_at, expires_at,
	pending_user_id, pending_amr, pending_at, connection, org_request, org_id, resources`

func scanAR(r pgx.Row) (storage.AuthRequest, error) {
	var a storage.AuthRequest
	var authTime, codeExp, redeemed, pending *time.Time
	err := r.Scan(&a.ID, &a.ClientID, &a.RedirectURI, &a.State, &a.Nonce, &a.Scopes, &a.ResponseType, &a.ResponseMode,
		&a.CodeChallenge, &a.CodeChallengeMethod, &a.Prompt, &a.MaxAge, &a.LoginHint, &a.HintSubject, &a.ACRValues,
		&a.UILocales, &a.BrowserHash, &a.UserID, &authTime, &a.AMR, &a.SessionID, &a.Done, &a.CodeHash, &codeExp,
		&redeemed, &a.GrantID, &a.CreatedAt, &a.ExpiresAt, &a.PendingUserID, &a.PendingAMR, &pending, &a.Connection, &a.OrgRequest, &a.OrgID, &a.Resources)
	if err != nil {
		return a, translate(err)
	}
	a.AuthTime, a.CodeExpiresAt, a.RedeemedAt, a.PendingAt = fromNull(authTime), fromNull(codeExp), fromNull(redeemed), fromNull(pending)
	a.CreatedAt, a.ExpiresAt = a.CreatedAt.UTC(), a.ExpiresAt.UTC()
	return a, nil
}

func (s *Store) CreateAuthRequest(ctx context.Context, a storage.AuthRequest) error {
	if a.CreatedAt.IsZero() {
		a.CreatedAt = time.Now().UTC()
	}
	_, err := s.exec(ctx, `INSERT INTO auth_requests (id, client_id, redirect_uri, state, nonce, scopes, response_type,
		response_mode, code_challenge, code_challenge_method, prompt, max_age, login_hint, hint_subject, acr_values,
		ui_locales, browser_hash, created_at, expires_at, connection, org_request, resources)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)`,
		a.ID, a.ClientID, a.RedirectURI, a.State, a.Nonce, strs(a.Scopes), a.ResponseType, a.ResponseMode,
		a.CodeChallenge, a.CodeChallengeMethod, strs(a.Prompt), a.MaxAge, a.LoginHint, a.HintSubject,
		strs(a.ACRValues), strs(a.UILocales), a.BrowserHash, a.CreatedAt, a.ExpiresAt, a.Connection, a.OrgRequest, strs(a.Resources))
	return err
}

func (s *Store) AuthRequestByID(ctx context.Context, id string) (storage.AuthRequest, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return scanAR(s.pool.QueryRow(ctx, `SELECT `+arCols+` FROM auth_requests WHERE id = $1 AND expires_at > now()`, id))
}

// arState explains why a conditional update on an auth request touched no
// row: unknown/expired, or already carrying a code.
func (s *Store) arState(ctx context.Context, id string) error {
	var one int
	if err := s.pool.QueryRow(ctx, `SELECT 1 FROM auth_requests WHERE id = $1 AND expires_at > now()`, id).Scan(&one); err != nil {
		return translate(err)
	}
	return storage.ErrAlreadyUsed
}

func (s *Store) CompleteAuthRequest(ctx context.Context, id, userID string, authTime time.Time, amr []string, sessionHash string) error {
	n, err := s.exec(ctx, `UPDATE auth_requests SET user_id = $2, auth_time = $3, amr = $4, session_hash = $5, done = true
		WHERE id = $1 AND expires_at > now() AND code_hash IS NULL`, id, userID, authTime, strs(amr), sessionHash)
	if err != nil || n == 1 {
		return err
	}
	return s.arState(ctx, id)
}

func (s *Store) SaveAuthCode(ctx context.Context, id, codeHash string, expiresAt time.Time) error {
	n, err := s.exec(ctx, `UPDATE auth_requests SET code_hash = $2, code_expires_at = $3
		WHERE id = $1 AND expires_at > now() AND done AND code_hash IS NULL`, id, codeHash, expiresAt)
	if err != nil || n == 1 {
		return err
	}
	return s.arState(ctx, id)
}

func (s *Store) SetAuthRequestOrg(ctx context.Context, id, orgID string) error {
	n, err := s.exec(ctx, `UPDATE auth_requests SET org_id = $2 WHERE id = $1 AND expires_at > now() AND code_hash IS NULL`, id, orgID)
	if err != nil || n == 1 {
		return err
	}
	return s.arState(ctx, id)
}

func (s *Store) SetPendingLogin(ctx context.Context, id, userID string, amr []string, at time.Time) error {
	n, err := s.exec(ctx, `UPDATE auth_requests SET pending_user_id = $2, pending_amr = $3, pending_at = $4
		WHERE id = $1 AND expires_at > now() AND code_hash IS NULL`, id, userID, strs(amr), at)
	if err != nil || n == 1 {
		return err
	}
	return s.arState(ctx, id)
}

// RedeemCode is race-safe: the winning path is one statement (mark redeemed + create the
// grant). Losers fall through to a transaction that tells replay (revoke
// the first redemption's grant) from expiry and unknown codes.
func (s *Store) RedeemCode(ctx context.Context, codeHash string, b storage.CodeBinding, grantID string, grantExpiresAt, now time.Time, ev, replayEv storage.AuditEvent) (storage.AuthRequest, error) {
	return s.redeemCode(ctx, codeHash, b, grantID, grantExpiresAt, now, false, 0, ev, replayEv)
}

// redeemCode is RedeemCode and, when claimed, RedeemClaimedCode: a
// claimed redemption is marked as such, and may itself be the retry of a
// claimed one whose answer was never written, within grace of it.
func (s *Store) redeemCode(ctx context.Context, codeHash string, b storage.CodeBinding, grantID string, grantExpiresAt, now time.Time,
	claimed bool, grace time.Duration, ev, replayEv storage.AuditEvent) (storage.AuthRequest, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	args := append([]any{codeHash, now, grantID, grantExpiresAt, b.ClientID, b.RedirectURI, b.CodeChallenge, claimed}, auditArgs(ev, now)...)
	ar, err := scanAR(s.pool.QueryRow(ctx, `WITH r AS (
			UPDATE auth_requests SET redeemed_at = $2, grant_id = $3, code_claimed = $8
			WHERE code_hash = $1 AND redeemed_at IS NULL AND code_expires_at > $2
			  AND client_id = $5 AND redirect_uri = $6 AND code_challenge = $7
			RETURNING *),
		g AS (INSERT INTO grants (id, client_id, user_id, scopes, auth_time, amr, created_at, expires_at, org_id, resources)
			SELECT $3, client_id, user_id, scopes, auth_time, amr, $2, $4, org_id, resources FROM r),
		a AS (INSERT INTO audit_log (`+auditCols+`) SELECT `+auditValues(9)+` FROM r WHERE $11 <> '')
		SELECT `+arCols+` FROM r`, args...))
	if !errors.Is(err, storage.ErrNotFound) {
		return ar, err
	}
	// The replay path must commit its revocation before reporting the
	// replay, so the sentinel travels in outcome, not as fn's error (which
	// would roll the transaction back).
	var outcome error
	err = translate(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var redeemed, delivered *time.Time
		var firstGrant string
		var firstClaimed bool
		var bound storage.CodeBinding
		if err := tx.QueryRow(ctx, `SELECT redeemed_at, grant_id, client_id, redirect_uri, code_challenge, code_claimed, code_delivered_at
			FROM auth_requests WHERE code_hash = $1 FOR UPDATE`,
			codeHash).Scan(&redeemed, &firstGrant, &bound.ClientID, &bound.RedirectURI, &bound.CodeChallenge, &firstClaimed, &delivered); err != nil {
			return err
		}
		if bound != b {
			outcome = storage.ErrMismatch
			return nil
		}
		if redeemed == nil {
			outcome = storage.ErrExpired
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE grants SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`, firstGrant, now); err != nil {
			return err
		}
		if claimed && storage.LostAnswer(firstClaimed, delivered != nil, *redeemed, now, grace) {
			if _, err := tx.Exec(ctx, `UPDATE auth_requests SET grant_id = $2, code_delivered_at = NULL WHERE code_hash = $1`, codeHash, grantID); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO grants (id, client_id, user_id, scopes, auth_time, amr, created_at, expires_at, org_id, resources)
				SELECT $2, client_id, user_id, scopes, auth_time, amr, $3, $4, org_id, resources FROM auth_requests WHERE code_hash = $1`,
				codeHash, grantID, now, grantExpiresAt); err != nil {
				return err
			}
			got, err := scanAR(tx.QueryRow(ctx, `SELECT `+arCols+` FROM auth_requests WHERE code_hash = $1`, codeHash))
			if err != nil {
				return err
			}
			ar = got
			return insertAudit(ctx, tx, storage.RetriedRedemption(ev, firstGrant))
		}
		// A replay ends any retry: nothing the code gave may come back.
		if firstClaimed {
			if _, err := tx.Exec(ctx, `UPDATE auth_requests SET code_claimed = false WHERE code_hash = $1`, codeHash); err != nil {
				return err
			}
		}
		outcome = storage.ErrAlreadyUsed
		return insertAudit(ctx, tx, replayEv)
	}))
	if err != nil {
		return storage.AuthRequest{}, err
	}
	if outcome != nil {
		return storage.AuthRequest{}, outcome
	}
	return ar, nil
}

// RedeemClaimedCode implements storage.Store (see there).
func (s *Store) RedeemClaimedCode(ctx context.Context, codeHash string, b storage.CodeBinding, grantID string, grantExpiresAt, now time.Time,
	grace time.Duration, ev, replayEv storage.AuditEvent) (storage.AuthRequest, error) {
	return s.redeemCode(ctx, codeHash, b, grantID, grantExpiresAt, now, true, grace, ev, replayEv)
}

// codeClaimClass is the first key of code claims' advisory locks (the
// two-key space, apart from the one-key locks of migrations): "CODE".
const codeClaimClass = 0x434f4445

// ClaimCode holds a session advisory lock on the code, on a connection
// of its own, until release. PostgreSQL frees it when that session ends,
// so a replica that dies mid-exchange frees its claims as its
// connections close. At most a quarter of the pool is held for claims;
// past that, and when another session holds the code, ok is false.
func (s *Store) ClaimCode(ctx context.Context, codeHash string) (release func(), ok bool, err error) {
	select {
	case s.claims <- struct{}{}:
	default:
		return func() {}, false, nil
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		<-s.claims
		return func() {}, false, translate(err)
	}
	key := codeClaimKey(codeHash)
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, codeClaimClass, key).Scan(&ok); err != nil || !ok {
		conn.Release()
		<-s.claims
		return func() {}, false, translate(err)
	}
	return sync.OnceFunc(func() {
		// The answer is out; unlocking must not wait on the request.
		ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
		defer cancel()
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1, $2)`, codeClaimClass, key); err != nil {
			// The lock ends with its session: close it rather than
			// hand a locked session back to the pool.
			_ = conn.Conn().Close(ctx)
		}
		conn.Release()
		<-s.claims
	}), true, nil
}

// codeClaimKey is the second key of a code's claim: 32 bits of its hash
// (hex SHA-256). Two codes sharing one only make a retry of either
// impossible while the other is being exchanged.
func codeClaimKey(codeHash string) int32 {
	k, _ := strconv.ParseUint(codeHash[:min(8, len(codeHash))], 16, 32)
	return int32(uint32(k))
}

// CodeDelivered implements storage.Store (see there).
func (s *Store) CodeDelivered(ctx context.Context, codeHash, grantID string, at time.Time) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	_, err := s.pool.Exec(ctx, `UPDATE auth_requests SET code_delivered_at = $3 WHERE code_hash = $1 AND grant_id = $2`, codeHash, grantID, at)
	return translate(err)
}

// --- Grants and refresh tokens ---

const grantCols = `g.id, g.client_id, g.user_id, g.org_id, g.scopes, g.auth_time, g.amr, g.created_at, g.expires_at, g.revoked_at, g.resources`

// orgRoleCols reads the grant's organization and the user's role in it
// (joined with orgRoleJoin), NULL-safe.
var orgRoleCols = `coalesce(o.id, ''), coalesce(o.slug, ''), coalesce(o.name, ''), coalesce(o.mfa_policy, ''), coalesce(o.plan, ''),
	coalesce(m.role, ''), ` + sprintf(featuresAgg, "o.id")

const orgRoleJoin = `LEFT JOIN user_organization_membership m ON m.user_id = g.user_id AND m.org_id = g.org_id
		LEFT JOIN organizations o ON o.id = m.org_id`

func orgRoleDest(o *storage.OrgRole, features *[]byte) []any {
	return []any{&o.Org.ID, &o.Org.Slug, &o.Org.Name, &o.Org.MFAPolicy, &o.Org.Plan, &o.Role, features}
}

// fixOrgRole decodes the aggregated feature settings.
func fixOrgRole(o *storage.OrgRole, features []byte) error {
	if o.Org.ID == "" {
		return nil
	}
	var err error
	o.Features, err = decodeSettings(features)
	return err
}

func grantDest(g *storage.Grant, revoked **time.Time) []any {
	return []any{&g.ID, &g.ClientID, &g.UserID, &g.OrgID, &g.Scopes, &g.AuthTime, &g.AMR, &g.CreatedAt, &g.ExpiresAt, revoked, &g.Resources}
}

func fixGrant(g *storage.Grant, revoked *time.Time) {
	g.RevokedAt = fromNull(revoked)
	g.AuthTime, g.CreatedAt, g.ExpiresAt = g.AuthTime.UTC(), g.CreatedAt.UTC(), g.ExpiresAt.UTC()
}

func (s *Store) GrantByID(ctx context.Context, id string) (storage.Grant, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var g storage.Grant
	var revoked *time.Time
	if err := s.pool.QueryRow(ctx, `SELECT `+grantCols+` FROM grants g WHERE g.id = $1`, id).Scan(grantDest(&g, &revoked)...); err != nil {
		return g, translate(err)
	}
	fixGrant(&g, revoked)
	return g, nil
}

func (s *Store) IssueRefreshToken(ctx context.Context, rt storage.RefreshToken, now time.Time, ev storage.AuditEvent) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		if err := insertRT(ctx, tx, rt); err != nil { // a missing grant fails the foreign key: ErrNotFound
			return err
		}
		return insertAudit(ctx, tx, ev)
	})
}

func insertRT(ctx context.Context, tx pgx.Tx, rt storage.RefreshToken) error {
	_, err := tx.Exec(ctx, `INSERT INTO refresh_tokens (hash, grant_id, client_id, user_id, scopes, auth_time, amr, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, rt.Hash, rt.GrantID, rt.ClientID, rt.UserID, strs(rt.Scopes),
		rt.AuthTime, strs(rt.AMR), rt.CreatedAt, rt.ExpiresAt)
	return err
}

func (s *Store) RefreshTokenByHash(ctx context.Context, hash string) (storage.RefreshTokenState, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var st storage.RefreshTokenState
	rt := &st.Token
	var used, revoked, locked *time.Time
	dest := append([]any{&rt.Hash, &rt.GrantID, &rt.ClientID, &rt.UserID, &rt.Scopes, &rt.AuthTime, &rt.AMR,
		&rt.CreatedAt, &rt.ExpiresAt, &used}, grantDest(&st.Grant, &revoked)...)
	dest = append(dest, userDest(&st.User, &locked)...)
	var features []byte
	dest = append(dest, orgRoleDest(&st.Org, &features)...)
	err := s.pool.QueryRow(ctx, `SELECT r.hash, r.grant_id, r.client_id, r.user_id, r.scopes, r.auth_time, r.amr,
		r.created_at, r.expires_at, r.used_at, `+grantCols+`, `+userCols+`, `+orgRoleCols+`
		FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id JOIN users u ON u.id = g.user_id `+orgRoleJoin+`
		WHERE r.hash = $1`, hash).Scan(dest...)
	if err != nil {
		return st, translate(err)
	}
	rt.UsedAt = fromNull(used)
	rt.AuthTime, rt.CreatedAt, rt.ExpiresAt = rt.AuthTime.UTC(), rt.CreatedAt.UTC(), rt.ExpiresAt.UTC()
	fixGrant(&st.Grant, revoked)
	fixUser(&st.User, locked)
	return st, fixOrgRole(&st.Org, features)
}

// RotateRefreshToken is race-safe: the winning path is one statement (mark used, insert
// the successor, audit). Losers fall through to a transaction that revokes
// the family on reuse.
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash string, next storage.RefreshToken, now time.Time, grace time.Duration, ev, reuseEv storage.AuditEvent) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	args := append([]any{oldHash, now, next.Hash, next.Scopes, next.AuthTime, strs(next.AMR), next.ExpiresAt},
		auditArgs(ev, now)...)
	var rotated int
	err := s.pool.QueryRow(ctx, `WITH u AS (
			UPDATE refresh_tokens r SET used_at = $2, successor_hash = $3 FROM grants g
			WHERE r.hash = $1 AND r.used_at IS NULL AND r.expires_at > $2
			  AND g.id = r.grant_id AND g.revoked_at IS NULL AND g.expires_at > $2
			RETURNING r.grant_id, r.client_id, r.user_id),
		n AS (INSERT INTO refresh_tokens (hash, grant_id, client_id, user_id, scopes, auth_time, amr, created_at, expires_at)
			SELECT $3, grant_id, client_id, user_id, $4, $5, $6, $2, $7 FROM u RETURNING 1),
		a AS (INSERT INTO audit_log (`+auditCols+`) SELECT `+auditValues(8)+` FROM u WHERE $10 <> '')
		SELECT count(*) FROM n`, args...).Scan(&rotated)
	if err != nil || rotated == 1 {
		return translate(err)
	}
	var outcome error // see RedeemCode: sentinels must not roll back
	err = translate(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var used, revoked *time.Time
		var grantID string
		var rtExp, gExp time.Time
		if err := tx.QueryRow(ctx, `SELECT r.used_at, r.expires_at, g.id, g.revoked_at, g.expires_at
			FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id WHERE r.hash = $1 FOR UPDATE OF g`,
			oldHash).Scan(&used, &rtExp, &grantID, &revoked, &gExp); err != nil {
			return err
		}
		if grace > 0 && used != nil && !now.Before(*used) && now.Sub(*used) < grace && revoked == nil && now.Before(gExp) && now.Before(rtExp) {
			// The client's retry of a refresh whose answer was lost: rotate
			// again while the successor is unused, and mark that successor
			// used (if it turns up after all, that is reuse).
			tag, err := tx.Exec(ctx, `UPDATE refresh_tokens s SET used_at = $2 FROM refresh_tokens r
				WHERE r.hash = $1 AND s.hash = r.successor_hash AND s.used_at IS NULL`, oldHash, now)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 1 {
				if _, err := tx.Exec(ctx, `INSERT INTO refresh_tokens (hash, grant_id, client_id, user_id, scopes, auth_time, amr, created_at, expires_at)
					SELECT $2, grant_id, client_id, user_id, $3, $4, $5, $6, $7 FROM refresh_tokens WHERE hash = $1`,
					oldHash, next.Hash, next.Scopes, next.AuthTime, strs(next.AMR), now, next.ExpiresAt); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET successor_hash = $2 WHERE hash = $1`, oldHash, next.Hash); err != nil {
					return err
				}
				if ev.Type != "" {
					return insertAudit(ctx, tx, storage.RetryEvent(ev))
				}
				return nil
			}
		}
		switch {
		case used != nil:
			if _, err := tx.Exec(ctx, `UPDATE grants SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`, grantID, now); err != nil {
				return err
			}
			outcome = storage.ErrAlreadyUsed
			return insertAudit(ctx, tx, reuseEv)
		case revoked != nil:
			outcome = storage.ErrRevoked
		default:
			outcome = storage.ErrExpired
		}
		return nil
	}))
	if err != nil {
		return err
	}
	return outcome
}

func (s *Store) RevokeGrant(ctx context.Context, id string, now time.Time, ev storage.AuditEvent) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE grants SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1`, id, now)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return storage.ErrNotFound
		}
		return insertAudit(ctx, tx, ev)
	})
}

func (s *Store) RevokeAccessToken(ctx context.Context, jti string, expiresAt time.Time, ev storage.AuditEvent) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO revoked_access_tokens (jti, expires_at) VALUES ($1, $2)
			ON CONFLICT (jti) DO NOTHING`, jti, expiresAt); err != nil {
			return err
		}
		return insertAudit(ctx, tx, ev)
	})
}

func (s *Store) AccessTokenState(ctx context.Context, jti, grantID string) (storage.AccessTokenState, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var st storage.AccessTokenState
	if grantID == "" {
		err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM revoked_access_tokens WHERE jti = $1)`, jti).Scan(&st.Revoked)
		return st, translate(err)
	}
	var revoked, locked *time.Time
	dest := append([]any{&st.Revoked}, grantDest(&st.Grant, &revoked)...)
	dest = append(dest, userDest(&st.User, &locked)...)
	var features []byte
	dest = append(dest, orgRoleDest(&st.Org, &features)...)
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM revoked_access_tokens WHERE jti = $1), `+grantCols+`, `+userCols+`, `+orgRoleCols+`
		FROM grants g JOIN users u ON u.id = g.user_id `+orgRoleJoin+` WHERE g.id = $2`, jti, grantID).Scan(dest...)
	if err != nil {
		return st, translate(err)
	}
	fixGrant(&st.Grant, revoked)
	fixUser(&st.User, locked)
	return st, fixOrgRole(&st.Org, features)
}

// --- Sessions ---

func (s *Store) SessionByHash(ctx context.Context, hash string) (storage.Session, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var ss storage.Session
	var revoked *time.Time
	err := s.pool.QueryRow(ctx, `SELECT id_hash, user_id, auth_time, amr, created_at, last_seen_at, expires_at, revoked_at, ip, user_agent
		FROM user_sessions WHERE id_hash = $1`, hash).Scan(&ss.IDHash, &ss.UserID, &ss.AuthTime, &ss.AMR, &ss.CreatedAt,
		&ss.LastSeenAt, &ss.ExpiresAt, &revoked, &ss.IP, &ss.UserAgent)
	if err != nil {
		return ss, translate(err)
	}
	ss.RevokedAt = fromNull(revoked)
	ss.AuthTime, ss.CreatedAt, ss.LastSeenAt, ss.ExpiresAt = ss.AuthTime.UTC(), ss.CreatedAt.UTC(), ss.LastSeenAt.UTC(), ss.ExpiresAt.UTC()
	return ss, nil
}

func (s *Store) TouchSession(ctx context.Context, hash string, now time.Time) error {
	n, err := s.exec(ctx, `UPDATE user_sessions SET last_seen_at = $2 WHERE id_hash = $1`, hash, now)
	if err == nil && n == 0 {
		return storage.ErrNotFound
	}
	return err
}

func (s *Store) RevokeSession(ctx context.Context, hash string, now time.Time, ev storage.AuditEvent) error {
	return s.execAudited(ctx, ev, `UPDATE user_sessions SET revoked_at = coalesce(revoked_at, $2) WHERE id_hash = $1`, hash, now)
}

func (s *Store) SessionsByUser(ctx context.Context, userID string, now time.Time) ([]storage.Session, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT id_hash, user_id, auth_time, amr, created_at, last_seen_at, expires_at, ip, user_agent
		FROM user_sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at DESC`, userID, now)
	if err != nil {
		return nil, translate(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Session, error) {
		var ss storage.Session
		err := r.Scan(&ss.IDHash, &ss.UserID, &ss.AuthTime, &ss.AMR, &ss.CreatedAt, &ss.LastSeenAt, &ss.ExpiresAt, &ss.IP, &ss.UserAgent)
		ss.AuthTime, ss.CreatedAt, ss.LastSeenAt, ss.ExpiresAt = ss.AuthTime.UTC(), ss.CreatedAt.UTC(), ss.LastSeenAt.UTC(), ss.ExpiresAt.UTC()
		return ss, err
	})
	return out, translate(err)
}

// --- Action tokens ---

func (s *Store) CreateActionToken(ctx context.Context, t storage.ActionToken, ev storage.AuditEvent) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		if t.Purpose == storage.PurposeChangeEmail { // one address change pending at a time
			if err := endActionTokens(ctx, tx, t.UserID, t.CreatedAt, storage.PurposeChangeEmail); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO action_tokens (hash, purpose, user_id, created_at, expires_at, data)
			VALUES ($1, $2, $3, $4, $5, $6)`, t.Hash, t.Purpose, t.UserID, t.CreatedAt, t.ExpiresAt, t.Data); err != nil {
			return err
		}
		return insertAudit(ctx, tx, ev)
	})
}

func (s *Store) ConsumeActionToken(ctx context.Context, hash, purpose string, now time.Time) (storage.ActionToken, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var t storage.ActionToken
	var used *time.Time
	err := s.pool.QueryRow(ctx, `UPDATE action_tokens SET used_at = $3
		WHERE hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3
		RETURNING hash, purpose, user_id, created_at, expires_at, used_at, data`, hash, purpose, now).
		Scan(&t.Hash, &t.Purpose, &t.UserID, &t.CreatedAt, &t.ExpiresAt, &used, &t.Data)
	if err == nil {
		t.UsedAt, t.CreatedAt, t.ExpiresAt = fromNull(used), t.CreatedAt.UTC(), t.ExpiresAt.UTC()
		return t, nil
	}
	if err = translate(err); err != storage.ErrNotFound {
		return t, err
	}
	// Tell why: unknown, used or expired.
	var exp time.Time
	if err := s.pool.QueryRow(ctx, `SELECT used_at, expires_at FROM action_tokens WHERE hash = $1 AND purpose = $2`,
		hash, purpose).Scan(&used, &exp); err != nil {
		return t, translate(err)
	}
	if used != nil {
		return t, storage.ErrAlreadyUsed
	}
	return t, storage.ErrExpired
}

func (s *Store) ActionTokenState(ctx context.Context, hash, purpose string, now time.Time) (storage.ActionToken, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var t storage.ActionToken
	var used *time.Time
	err := s.pool.QueryRow(ctx, `SELECT hash, purpose, user_id, created_at, expires_at, used_at, data FROM action_tokens WHERE hash = $1 AND purpose = $2`,
		hash, purpose).Scan(&t.Hash, &t.Purpose, &t.UserID, &t.CreatedAt, &t.ExpiresAt, &used, &t.Data)
	switch {
	case err != nil:
		return storage.ActionToken{}, translate(err)
	case used != nil:
		return storage.ActionToken{}, storage.ErrAlreadyUsed
	case !now.Before(t.ExpiresAt):
		return storage.ActionToken{}, storage.ErrExpired
	}
	t.CreatedAt, t.ExpiresAt = t.CreatedAt.UTC(), t.ExpiresAt.UTC()
	return t, nil
}

// --- Keys ---

func (s *Store) SigningKeys(ctx context.Context) ([]storage.SigningKey, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT id, algorithm, state, private_key_sealed, created_at, activated_at, retired_at, expires_at
		FROM signing_keys WHERE expires_at IS NULL OR expires_at > now() ORDER BY created_at, id`)
	if err != nil {
		return nil, translate(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.SigningKey, error) {
		var k storage.SigningKey
		var act, ret, exp *time.Time
		err := r.Scan(&k.ID, &k.Algorithm, &k.State, &k.PrivateKeySealed, &k.CreatedAt, &act, &ret, &exp)
		k.CreatedAt, k.ActivatedAt, k.RetiredAt, k.ExpiresAt = k.CreatedAt.UTC(), fromNull(act), fromNull(ret), fromNull(exp)
		return k, err
	})
	return out, translate(err)
}

func insertKey(ctx context.Context, tx pgx.Tx, k storage.SigningKey) error {
	_, err := tx.Exec(ctx, `INSERT INTO signing_keys (id, algorithm, state, private_key_sealed, created_at, activated_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, k.ID, k.Algorithm, k.State, k.PrivateKeySealed, k.CreatedAt, nullTime(k.ActivatedAt))
	return err
}

// InitSigningKeys serializes concurrent first starts with a transaction-level
// advisory lock keyed on the algorithm.
func (s *Store) InitSigningKeys(ctx context.Context, current, next storage.SigningKey, ev storage.AuditEvent) (bool, error) {
	stored := false
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('optibid_signing_keys_' || $1))`, current.Algorithm); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM signing_keys WHERE algorithm = $1)`, current.Algorithm).Scan(&exists); err != nil || exists {
			return err
		}
		if err := insertKey(ctx, tx, current); err != nil {
			return err
		}
		if err := insertKey(ctx, tx, next); err != nil {
			return err
		}
		stored = true
		return insertAudit(ctx, tx, ev)
	})
	return stored, err
}

func (s *Store) RotateSigningKeys(ctx context.Context, alg string, newNext storage.SigningKey, now, retiredUntil, activatedBefore time.Time, ev storage.AuditEvent) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('optibid_signing_keys_' || $1))`, alg); err != nil {
			return err
		}
		if !activatedBefore.IsZero() {
			var due bool
			if err := tx.QueryRow(ctx, `SELECT coalesce(bool_and(coalesce(activated_at, created_at) < $2), true)
				FROM signing_keys WHERE algorithm = $1 AND state = 'current'`, alg, activatedBefore).Scan(&due); err != nil {
				return err
			}
			if !due {
				return storage.ErrConflict // another replica rotated it first
			}
		}
		var nextID string
		if err := tx.QueryRow(ctx, `SELECT id FROM signing_keys WHERE algorithm = $1 AND state = 'next'`, alg).Scan(&nextID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE signing_keys SET state = 'retired', retired_at = $2, expires_at = $3
			WHERE algorithm = $1 AND state = 'current'`, alg, now, retiredUntil); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE signing_keys SET state = 'current', activated_at = $2 WHERE id = $1`, nextID, now); err != nil {
			return err
		}
		if err := insertKey(ctx, tx, newNext); err != nil {
			return err
		}
		return insertAudit(ctx, tx, ev)
	})
}
