package deploy_test

// Helpers of the chart checks: the server container, the pod specs, the
// secret references of the configuration, ports and durations.

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// server returns the Deployment's provider container.
func server(t *testing.T, dep *appsv1.Deployment) corev1.Container {
	t.Helper()
	cs := dep.Spec.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("the Deployment has %d containers, want 1", len(cs))
	}
	argv := slices.Concat(cs[0].Command, cs[0].Args)
	if len(argv) == 0 || argv[0] != "serve" {
		t.Fatalf("the server runs %q, want serve", argv)
	}
	return cs[0]
}

// podSpecs: the pod templates of the Deployment and of every Job.
func podSpecs(t *testing.T, r *rendered) map[string]corev1.PodSpec {
	t.Helper()
	specs := map[string]corev1.PodSpec{}
	specs["Deployment"] = only[appsv1.Deployment](t, r, "Deployment").Spec.Template.Spec
	for _, m := range r.all("Job") {
		specs["Job "+m.meta.Metadata.Name] = decode(t, m).(*batchv1.Job).Spec.Template.Spec
	}
	return specs
}

// publicService is the Service of the server component.
func publicService(t *testing.T, r *rendered) *corev1.Service {
	t.Helper()
	svc, _ := named[corev1.Service](t, r, "Service", fullname)
	return svc
}

func secretKeyRef(e corev1.EnvVar) *corev1.SecretKeySelector {
	if e.Value != "" || e.ValueFrom == nil {
		return nil
	}
	return e.ValueFrom.SecretKeyRef
}

var reference = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$`)

// secretRefs returns the config's secret fields (path → variable); every
// one that is set must be a single ${VAR} reference.
func secretRefs(t *testing.T, cfg map[string]any) map[string]string {
	t.Helper()
	fields := map[string]string{
		"storage.postgres.dsn":          str(cfg, "storage", "postgres", "dsn"),
		"keys.encryption_key":           str(cfg, "keys", "encryption_key"),
		"sessions.csrf_key":             str(cfg, "sessions", "csrf_key"),
		"notify.email.smtp.password":    str(cfg, "notify", "email", "smtp", "password"),
		"notify.email.sendgrid.api_key": str(cfg, "notify", "email", "sendgrid", "api_key"),
		"notify.sms.twilio.auth_token":  str(cfg, "notify", "sms", "twilio", "auth_token"),
	}
	for _, l := range []struct{ path, field string }{
		{"federation.connections", "client_secret"},
		{"bootstrap.users", "password"},
		{"bootstrap.clients", "secret"},
	} {
		items, _ := lookup(cfg, strings.Split(l.path, ".")...)
		list, _ := items.([]any)
		for i, item := range list {
			m, _ := item.(map[string]any)
			fields[fmt.Sprintf("%s[%d].%s", l.path, i, l.field)] = str(m, l.field)
		}
	}
	refs := map[string]string{}
	for field, val := range fields {
		if val == "" {
			continue
		}
		m := reference.FindStringSubmatch(val)
		if m == nil {
			t.Errorf("config %s is not a ${VAR} reference", field)
			continue
		}
		refs[field] = m[1]
	}
	return refs
}

// mountedConfigMap returns the ConfigMap mounted where file lives.
func mountedConfigMap(t *testing.T, spec corev1.PodSpec, c corev1.Container, file string) string {
	t.Helper()
	for _, vm := range c.VolumeMounts {
		if !strings.HasPrefix(file, strings.TrimSuffix(vm.MountPath, "/")+"/") {
			continue
		}
		for _, vol := range spec.Volumes {
			if vol.Name == vm.Name && vol.ConfigMap != nil {
				return vol.ConfigMap.Name
			}
		}
	}
	t.Fatalf("%s is not in a ConfigMap volume of %s", file, c.Name)
	return ""
}

func hookWeight(t *testing.T, m manifest) int {
	t.Helper()
	w := m.meta.Metadata.Annotations["helm.sh/hook-weight"]
	if w == "" {
		return 0
	}
	n, err := strconv.Atoi(w)
	if err != nil {
		t.Fatalf("%s: hook weight %q", m, w)
	}
	return n
}

func containerPort(t *testing.T, c corev1.Container, name string) int32 {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	t.Fatalf("container %s has no port %s", c.Name, name)
	return 0
}

// addrPort is the port of a listen address such as ":8080".
func addrPort(t *testing.T, addr string) int32 {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("listen address %q: %v", addr, err)
	}
	n, err := strconv.ParseInt(port, 10, 32)
	if err != nil {
		t.Fatalf("listen address %q: %v", addr, err)
	}
	return int32(n)
}

func duration(t *testing.T, cfg map[string]any, path ...string) time.Duration {
	t.Helper()
	s := str(cfg, path...)
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("config %s = %q: %v", strings.Join(path, "."), s, err)
	}
	return d
}
