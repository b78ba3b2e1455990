// Package deploy holds the deployment artifacts of OptiBid Identity: the
// Helm chart (helm/optibid-idp, with a production example in its ci/
// folder), the systemd unit (systemd/) and lint.sh, which runs helm lint
// and helm template on the chart.
//
// It has no code of its own. Its test renders the chart in process with
// the Helm SDK, as `helm template` would, decodes every manifest strictly
// into its Kubernetes type and checks what a platform team relies on:
// probes on /readyz and /healthz, non-root read-only containers without
// capabilities, secrets only by secretKeyRef (the chart refuses a literal
// one), the migration hook with auto_migrate off, a grace period that
// covers the drain and the shutdown, and metrics kept off the public
// Service.
package deploy
