package deploy_test

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

const (
	chartDir         = "helm/optibid-idp"
	productionValues = chartDir + "/ci/production-values.yaml"
	releaseName      = "idp"
	namespace        = "identity"
	// kubeVersion is the cluster the chart is rendered for; the chart
	// needs 1.30 or later (the preStop sleep action).
	kubeVersion = "v1.33.0"
)

// A values case: value files in order, then overrides in YAML.
type values struct {
	name  string
	files []string
	set   string
}

var (
	defaults   = values{name: "default"}
	production = values{name: "production", files: []string{productionValues}}
)

// manifest is one rendered Kubernetes object.
type manifest struct {
	source string // the template it came from
	raw    []byte
	meta   struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Metadata   metav1.ObjectMeta `json:"metadata"`
	}
}

func (m manifest) String() string {
	return fmt.Sprintf("%s %s (%s)", m.meta.Kind, m.meta.Metadata.Name, m.source)
}

// rendered is what `helm template` would print for one values case.
type rendered struct {
	manifests []manifest
	notes     string
}

// render renders the chart in process, as `helm template` does: the
// chart's values, then each file, then the overrides; an install of
// release "idp" into namespace "identity".
func render(t *testing.T, v values) (*rendered, error) {
	t.Helper()
	chrt, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	vals := map[string]any{}
	for _, f := range v.files {
		fv, err := chartutil.ReadValuesFile(f)
		if err != nil {
			t.Fatalf("values %s: %v", f, err)
		}
		vals = chartutil.CoalesceTables(fv.AsMap(), vals)
	}
	if v.set != "" {
		sv, err := chartutil.ReadValues([]byte(v.set))
		if err != nil {
			t.Fatalf("overrides of %s: %v", v.name, err)
		}
		vals = chartutil.CoalesceTables(sv.AsMap(), vals)
	}
	caps := chartutil.DefaultCapabilities.Copy()
	kv, err := chartutil.ParseKubeVersion(kubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	caps.KubeVersion = *kv
	if !chartutil.IsCompatibleRange(chrt.Metadata.KubeVersion, kv.String()) {
		t.Fatalf("chart kubeVersion %q excludes %s", chrt.Metadata.KubeVersion, kv)
	}
	opts := chartutil.ReleaseOptions{Name: releaseName, Namespace: namespace, Revision: 1, IsInstall: true}
	rv, err := chartutil.ToRenderValues(chrt, vals, opts, caps)
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(chrt, rv)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	r := &rendered{}
	for _, name := range names {
		if strings.HasSuffix(name, "NOTES.txt") {
			r.notes = files[name]
			continue
		}
		for _, doc := range splitDocuments(files[name]) {
			m := manifest{source: name, raw: []byte(doc)}
			if err := yaml.Unmarshal(m.raw, &m.meta); err != nil {
				t.Fatalf("%s: not YAML: %v\n%s", name, err, doc)
			}
			if m.meta.Kind == "" {
				continue // comments only
			}
			r.manifests = append(r.manifests, m)
		}
	}
	return r, nil
}

// mustRender renders a case that must render.
func mustRender(t *testing.T, v values) *rendered {
	t.Helper()
	r, err := render(t, v)
	if err != nil {
		t.Fatalf("render %s: %v", v.name, err)
	}
	return r
}

var separator = regexp.MustCompile(`(?m)^---\s*$`)

func splitDocuments(s string) []string {
	var docs []string
	for _, d := range separator.Split(s, -1) {
		if strings.TrimSpace(d) != "" {
			docs = append(docs, d)
		}
	}
	return docs
}

// serviceMonitor is the part of monitoring.coreos.com/v1 ServiceMonitor
// the chart renders; decoding is strict, so it must model every field.
type serviceMonitor struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       struct {
		NamespaceSelector struct {
			MatchNames []string `json:"matchNames"`
		} `json:"namespaceSelector"`
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path"`
			Scheme        string `json:"scheme"`
			Interval      string `json:"interval"`
			ScrapeTimeout string `json:"scrapeTimeout"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// kinds: the apiVersion and Go type of every kind the chart may render.
var kinds = map[string]struct {
	apiVersion string
	new        func() any
}{
	"ConfigMap":               {"v1", func() any { return new(corev1.ConfigMap) }},
	"Service":                 {"v1", func() any { return new(corev1.Service) }},
	"ServiceAccount":          {"v1", func() any { return new(corev1.ServiceAccount) }},
	"Deployment":              {"apps/v1", func() any { return new(appsv1.Deployment) }},
	"Job":                     {"batch/v1", func() any { return new(batchv1.Job) }},
	"HorizontalPodAutoscaler": {"autoscaling/v2", func() any { return new(autoscalingv2.HorizontalPodAutoscaler) }},
	"PodDisruptionBudget":     {"policy/v1", func() any { return new(policyv1.PodDisruptionBudget) }},
	"NetworkPolicy":           {"networking.k8s.io/v1", func() any { return new(networkingv1.NetworkPolicy) }},
	"ServiceMonitor":          {"monitoring.coreos.com/v1", func() any { return new(serviceMonitor) }},
}

// decode decodes a manifest strictly (unknown or duplicate fields fail)
// into the Go type of its kind.
func decode(t *testing.T, m manifest) any {
	t.Helper()
	k, ok := kinds[m.meta.Kind]
	if !ok {
		t.Fatalf("%s: a kind the test does not know", m)
	}
	if m.meta.APIVersion != k.apiVersion {
		t.Fatalf("%s: apiVersion %q, want %q", m, m.meta.APIVersion, k.apiVersion)
	}
	obj := k.new()
	if err := yaml.UnmarshalStrict(m.raw, obj); err != nil {
		t.Fatalf("%s: %v", m, err)
	}
	return obj
}

// all returns the manifests of a kind.
func (r *rendered) all(kind string) []manifest {
	var out []manifest
	for _, m := range r.manifests {
		if m.meta.Kind == kind {
			out = append(out, m)
		}
	}
	return out
}

// only decodes the one manifest of a kind that has no hook annotation
// (hooks: hooks).
func only[T any](t *testing.T, r *rendered, kind string) *T {
	t.Helper()
	var found []manifest
	for _, m := range r.all(kind) {
		if m.meta.Metadata.Annotations["helm.sh/hook"] == "" {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one %s (not a hook), got %d", kind, len(found))
	}
	obj, ok := decode(t, found[0]).(*T)
	if !ok {
		t.Fatalf("%s: not a %T", found[0], obj)
	}
	return obj
}

// named decodes the manifest of a kind with a name.
func named[T any](t *testing.T, r *rendered, kind, name string) (*T, manifest) {
	t.Helper()
	for _, m := range r.all(kind) {
		if m.meta.Metadata.Name == name {
			obj, ok := decode(t, m).(*T)
			if !ok {
				t.Fatalf("%s: not a %T", m, obj)
			}
			return obj, m
		}
	}
	t.Fatalf("no %s %q rendered", kind, name)
	return nil, manifest{}
}

// hooks returns the hook manifests of a kind.
func hooks(r *rendered, kind string) []manifest {
	var out []manifest
	for _, m := range r.all(kind) {
		if m.meta.Metadata.Annotations["helm.sh/hook"] != "" {
			out = append(out, m)
		}
	}
	return out
}

// config parses the config.yaml of a ConfigMap.
func config(t *testing.T, cm *corev1.ConfigMap) map[string]any {
	t.Helper()
	raw, ok := cm.Data["config.yaml"]
	if !ok {
		t.Fatalf("ConfigMap %s has no config.yaml", cm.Name)
	}
	var c map[string]any
	if err := yaml.UnmarshalStrict([]byte(raw), &c); err != nil {
		t.Fatalf("ConfigMap %s: config.yaml: %v", cm.Name, err)
	}
	return c
}

// lookup follows a path of map keys.
func lookup(m map[string]any, path ...string) (any, bool) {
	var cur any = m
	for _, k := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = mm[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// str is lookup for a string value ("" when absent).
func str(m map[string]any, path ...string) string {
	v, _ := lookup(m, path...)
	s, _ := v.(string)
	return s
}

// matches reports whether a label selector's matchLabels select labels.
func matches(sel map[string]string, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}
