package deploy_test

import (
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// TestDatabaseRoles: the migration Job connects as the schema's owner
// (secrets.keys.migrationDatabaseURL) and the servers as the restricted
// role (secrets.keys.databaseURL), both from the same Secret; without a
// migration key the Job uses the servers' key.
func TestDatabaseRoles(t *testing.T) {
	for _, c := range []struct {
		v               values
		server, migrate string
	}{
		{defaults, "database-url", "database-url"},
		{production, "database-url", "migration-database-url"},
		{values{name: "owner key", set: `{secrets: {keys: {migrationDatabaseURL: owner-url}}}`}, "database-url", "owner-url"},
	} {
		t.Run(c.v.name, func(t *testing.T) {
			r := mustRender(t, c.v)
			key := func(spec corev1.PodSpec) string {
				for _, e := range spec.Containers[0].Env {
					if e.Name == "OPTIBID_DATABASE_URL" {
						if ref := secretKeyRef(e); ref != nil && (ref.Optional == nil || !*ref.Optional) {
							return ref.Key
						}
					}
				}
				return ""
			}
			jobs := hooks(r, "Job")
			if len(jobs) != 1 {
				t.Fatalf("%d hook Jobs", len(jobs))
			}
			for name, spec := range podSpecs(t, r) {
				want := c.server
				if name != "Deployment" {
					want = c.migrate
				}
				if got := key(spec); got != want {
					t.Errorf("%s: OPTIBID_DATABASE_URL from key %q, want %q", name, got, want)
				}
			}
			if got := key(decode(t, jobs[0]).(*batchv1.Job).Spec.Template.Spec); got != c.migrate {
				t.Errorf("migration Job: OPTIBID_DATABASE_URL from key %q, want %q", got, c.migrate)
			}
		})
	}
}
