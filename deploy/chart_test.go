package deploy_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The release's full name, and so the name of most of its objects.
const fullname = releaseName + "-optibid-idp"

// secretEnv: the variables that carry secrets, and whether the pods need
// them (the mail and SMS ones are optional).
var secretEnv = map[string]bool{
	"OPTIBID_DATABASE_URL":       true,
	"OPTIBID_KEY_ENCRYPTION_KEY": true,
	"OPTIBID_CSRF_KEY":           true,
	"OPTIBID_SMTP_PASSWORD":      false,
	"OPTIBID_SENDGRID_API_KEY":   false,
	"OPTIBID_TWILIO_AUTH_TOKEN":  false,
}

// TestChartRenders: with the default and the production values, every
// manifest decodes strictly into its Kubernetes type (a misspelt field
// fails), carries the release namespace and a unique name, and NOTES
// render.
func TestChartRenders(t *testing.T) {
	for _, v := range []values{defaults, production} {
		t.Run(v.name, func(t *testing.T) {
			r := mustRender(t, v)
			seen := map[string]bool{}
			for _, m := range r.manifests {
				decode(t, m)
				key := m.meta.Kind + "/" + m.meta.Metadata.Name
				if seen[key] {
					t.Errorf("%s rendered twice", key)
				}
				seen[key] = true
				if m.meta.Metadata.Namespace != namespace {
					t.Errorf("%s: namespace %q, want %q", m, m.meta.Metadata.Namespace, namespace)
				}
			}
			for _, kind := range []string{"Deployment", "Service", "ConfigMap", "ServiceAccount", "Job"} {
				if len(r.all(kind)) == 0 {
					t.Errorf("no %s rendered", kind)
				}
			}
			if !strings.Contains(r.notes, fullname) {
				t.Errorf("NOTES do not name the release's objects:\n%s", r.notes)
			}
		})
	}
}

// TestProbes: readiness on /readyz, liveness and startup on /healthz, all
// on the named http port, which is the port of http.addr.
func TestProbes(t *testing.T) {
	for _, v := range []values{defaults, production} {
		t.Run(v.name, func(t *testing.T) {
			r := mustRender(t, v)
			dep := only[appsv1.Deployment](t, r, "Deployment")
			c := server(t, dep)
			for _, p := range []struct {
				name  string
				probe *corev1.Probe
				path  string
			}{
				{"readiness", c.ReadinessProbe, "/readyz"},
				{"liveness", c.LivenessProbe, "/healthz"},
				{"startup", c.StartupProbe, "/healthz"},
			} {
				if p.probe == nil || p.probe.HTTPGet == nil {
					t.Errorf("%s probe: none, or not HTTP", p.name)
					continue
				}
				if p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port != intstr.FromString("http") {
					t.Errorf("%s probe: %s on port %s, want %s on port http", p.name, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port.String(), p.path)
				}
			}
			cfg := config(t, only[corev1.ConfigMap](t, r, "ConfigMap"))
			if got, want := containerPort(t, c, "http"), addrPort(t, str(cfg, "http", "addr")); got != want {
				t.Errorf("container port http is %d, http.addr listens on %d", got, want)
			}
		})
	}
}

// TestSecurityContext: the server and the migration Job run as a
// non-root user, on a read-only root file system, without privilege
// escalation or capabilities, under the runtime's seccomp profile.
func TestSecurityContext(t *testing.T) {
	for _, v := range []values{defaults, production} {
		t.Run(v.name, func(t *testing.T) {
			r := mustRender(t, v)
			for name, spec := range podSpecs(t, r) {
				psc := spec.SecurityContext
				if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
					t.Errorf("%s: pod runAsNonRoot is not true", name)
				}
				if psc != nil && (psc.RunAsUser == nil || *psc.RunAsUser == 0) {
					t.Errorf("%s: pod runAsUser is not a non-zero UID", name)
				}
				if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
					t.Errorf("%s: pod seccompProfile is not RuntimeDefault", name)
				}
				if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
					t.Errorf("%s: a service account token is mounted", name)
				}
				for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
					sc := c.SecurityContext
					if sc == nil {
						t.Errorf("%s/%s: no securityContext", name, c.Name)
						continue
					}
					if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
						t.Errorf("%s/%s: runAsNonRoot is not true", name, c.Name)
					}
					if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
						t.Errorf("%s/%s: runs as root", name, c.Name)
					}
					if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
						t.Errorf("%s/%s: root file system is writable", name, c.Name)
					}
					if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
						t.Errorf("%s/%s: allowPrivilegeEscalation is not false", name, c.Name)
					}
					if sc.Privileged != nil && *sc.Privileged {
						t.Errorf("%s/%s: privileged", name, c.Name)
					}
					if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
						t.Errorf("%s/%s: capabilities are not drop [ALL] and add none: %+v", name, c.Name, sc.Capabilities)
					}
				}
			}
		})
	}
}

// TestSecretsByReference: the chart renders no Secret and holds no secret
// value. Every secret variable of the server and the Job comes from a
// secretKeyRef (the required ones not optional); the config's secret
// fields are ${VAR} references, each to a variable from a secretKeyRef.
func TestSecretsByReference(t *testing.T) {
	for _, v := range []values{defaults, production} {
		t.Run(v.name, func(t *testing.T) {
			r := mustRender(t, v)
			if n := len(r.all("Secret")); n > 0 {
				t.Errorf("the chart renders %d Secret(s)", n)
			}
			wantSecret := fullname
			if v.name == production.name {
				wantSecret = "optibid-idp-secrets"
			}
			for _, cm := range r.all("ConfigMap") {
				refs := secretRefs(t, config(t, decode(t, cm).(*corev1.ConfigMap)))
				for name, spec := range podSpecs(t, r) {
					for _, c := range spec.Containers {
						env := map[string]corev1.EnvVar{}
						for _, e := range c.Env {
							env[e.Name] = e
						}
						for ev, required := range secretEnv {
							e, ok := env[ev]
							if !ok {
								t.Errorf("%s/%s: %s is not set", name, c.Name, ev)
								continue
							}
							ref := secretKeyRef(e)
							if ref == nil {
								t.Errorf("%s/%s: %s is not from a secretKeyRef", name, c.Name, ev)
								continue
							}
							if ref.Name != wantSecret {
								t.Errorf("%s/%s: %s from Secret %q, want %q", name, c.Name, ev, ref.Name, wantSecret)
							}
							if optional := ref.Optional != nil && *ref.Optional; optional == required {
								t.Errorf("%s/%s: %s optional=%v, want %v", name, c.Name, ev, optional, !required)
							}
						}
						for field, ev := range refs {
							if secretKeyRef(env[ev]) == nil {
								t.Errorf("%s/%s: config %s refers to ${%s}, which no secretKeyRef sets", name, c.Name, field, ev)
							}
						}
					}
				}
			}
		})
	}
}

// TestRefusesLiteralSecrets: a secret written into the values, where the
// chart would otherwise render it, stops the render naming the place.
func TestRefusesLiteralSecrets(t *testing.T) {
	const sentinel = "s3cr3t-sentinel-value"
	for _, c := range []struct{ field, set string }{
		{"storage.postgres.dsn", `{config: {storage: {postgres: {dsn: "postgres://idp:` + sentinel + `@db/idp"}}}}`},
		{"keys.encryption_key", `{config: {keys: {encryption_key: ` + sentinel + `}}}`},
		{"sessions.csrf_key", `{config: {sessions: {csrf_key: ` + sentinel + `}}}`},
		{"notify.email.smtp.password", `{config: {notify: {email: {smtp: {password: ` + sentinel + `}}}}}`},
		{"notify.email.sendgrid.api_key", `{config: {notify: {email: {sendgrid: {api_key: ` + sentinel + `}}}}}`},
		{"notify.sms.twilio.auth_token", `{config: {notify: {sms: {twilio: {auth_token: ` + sentinel + `}}}}}`},
		{"federation.connections[0].client_secret", `{config: {federation: {connections: [{id: x, client_secret: ` + sentinel + `}]}}}`},
		{"bootstrap.users[0].password", `{config: {bootstrap: {users: [{email: a@b.example, password: ` + sentinel + `}]}}}`},
		{"bootstrap.clients[0].secret", `{config: {bootstrap: {clients: [{id: c, secret: ` + sentinel + `}]}}}`},
		{"half a reference", `{config: {keys: {encryption_key: "${OPTIBID_KEY_ENCRYPTION_KEY}` + sentinel + `"}}}`},
		{"env: OPTIBID_DATABASE_URL", `{env: [{name: OPTIBID_DATABASE_URL, value: ` + sentinel + `}]}`},
	} {
		t.Run(c.field, func(t *testing.T) {
			r, err := render(t, values{name: c.field, set: c.set})
			if err == nil {
				t.Fatalf("rendered with a literal secret (%d manifests)", len(r.manifests))
			}
			if strings.Contains(err.Error(), sentinel) {
				t.Errorf("the error repeats the secret: %v", err)
			}
			want := strings.TrimPrefix(c.field, "env: ")
			if c.field == "half a reference" {
				want = "keys.encryption_key"
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %s", err, want)
			}
		})
	}
}

// TestMigrationJob: a pre-install/pre-upgrade hook Job runs `migrate up`
// with the server's configuration (a hook ConfigMap created before it),
// and the servers then start with auto_migrate false; without the Job
// the servers migrate at start.
func TestMigrationJob(t *testing.T) {
	for _, v := range []values{defaults, production, {name: "auto_migrate set", set: `{config: {storage: {postgres: {auto_migrate: true}}}}`}} {
		t.Run(v.name, func(t *testing.T) {
			r := mustRender(t, v)
			jobs := hooks(r, "Job")
			if len(jobs) != 1 || len(r.all("Job")) != 1 {
				t.Fatalf("want one Job, a hook; got %d Jobs, %d hooks", len(r.all("Job")), len(jobs))
			}
			job := decode(t, jobs[0]).(*batchv1.Job)
			events := strings.Split(job.Annotations["helm.sh/hook"], ",")
			for _, want := range []string{"pre-install", "pre-upgrade"} {
				if !slices.Contains(events, want) {
					t.Errorf("Job hook events %v lack %s", events, want)
				}
			}
			spec := job.Spec.Template.Spec
			if spec.RestartPolicy != corev1.RestartPolicyNever {
				t.Errorf("Job restartPolicy %q", spec.RestartPolicy)
			}
			if len(spec.Containers) != 1 {
				t.Fatalf("Job has %d containers", len(spec.Containers))
			}
			c := spec.Containers[0]
			argv := slices.Concat(c.Command, c.Args)
			if len(argv) < 4 || argv[0] != "migrate" || argv[1] != "up" || argv[2] != "--config" {
				t.Fatalf("Job runs %q, want migrate up --config FILE", argv)
			}
			jobCM := mountedConfigMap(t, spec, c, argv[3])

			// The Job's ConfigMap is a hook created before the Job, with
			// the same configuration as the servers'.
			cm, m := named[corev1.ConfigMap](t, r, "ConfigMap", jobCM)
			if m.meta.Metadata.Annotations["helm.sh/hook"] != job.Annotations["helm.sh/hook"] {
				t.Errorf("ConfigMap %s hook %q, Job hook %q", jobCM, m.meta.Metadata.Annotations["helm.sh/hook"], job.Annotations["helm.sh/hook"])
			}
			if hookWeight(t, m) >= hookWeight(t, jobs[0]) {
				t.Errorf("ConfigMap %s is not created before the Job (hook weights)", jobCM)
			}
			serverCM := only[corev1.ConfigMap](t, r, "ConfigMap")
			if cm.Data["config.yaml"] != serverCM.Data["config.yaml"] {
				t.Errorf("the Job's configuration differs from the servers':\n%s\n---\n%s", cm.Data["config.yaml"], serverCM.Data["config.yaml"])
			}
			for _, cfg := range []map[string]any{config(t, cm), config(t, serverCM)} {
				if am, ok := lookup(cfg, "storage", "postgres", "auto_migrate"); !ok || am != false {
					t.Errorf("storage.postgres.auto_migrate is %v, want false", am)
				}
			}

			// The Job's pods are none of the server Service's.
			svc := publicService(t, r)
			if matches(svc.Spec.Selector, job.Spec.Template.Labels) {
				t.Errorf("the Service selects the Job's pods")
			}
		})
	}

	t.Run("disabled", func(t *testing.T) {
		r := mustRender(t, values{name: "no job", set: `{migration: {enabled: false}}`})
		if n := len(r.all("Job")); n != 0 {
			t.Errorf("%d Jobs rendered", n)
		}
		if n := len(hooks(r, "ConfigMap")); n != 0 {
			t.Errorf("%d hook ConfigMaps rendered", n)
		}
		cfg := config(t, only[corev1.ConfigMap](t, r, "ConfigMap"))
		if am, ok := lookup(cfg, "storage", "postgres", "auto_migrate"); ok && am != true {
			t.Errorf("without the Job, auto_migrate is %v", am)
		}
	})
}

// TestGracePeriod: terminationGracePeriodSeconds covers the preStop
// sleep, the drain and the shutdown timeout as the rendered config has
// them; the config's values come from the chart's shutdown settings only.
func TestGracePeriod(t *testing.T) {
	long := values{name: "long drain", set: `{shutdown: {preStopSleepSeconds: 0, drainSeconds: 45, timeoutSeconds: 90, extraGraceSeconds: 0}}`}
	for _, v := range []values{defaults, production, long} {
		t.Run(v.name, func(t *testing.T) {
			r := mustRender(t, v)
			dep := only[appsv1.Deployment](t, r, "Deployment")
			cfg := config(t, only[corev1.ConfigMap](t, r, "ConfigMap"))
			drain := duration(t, cfg, "http", "drain_period")
			shutdown := duration(t, cfg, "http", "shutdown_timeout")
			var preStop time.Duration
			c := server(t, dep)
			if c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
				if c.Lifecycle.PreStop.Sleep == nil {
					t.Fatalf("preStop is not the sleep action: %+v", c.Lifecycle.PreStop)
				}
				preStop = time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
			} else if v.name != long.name {
				t.Errorf("no preStop sleep")
			}
			gp := dep.Spec.Template.Spec.TerminationGracePeriodSeconds
			if gp == nil {
				t.Fatal("no terminationGracePeriodSeconds")
			}
			if grace := time.Duration(*gp) * time.Second; grace < preStop+drain+shutdown {
				t.Errorf("terminationGracePeriodSeconds %s < preStop %s + drain_period %s + shutdown_timeout %s", grace, preStop, drain, shutdown)
			}
			if v.name == long.name && (drain != 45*time.Second || shutdown != 90*time.Second) {
				t.Errorf("drain_period %s, shutdown_timeout %s: not the shutdown values", drain, shutdown)
			}
		})
	}

	for _, key := range []string{"drain_period", "shutdown_timeout", "addr", "metrics_addr"} {
		t.Run("config.http."+key, func(t *testing.T) {
			_, err := render(t, values{name: key, set: fmt.Sprintf(`{config: {http: {%s: "1s"}}}`, key)})
			if err == nil || !strings.Contains(err.Error(), "config.http."+key) {
				t.Errorf("setting config.http.%s directly: err = %v, want a refusal naming it", key, err)
			}
		})
	}
}

// TestMetricsOffThePublicService: /metrics has its own listener and its
// own ClusterIP Service; the public Service carries http only.
func TestMetricsOffThePublicService(t *testing.T) {
	for _, v := range []values{defaults, production, {name: "load balancer", set: `{service: {type: LoadBalancer}}`}} {
		t.Run(v.name, func(t *testing.T) {
			r := mustRender(t, v)
			cfg := config(t, only[corev1.ConfigMap](t, r, "ConfigMap"))
			httpPort := addrPort(t, str(cfg, "http", "addr"))
			metricsPort := addrPort(t, str(cfg, "http", "metrics_addr"))
			if httpPort == metricsPort {
				t.Fatalf("http.addr and http.metrics_addr share port %d", httpPort)
			}
			c := server(t, only[appsv1.Deployment](t, r, "Deployment"))
			if got := containerPort(t, c, "metrics"); got != metricsPort {
				t.Errorf("container port metrics is %d, http.metrics_addr listens on %d", got, metricsPort)
			}

			svc := publicService(t, r)
			for _, p := range svc.Spec.Ports {
				if p.TargetPort != intstr.FromString("http") && p.TargetPort != intstr.FromInt32(httpPort) {
					t.Errorf("public Service port %s targets %s, not http", p.Name, p.TargetPort.String())
				}
				if p.Name == "metrics" || p.Port == metricsPort {
					t.Errorf("public Service exposes the metrics port (%s %d)", p.Name, p.Port)
				}
			}

			ms, _ := named[corev1.Service](t, r, "Service", fullname+"-metrics")
			if ms.Spec.Type != corev1.ServiceTypeClusterIP {
				t.Errorf("metrics Service type %s, want ClusterIP", ms.Spec.Type)
			}
			if len(ms.Spec.Ports) != 1 || ms.Spec.Ports[0].Name != "metrics" || ms.Spec.Ports[0].TargetPort != intstr.FromString("metrics") {
				t.Errorf("metrics Service ports %+v, want one named metrics targeting metrics", ms.Spec.Ports)
			}
		})
	}

	t.Run("disabled", func(t *testing.T) {
		r := mustRender(t, values{name: "no metrics listener", set: `{metrics: {enabled: false}}`})
		cfg := config(t, only[corev1.ConfigMap](t, r, "ConfigMap"))
		if _, ok := lookup(cfg, "http", "metrics_addr"); ok {
			t.Error("http.metrics_addr is set")
		}
		if len(r.all("Service")) != 1 {
			t.Errorf("%d Services rendered, want the public one", len(r.all("Service")))
		}
		_, err := render(t, values{name: "monitor without listener", set: `{metrics: {enabled: false, serviceMonitor: {enabled: true}}}`})
		if err == nil {
			t.Error("a ServiceMonitor rendered without the metrics listener")
		}
	})
}

// TestOptionalResources: the HPA, PodDisruptionBudget, ServiceMonitor and
// NetworkPolicy render when enabled and aim at the server pods.
func TestOptionalResources(t *testing.T) {
	t.Run("off", func(t *testing.T) {
		r := mustRender(t, values{name: "off", set: `{autoscaling: {enabled: false}, podDisruptionBudget: {enabled: false},
			metrics: {serviceMonitor: {enabled: false}}, networkPolicy: {enabled: false}}`})
		for _, kind := range []string{"HorizontalPodAutoscaler", "PodDisruptionBudget", "ServiceMonitor", "NetworkPolicy"} {
			if n := len(r.all(kind)); n != 0 {
				t.Errorf("%d %s rendered while disabled", n, kind)
			}
		}
		if dep := only[appsv1.Deployment](t, r, "Deployment"); dep.Spec.Replicas == nil {
			t.Error("no replicas without an HPA")
		}
	})

	t.Run("on", func(t *testing.T) {
		r := mustRender(t, production)
		dep := only[appsv1.Deployment](t, r, "Deployment")
		pods := dep.Spec.Template.Labels
		if !matches(dep.Spec.Selector.MatchLabels, pods) {
			t.Fatalf("the Deployment's selector %v does not select its pods %v", dep.Spec.Selector.MatchLabels, pods)
		}

		hpa := only[autoscalingv2.HorizontalPodAutoscaler](t, r, "HorizontalPodAutoscaler")
		if ref := hpa.Spec.ScaleTargetRef; ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" || ref.Name != dep.Name {
			t.Errorf("HPA scales %+v, not the Deployment %s", ref, dep.Name)
		}
		if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < 2 || hpa.Spec.MaxReplicas < *hpa.Spec.MinReplicas || len(hpa.Spec.Metrics) == 0 {
			t.Errorf("HPA bounds or metrics: %+v", hpa.Spec)
		}
		if dep.Spec.Replicas != nil {
			t.Error("the Deployment sets replicas although the HPA owns them")
		}

		pdb := only[policyv1.PodDisruptionBudget](t, r, "PodDisruptionBudget")
		if pdb.Spec.Selector == nil || !matches(pdb.Spec.Selector.MatchLabels, pods) {
			t.Errorf("PDB selector does not select the server pods")
		}
		if pdb.Spec.MinAvailable == nil && pdb.Spec.MaxUnavailable == nil {
			t.Error("PDB has neither minAvailable nor maxUnavailable")
		}

		sm := only[serviceMonitor](t, r, "ServiceMonitor")
		ms, _ := named[corev1.Service](t, r, "Service", fullname+"-metrics")
		if !matches(sm.Spec.Selector.MatchLabels, ms.Labels) {
			t.Errorf("ServiceMonitor selector %v does not select the metrics Service %v", sm.Spec.Selector.MatchLabels, ms.Labels)
		}
		if matches(sm.Spec.Selector.MatchLabels, publicService(t, r).Labels) {
			t.Error("ServiceMonitor selects the public Service")
		}
		if !slices.Contains(sm.Spec.NamespaceSelector.MatchNames, namespace) {
			t.Errorf("ServiceMonitor looks in %v, not %s", sm.Spec.NamespaceSelector.MatchNames, namespace)
		}
		if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "metrics" || sm.Spec.Endpoints[0].Path != "/metrics" {
			t.Errorf("ServiceMonitor endpoints %+v, want port metrics, path /metrics", sm.Spec.Endpoints)
		}
		if sm.Metadata.Labels["release"] != "kube-prometheus-stack" {
			t.Errorf("ServiceMonitor lacks the Prometheus selector label: %v", sm.Metadata.Labels)
		}

		checkNetworkPolicy(t, only[networkingv1.NetworkPolicy](t, r, "NetworkPolicy"), pods)
	})
}

// checkNetworkPolicy: the policy selects the server pods, restricts both
// directions, lets only the monitoring namespace reach the metrics port,
// and lets the pods reach DNS, PostgreSQL, SMTP and HTTPS.
func checkNetworkPolicy(t *testing.T, np *networkingv1.NetworkPolicy, pods map[string]string) {
	t.Helper()
	if !matches(np.Spec.PodSelector.MatchLabels, pods) {
		t.Errorf("NetworkPolicy does not select the server pods")
	}
	types := np.Spec.PolicyTypes
	if !slices.Contains(types, networkingv1.PolicyTypeIngress) || !slices.Contains(types, networkingv1.PolicyTypeEgress) {
		t.Errorf("NetworkPolicy policyTypes %v", types)
	}
	var httpOpen, metricsOpen bool
	for _, rule := range np.Spec.Ingress {
		for _, p := range rule.Ports {
			if p.Port == nil {
				t.Errorf("an ingress rule opens every port")
				continue
			}
			switch p.Port.String() {
			case "http":
				httpOpen = true
			case "metrics":
				metricsOpen = true
				if len(rule.From) == 0 {
					t.Errorf("the metrics port is open to everyone")
				}
				for _, peer := range rule.From {
					if peer.NamespaceSelector == nil || peer.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "monitoring" {
						t.Errorf("the metrics port is open to %+v, not the monitoring namespace", peer)
					}
				}
			}
		}
	}
	if !httpOpen || !metricsOpen {
		t.Errorf("ingress: http open %v, metrics open %v; want both", httpOpen, metricsOpen)
	}
	egress := map[string]bool{}
	for _, rule := range np.Spec.Egress {
		for _, p := range rule.Ports {
			if p.Port != nil && p.Protocol != nil {
				egress[fmt.Sprintf("%s/%s", p.Port.String(), *p.Protocol)] = true
			}
		}
	}
	for _, want := range []string{"53/UDP", "53/TCP", "5432/TCP", "587/TCP", "443/TCP"} {
		if !egress[want] {
			t.Errorf("egress to %s is not allowed (have %v)", want, egress)
		}
	}
}

// TestGoMemLimit: the servers get a Go soft memory limit below the
// container's memory limit (85% of 512Mi by default), none without a
// limit, and an explicit env GOMEMLIMIT wins.
func TestGoMemLimit(t *testing.T) {
	limitOf := func(r *rendered) string {
		t.Helper()
		for _, e := range podSpecs(t, r)["Deployment"].Containers[0].Env {
			if e.Name == "GOMEMLIMIT" {
				return e.Value
			}
		}
		return ""
	}
	if got := limitOf(mustRender(t, defaults)); got != "435MiB" {
		t.Fatalf("default GOMEMLIMIT %q, want 435MiB (85%% of 512Mi)", got)
	}
	gi := values{name: "1Gi", set: `{resources: {limits: {memory: 1Gi}}}`}
	if got := limitOf(mustRender(t, gi)); got != "870MiB" {
		t.Fatalf("1Gi: GOMEMLIMIT %q, want 870MiB", got)
	}
	off := values{name: "off", set: `{goMemLimitPercent: 0}`}
	if got := limitOf(mustRender(t, off)); got != "" {
		t.Fatalf("turned off: GOMEMLIMIT %q", got)
	}
	own := values{name: "own", set: `{env: [{name: GOMEMLIMIT, value: 300MiB}]}`}
	if got := limitOf(mustRender(t, own)); got != "300MiB" {
		t.Fatalf("an env GOMEMLIMIT: %q", got)
	}
}
