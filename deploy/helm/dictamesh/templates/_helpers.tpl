{{/* Names, labels and the pieces every node's pod shares. */}}

{{- define "dictamesh.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "dictamesh.fullname" -}}
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

{{- define "dictamesh.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dictamesh.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "dictamesh.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "dictamesh.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: dictamesh
{{- end -}}

{{- define "dictamesh.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "dictamesh.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "dictamesh.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* mesh.yaml: values.meshConfig with what the chart decides merged over it. */}}
{{- define "dictamesh.meshYaml" -}}
{{- $mesh := deepCopy .Values.meshConfig -}}
{{- $api := dict "host" "0.0.0.0" "port" (int .Values.port) "shutdown_delay_seconds" .Values.shutdown.delaySeconds "timeout_graceful_shutdown" .Values.shutdown.timeoutSeconds -}}
{{- $forced := dict "api" $api "state_dir" .Values.stateDir -}}
{{- if .Values.migrations.enabled -}}
{{- $_ := set $forced "catalog" (dict "migrate_on_start" false) -}}
{{- end -}}
{{- toYaml (mergeOverwrite $mesh $forced) -}}
{{- end -}}

{{/* Secrets as DICTAMESH_* variables: group, key field, inline value field, variable. */}}
{{- define "dictamesh.secretTable" -}}
- [catalog, urlKey, url, DICTAMESH_CATALOG__URL]
- [redis, urlKey, url, DICTAMESH_CACHE__REDIS_URL]
- [kafka, usernameKey, username, DICTAMESH_BUS__KAFKA__SASL_USERNAME]
- [kafka, passwordKey, password, DICTAMESH_BUS__KAFKA__SASL_PASSWORD]
- [auth, jwtSecretKey, jwtSecret, DICTAMESH_AUTH__JWT_SECRET]
- [governance, maskingKeyKey, maskingKey, DICTAMESH_GOVERNANCE__MASKING_KEY]
{{- end -}}

{{/* The chart's own Secret holds inline values under "<group>-<key>". */}}
{{- define "dictamesh.inlineSecretName" -}}
{{- printf "%s-secrets" (include "dictamesh.fullname" .) -}}
{{- end -}}

{{/* One EnvVar from a secret entry; args: root, row. */}}
{{- define "dictamesh.secretEnvVar" -}}
{{- $root := index . 0 -}}
{{- $row := index . 1 -}}
{{- $group := index $root.Values.secrets (index $row 0) -}}
{{- $key := index $group (index $row 1) -}}
{{- if $group.existingSecret }}
- name: {{ index $row 3 }}
  valueFrom:
    secretKeyRef:
      name: {{ $group.existingSecret }}
      key: {{ $key }}
      {{- if ne (index $row 0) "catalog" }}
      optional: true
      {{- end }}
{{- else if index $group (index $row 2) }}
- name: {{ index $row 3 }}
  valueFrom:
    secretKeyRef:
      name: {{ include "dictamesh.inlineSecretName" $root }}
      key: {{ printf "%s-%s" (index $row 0) $key }}
{{- end }}
{{- end -}}

{{- define "dictamesh.secretEnv" -}}
{{- range (include "dictamesh.secretTable" . | fromYamlArray) }}
{{- include "dictamesh.secretEnvVar" (list $ .) }}
{{- end }}
{{- end -}}

{{/* Inline secret values, as the data of the chart's Secret. */}}
{{- define "dictamesh.inlineSecretData" -}}
{{- range (include "dictamesh.secretTable" . | fromYamlArray) }}
{{- $group := index $.Values.secrets (index . 0) }}
{{- $value := index $group (index . 2) }}
{{- if and (not $group.existingSecret) $value }}
{{ printf "%s-%s" (index . 0) (index $group (index . 1)) }}: {{ $value | b64enc | quote }}
{{- end }}
{{- end }}
{{- with .Values.secrets.catalog }}
{{- if and (not .existingSecret) .migrationUrl }}
{{ printf "catalog-%s" .migrationUrlKey }}: {{ .migrationUrl | b64enc | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The owner URL the migrations Job runs with (DICTAMESH_CATALOG__MIGRATION_URL). */}}
{{- define "dictamesh.migrationUrlEnv" -}}
{{- with .Values.secrets.catalog }}
{{- if .existingSecret }}
- name: DICTAMESH_CATALOG__MIGRATION_URL
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .migrationUrlKey }}
{{- else if .migrationUrl }}
- name: DICTAMESH_CATALOG__MIGRATION_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "dictamesh.inlineSecretName" $ }}
      key: {{ printf "catalog-%s" .migrationUrlKey }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "dictamesh.configChecksum" -}}
{{- include "dictamesh.meshYaml" . | sha256sum -}}
{{- end -}}

{{- define "dictamesh.terminationGracePeriod" -}}
{{- add .Values.shutdown.delaySeconds .Values.shutdown.timeoutSeconds .Values.shutdown.marginSeconds -}}
{{- end -}}

{{/* Enabled roles, in a fixed order. */}}
{{- define "dictamesh.roleNames" -}}
{{- range $name := list "api" "capture" "ingest" "router" "saga" "notify" }}
{{- if (index $.Values.roles $name).enabled }}
- {{ $name }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Replicas a role runs at least (its HPA minimum when autoscaled). */}}
{{- define "dictamesh.minReplicas" -}}
{{- $role := . -}}
{{- if and $role.autoscaling $role.autoscaling.enabled -}}
{{- $role.autoscaling.minReplicas -}}
{{- else -}}
{{- $role.replicas -}}
{{- end -}}
{{- end -}}
