{{/*
Names, labels and the pieces the server Deployment and the migration Job
share: the image, the environment and the rendered configuration.
*/}}

{{- define "optibid-idp.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "optibid-idp.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "optibid-idp.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every resource. */}}
{{- define "optibid-idp.labels" -}}
helm.sh/chart: {{ include "optibid-idp.chart" . }}
app.kubernetes.io/name: {{ include "optibid-idp.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: optibid-identity
{{- end -}}

{{/*
Selector of the server pods. The component keeps the migration Job's pods
out of the Service, the PodDisruptionBudget and the NetworkPolicy.
*/}}
{{- define "optibid-idp.selectorLabels" -}}
app.kubernetes.io/name: {{ include "optibid-idp.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end -}}

{{- define "optibid-idp.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "optibid-idp.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "optibid-idp.secretName" -}}
{{- default (include "optibid-idp.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "optibid-idp.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/* Where the config file is mounted. */}}
{{- define "optibid-idp.configPath" -}}/etc/optibid/config.yaml{{- end -}}

{{/*
The secret variables: env name → (values key, required). Their values
only ever come from a secretKeyRef.
*/}}
{{- define "optibid-idp.secretEnvTable" -}}
OPTIBID_DATABASE_URL: {key: databaseURL, required: true}
OPTIBID_KEY_ENCRYPTION_KEY: {key: keyEncryptionKey, required: true}
OPTIBID_CSRF_KEY: {key: csrfKey, required: true}
OPTIBID_SMTP_PASSWORD: {key: smtpPassword, required: false}
OPTIBID_SENDGRID_API_KEY: {key: sendgridAPIKey, required: false}
OPTIBID_TWILIO_AUTH_TOKEN: {key: twilioAuthToken, required: false}
{{- end -}}

{{/* The container environment of the server. */}}
{{- define "optibid-idp.env" -}}
{{- include "optibid-idp.envFor" (list . false) -}}
{{- end -}}

{{/*
The container environment of the migration Job: the servers', except that
OPTIBID_DATABASE_URL comes from secrets.keys.migrationDatabaseURL when it
is set (the schema owner's connection string; the servers' role may not
migrate), else from secrets.keys.databaseURL.
*/}}
{{- define "optibid-idp.migrationEnv" -}}
{{- include "optibid-idp.envFor" (list . true) -}}
{{- end -}}

{{/* The environment, called with (list root forMigration). */}}
{{- define "optibid-idp.envFor" -}}
{{- $root := index . 0 -}}
{{- $migration := index . 1 -}}
{{- $secret := include "optibid-idp.secretName" $root -}}
{{- $table := include "optibid-idp.secretEnvTable" $root | fromYaml -}}
{{- range $env := keys $table | sortAlpha }}
{{- $e := get $table $env }}
{{- $key := get $root.Values.secrets.keys $e.key }}
{{- if and $migration (eq $e.key "databaseURL") $root.Values.secrets.keys.migrationDatabaseURL }}
{{- $key = $root.Values.secrets.keys.migrationDatabaseURL }}
{{- end }}
{{- if $key }}
- name: {{ $env }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $key }}
      {{- if not $e.required }}
      optional: true
      {{- end }}
{{- else if $e.required }}
{{- fail (printf "secrets.keys.%s is required (the key of %s in the Secret)" $e.key $env) }}
{{- end }}
{{- end }}
{{- range $root.Values.secrets.extra }}
{{- if or (not .env) (not .key) }}
{{- fail "secrets.extra: every entry needs env and key" }}
{{- end }}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ .secret | default $secret }}
      key: {{ .key }}
      {{- if .optional }}
      optional: true
      {{- end }}
{{- end }}
{{- $userSet := dict }}
{{- range $root.Values.env }}
{{- if hasKey $table .name }}
{{- fail (printf "env: %s is a secret; it comes from secrets.existingSecret (secrets.keys)" .name) }}
{{- end }}
{{- $_ := set $userSet .name true }}
- {{ toYaml . | nindent 2 | trim }}
{{- end }}
{{- /* The Go runtime's soft memory limit: goMemLimitPercent of the
container's memory limit (Mi or Gi), so the collector works harder
before the kernel would kill the pod; the rest is left for what is
not Go heap (the binary's pages, stacks). An env entry GOMEMLIMIT wins. */}}
{{- $mem := toString (dig "limits" "memory" "" ($root.Values.resources | default dict)) }}
{{- $pct := int ($root.Values.goMemLimitPercent | default 0) }}
{{- if and $mem (gt $pct 0) (not (hasKey $userSet "GOMEMLIMIT")) }}
{{- $mib := 0 }}
{{- if hasSuffix "Mi" $mem }}{{ $mib = int (trimSuffix "Mi" $mem) }}{{ end }}
{{- if hasSuffix "Gi" $mem }}{{ $mib = mul (int (trimSuffix "Gi" $mem)) 1024 }}{{ end }}
{{- if gt $mib 0 }}
- name: GOMEMLIMIT
  value: {{ printf "%dMiB" (div (mul $mib $pct) 100) | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
Refuses a literal secret in config: a secret field is empty or one ${VAR}
reference. Called with (list path value).
*/}}
{{- define "optibid-idp.checkSecretField" -}}
{{- $path := index . 0 -}}
{{- $v := index . 1 -}}
{{- if and $v (not (regexMatch "^\\$\\{[A-Za-z_][A-Za-z0-9_]*\\}$" (toString $v))) -}}
{{- fail (printf "config.%s holds a literal secret: write a ${VAR} reference and supply VAR from a Secret (secrets.keys or secrets.extra)" $path) -}}
{{- end -}}
{{- end -}}

{{/* The configuration file, from .Values.config and the chart's settings. */}}
{{- define "optibid-idp.config" -}}
{{- $cfg := deepCopy (.Values.config | default dict) -}}
{{- /* Keys the chart owns. */ -}}
{{- $http := get $cfg "http" | default dict -}}
{{- range $k := list "addr" "metrics_addr" "drain_period" "shutdown_timeout" -}}
{{- if hasKey $http $k -}}
{{- fail (printf "config.http.%s is set by the chart (ports, metrics.enabled, shutdown): remove it from config" $k) -}}
{{- end -}}
{{- end -}}
{{- $_ := set $http "addr" (printf ":%d" (int .Values.ports.http)) -}}
{{- if .Values.metrics.enabled -}}
{{- if eq (int .Values.ports.http) (int .Values.ports.metrics) -}}
{{- fail "ports.metrics must differ from ports.http" -}}
{{- end -}}
{{- $_ := set $http "metrics_addr" (printf ":%d" (int .Values.ports.metrics)) -}}
{{- end -}}
{{- $_ := set $http "drain_period" (printf "%ds" (int .Values.shutdown.drainSeconds)) -}}
{{- $_ := set $http "shutdown_timeout" (printf "%ds" (int .Values.shutdown.timeoutSeconds)) -}}
{{- $_ := set $cfg "http" $http -}}
{{- /* Storage and the migration Job. */ -}}
{{- $storage := get $cfg "storage" | default dict -}}
{{- $pg := get $storage "postgres" | default dict -}}
{{- if ne (get $storage "type") "postgres" -}}
{{- if .Values.migration.enabled -}}
{{- fail "migration.enabled needs config.storage.type: postgres" -}}
{{- end -}}
{{- if or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1) -}}
{{- fail "config.storage.type memory keeps state per process: use postgres for more than one replica" -}}
{{- end -}}
{{- end -}}
{{- if .Values.migration.enabled -}}
{{- $_ := set $pg "auto_migrate" false -}}
{{- $_ := set $storage "postgres" $pg -}}
{{- $_ := set $cfg "storage" $storage -}}
{{- end -}}
{{- /* Secret fields: ${VAR} references only. */ -}}
{{- include "optibid-idp.checkSecretField" (list "storage.postgres.dsn" (get $pg "dsn")) -}}
{{- $keys := get $cfg "keys" | default dict -}}
{{- include "optibid-idp.checkSecretField" (list "keys.encryption_key" (get $keys "encryption_key")) -}}
{{- $sessions := get $cfg "sessions" | default dict -}}
{{- include "optibid-idp.checkSecretField" (list "sessions.csrf_key" (get $sessions "csrf_key")) -}}
{{- $notify := get $cfg "notify" | default dict -}}
{{- $email := get $notify "email" | default dict -}}
{{- include "optibid-idp.checkSecretField" (list "notify.email.smtp.password" (get (get $email "smtp" | default dict) "password")) -}}
{{- include "optibid-idp.checkSecretField" (list "notify.email.sendgrid.api_key" (get (get $email "sendgrid" | default dict) "api_key")) -}}
{{- $sms := get $notify "sms" | default dict -}}
{{- include "optibid-idp.checkSecretField" (list "notify.sms.twilio.auth_token" (get (get $sms "twilio" | default dict) "auth_token")) -}}
{{- $federation := get $cfg "federation" | default dict -}}
{{- range $i, $c := (get $federation "connections" | default list) -}}
{{- include "optibid-idp.checkSecretField" (list (printf "federation.connections[%d].client_secret" $i) (get $c "client_secret")) -}}
{{- end -}}
{{- $bootstrap := get $cfg "bootstrap" | default dict -}}
{{- range $i, $u := (get $bootstrap "users" | default list) -}}
{{- include "optibid-idp.checkSecretField" (list (printf "bootstrap.users[%d].password" $i) (get $u "password")) -}}
{{- end -}}
{{- range $i, $c := (get $bootstrap "clients" | default list) -}}
{{- include "optibid-idp.checkSecretField" (list (printf "bootstrap.clients[%d].secret" $i) (get $c "secret")) -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/* terminationGracePeriodSeconds: preStop sleep + drain + shutdown + margin. */}}
{{- define "optibid-idp.terminationGracePeriodSeconds" -}}
{{- $s := .Values.shutdown -}}
{{- add (int $s.preStopSleepSeconds) (int $s.drainSeconds) (int $s.timeoutSeconds) (int $s.extraGraceSeconds) -}}
{{- end -}}

{{/* The volumes and mounts of the server and the migration Job. */}}
{{- define "optibid-idp.volumeMounts" -}}
- name: config
  mountPath: /etc/optibid
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- end -}}

{{- define "optibid-idp.volumes" -}}
{{- $cm := index . 0 -}}
- name: config
  configMap:
    name: {{ $cm }}
- name: tmp
  emptyDir:
    medium: Memory
    sizeLimit: 16Mi
{{- end -}}
