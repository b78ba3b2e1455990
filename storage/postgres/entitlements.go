package postgres

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/storage"
)

func (s *Store) UpsertFeature(ctx context.Context, f storage.FeatureDefinition, ev storage.AuditEvent) error {
	return s.execAudited(ctx, ev, `INSERT INTO feature_definitions (key, name, description, category, plans, requires, conflicts, config)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (key) DO UPDATE SET name = excluded.name, description = excluded.description, category = excluded.category,
			plans = excluded.plans, requires = excluded.requires, conflicts = excluded.conflicts, config = excluded.config`,
		f.Key, f.Name, f.Description, f.Category, strs(f.Plans), strs(f.Requires), strs(f.Conflicts), jsonOr(f.Config))
}

func (s *Store) ListFeatures(ctx context.Context) ([]storage.FeatureDefinition, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT key, name, description, category, plans, requires, conflicts, config, created_at, updated_at
		FROM feature_definitions ORDER BY key`)
	if err != nil {
		return nil, translate(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.FeatureDefinition, error) {
		var f storage.FeatureDefinition
		err := r.Scan(&f.Key, &f.Name, &f.Description, &f.Category, &f.Plans, &f.Requires, &f.Conflicts, &f.Config, &f.CreatedAt, &f.UpdatedAt)
		return f, err
	})
	return out, translate(err)
}

// settingJSON is a feature setting as the aggregate query returns it.
type settingJSON struct {
	Enabled   bool            `json:"enabled"`
	Config    json.RawMessage `json:"config"`
	ChangedBy string          `json:"changed_by"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// featuresAgg aggregates an organization's settings into one JSON value.
const featuresAgg = `coalesce((SELECT jsonb_object_agg(f.feature_key, jsonb_build_object('enabled', f.enabled, 'config', f.config,
	'changed_by', f.changed_by, 'updated_at', f.updated_at)) FROM org_feature_settings f WHERE f.org_id = %s), '{}')`

func decodeSettings(raw []byte) (map[string]storage.FeatureSetting, error) {
	var m map[string]settingJSON
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	out := make(map[string]storage.FeatureSetting, len(m))
	for k, v := range m {
		out[k] = storage.FeatureSetting{Enabled: v.Enabled, Config: []byte(v.Config), ChangedBy: v.ChangedBy, UpdatedAt: v.UpdatedAt.UTC()}
	}
	return out, nil
}

func (s *Store) OrgFeatureSettings(ctx context.Context, orgID string) (map[string]storage.FeatureSetting, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var raw []byte
	if err := s.pool.QueryRow(ctx, `SELECT `+sprintf(featuresAgg, "$1"), orgID).Scan(&raw); err != nil {
		return nil, translate(err)
	}
	return decodeSettings(raw)
}

func (s *Store) ApplyFeatureSettings(ctx context.Context, orgID string, writes map[string]storage.FeatureSetting, actorID, templateID string, now time.Time, ev storage.AuditEvent) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		keys := make([]string, 0, len(writes))
		for k := range writes {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			w := writes[k]
			var before []byte
			err := tx.QueryRow(ctx, `SELECT jsonb_build_object('enabled', enabled, 'config', config) FROM org_feature_settings
				WHERE org_id = $1 AND feature_key = $2 FOR UPDATE`, orgID, k).Scan(&before)
			if err != nil && err != pgx.ErrNoRows {
				return err
			}
			after, _ := json.Marshal(map[string]any{"enabled": w.Enabled, "config": json.RawMessage(jsonOr(w.Config))})
			if _, err := tx.Exec(ctx, `INSERT INTO org_feature_settings (org_id, feature_key, enabled, config, changed_by, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (org_id, feature_key) DO UPDATE SET enabled = excluded.enabled,
				config = excluded.config, changed_by = excluded.changed_by, updated_at = excluded.updated_at`,
				orgID, k, w.Enabled, jsonOr(w.Config), actorID, now); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO feature_change_log (id, org_id, feature_key, actor_id, before, after, template_id, changed_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, random.ID(), orgID, k, actorID, before, after, templateID, now); err != nil {
				return err
			}
		}
		if templateID != "" {
			if _, err := tx.Exec(ctx, `INSERT INTO template_applications (id, org_id, template_id, applied_by, applied_at) VALUES ($1, $2, $3, $4, $5)`,
				random.ID(), orgID, templateID, actorID, now); err != nil {
				return err
			}
		}
		return insertAudit(ctx, tx, ev)
	})
}

func settingFrom(raw []byte) *storage.FeatureSetting {
	if raw == nil {
		return nil
	}
	var v settingJSON
	if json.Unmarshal(raw, &v) != nil {
		return nil
	}
	return &storage.FeatureSetting{Enabled: v.Enabled, Config: []byte(v.Config)}
}

func (s *Store) FeatureChanges(ctx context.Context, orgID string, limit int) ([]storage.FeatureChange, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	rows, err := s.pool.Query(ctx, `SELECT id, org_id, feature_key, actor_id, template_id, before, after, changed_at
		FROM feature_change_log WHERE org_id = $1 ORDER BY changed_at DESC, id LIMIT $2`, orgID, limit)
	if err != nil {
		return nil, translate(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.FeatureChange, error) {
		var c storage.FeatureChange
		var before, after []byte
		err := r.Scan(&c.ID, &c.OrgID, &c.FeatureKey, &c.ActorID, &c.TemplateID, &before, &after, &c.ChangedAt)
		c.Before, c.After, c.ChangedAt = settingFrom(before), settingFrom(after), c.ChangedAt.UTC()
		return c, err
	})
	return out, translate(err)
}

func (s *Store) UpsertTemplate(ctx context.Context, t storage.FeatureTemplate, ev storage.AuditEvent) error {
	return s.execAudited(ctx, ev, `INSERT INTO feature_templates (id, name, description, features) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description, features = excluded.features`,
		t.ID, t.Name, t.Description, jsonOr(t.Features))
}

func scanTemplate(r pgx.Row) (storage.FeatureTemplate, error) {
	var t storage.FeatureTemplate
	err := r.Scan(&t.ID, &t.Name, &t.Description, &t.Features, &t.CreatedAt, &t.UpdatedAt)
	return t, translate(err)
}

func (s *Store) TemplateByID(ctx context.Context, id string) (storage.FeatureTemplate, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return scanTemplate(s.pool.QueryRow(ctx, `SELECT id, name, description, features, created_at, updated_at FROM feature_templates WHERE id = $1`, id))
}

func (s *Store) ListTemplates(ctx context.Context) ([]storage.FeatureTemplate, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT id, name, description, features, created_at, updated_at FROM feature_templates ORDER BY id`)
	if err != nil {
		return nil, translate(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.FeatureTemplate, error) { return scanTemplate(r) })
	return out, translate(err)
}

func (s *Store) TemplateApplications(ctx context.Context, orgID string) ([]storage.TemplateApplication, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT id, org_id, template_id, applied_by, applied_at FROM template_applications
		WHERE org_id = $1 ORDER BY applied_at DESC, id`, orgID)
	if err != nil {
		return nil, translate(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.TemplateApplication, error) {
		var a storage.TemplateApplication
		err := r.Scan(&a.ID, &a.OrgID, &a.TemplateID, &a.AppliedBy, &a.AppliedAt)
		return a, err
	})
	return out, translate(err)
}

func (s *Store) SetPlan(ctx context.Context, orgID, plan string, ev storage.AuditEvent) error {
	return s.execAudited(ctx, ev, `UPDATE organizations SET plan = $2 WHERE id = $1`, orgID, plan)
}
