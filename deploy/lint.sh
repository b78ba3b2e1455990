#!/usr/bin/env bash
# Lints the Helm chart: `helm lint --strict` with the default values and
# with the production example, then `helm template` once with the latter.
# Needs only Go: helm is installed with `go install` when no Helm 3 is on
# PATH (or set HELM=/path/to/helm). Usable from CI and the Makefile alike.
set -euo pipefail
cd "$(dirname "$0")"

HELM_VERSION=v3.22.0
# A helm built by `go install` assumes Kubernetes 1.20 unless told; the
# chart needs 1.30 or later (kubeVersion in Chart.yaml).
KUBE_VERSION=1.33.0
chart=helm/optibid-idp
production=$chart/ci/production-values.yaml

helm=${HELM:-}
if [ -z "$helm" ] && command -v helm >/dev/null 2>&1 && helm version --short 2>/dev/null | grep -q '^v3\.'; then
  helm=helm
fi
if [ -z "$helm" ]; then
  bin=$(go env GOBIN)
  [ -n "$bin" ] || bin=$(go env GOPATH)/bin
  if ! { [ -x "$bin/helm" ] && "$bin/helm" version --short 2>/dev/null | grep -q '^v3\.'; }; then
    echo "lint.sh: installing helm $HELM_VERSION with go install"
    go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  fi
  helm=$bin/helm
fi
echo "lint.sh: $("$helm" version --short)"

"$helm" lint --strict --kube-version "$KUBE_VERSION" "$chart"
"$helm" lint --strict --kube-version "$KUBE_VERSION" "$chart" -f "$production"

out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$helm" template idp "$chart" --namespace identity --kube-version "$KUBE_VERSION" -f "$production" >"$out"
echo "lint.sh: helm template rendered $(grep -c '^kind:' "$out") objects:" $(grep '^kind:' "$out" | awk '{print $2}' | sort | uniq -c | awk '{print $2 "×" $1}')
