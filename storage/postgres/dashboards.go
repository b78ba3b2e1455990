package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/optibid/idp/storage"
)

func (s *Store) UpsertWidget(ctx context.Context, w storage.Widget, ev storage.AuditEvent) error {
	return s.execAudited(ctx, ev, `INSERT INTO widget_library (key, name, description, required_features, config)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key) DO UPDATE SET name = excluded.name, description = excluded.description,
		required_features = excluded.required_features, config = excluded.config`,
		w.Key, w.Name, w.Description, strs(w.RequiredFeatures), jsonOr(w.Config))
}

func (s *Store) ListWidgets(ctx context.Context) ([]storage.Widget, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT key, name, description, required_features, config FROM widget_library ORDER BY key`)
	if err != nil {
		return nil, translate(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Widget, error) {
		var w storage.Widget
		err := r.Scan(&w.Key, &w.Name, &w.Description, &w.RequiredFeatures, &w.Config)
		return w, err
	})
	return out, translate(err)
}

func (s *Store) Dashboard(ctx context.Context, userID, orgID string) ([]byte, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var layout []byte
	err := s.pool.QueryRow(ctx, `SELECT layout FROM dashboard_preferences WHERE user_id = $1 AND org_id = $2`, userID, orgID).Scan(&layout)
	return layout, translate(err)
}

func (s *Store) SetDashboard(ctx context.Context, userID, orgID string, layout []byte, now time.Time) error {
	_, err := s.exec(ctx, `INSERT INTO dashboard_preferences (user_id, org_id, layout, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id, org_id) DO UPDATE SET layout = excluded.layout, updated_at = excluded.updated_at`, userID, orgID, layout, now)
	return err
}

func (s *Store) RecordUsage(ctx context.Context, u storage.UsageCount) error {
	_, err := s.exec(ctx, `INSERT INTO feature_usage (org_id, user_id, feature_key, day, count) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (org_id, user_id, feature_key, day) DO UPDATE SET count = feature_usage.count + excluded.count`,
		u.OrgID, u.UserID, u.FeatureKey, u.Day.UTC().Format(time.DateOnly), u.Count)
	return err
}

func (s *Store) UsageOf(ctx context.Context, orgID string, since, until time.Time) ([]storage.UsageCount, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT org_id, user_id, feature_key, day, count FROM feature_usage
		WHERE org_id = $1 AND day >= $2::date AND day < $3::date ORDER BY day, feature_key, user_id`,
		orgID, since.UTC().Format(time.DateOnly), until.UTC().Format(time.DateOnly))
	if err != nil {
		return nil, translate(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.UsageCount, error) {
		var u storage.UsageCount
		err := r.Scan(&u.OrgID, &u.UserID, &u.FeatureKey, &u.Day, &u.Count)
		u.Day = time.Date(u.Day.Year(), u.Day.Month(), u.Day.Day(), 0, 0, 0, 0, time.UTC)
		return u, err
	})
	return out, translate(err)
}
