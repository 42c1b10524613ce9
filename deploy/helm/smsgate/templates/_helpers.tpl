{{- define "smsgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "smsgate.fullname" -}}
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

{{- define "smsgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "smsgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "smsgate.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "smsgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "smsgate.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The Secret the chart creates: secrets.values plus the external database password and Redis URL. */}}
{{- define "smsgate.secretData" -}}
{{- $data := deepCopy .Values.secrets.values -}}
{{- if .Values.externalDatabase.password -}}
{{- $_ := set $data "DATABASE__PASSWORD" .Values.externalDatabase.password -}}
{{- end -}}
{{- if .Values.externalRedis.url -}}
{{- $_ := set $data "CACHE__URL" .Values.externalRedis.url -}}
{{- $_ := set $data "PUBSUB__URL" .Values.externalRedis.url -}}
{{- end -}}
{{- toYaml $data -}}
{{- end -}}

{{- define "smsgate.secretName" -}}
{{- default (printf "%s-secrets" (include "smsgate.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{/* The environment names the server reads from files: {"keys": [...]} */}}
{{- define "smsgate.secretKeys" -}}
{{- if .Values.secrets.existingSecret -}}
{{- dict "keys" .Values.secrets.existingSecretKeys | toJson -}}
{{- else -}}
{{- dict "keys" (include "smsgate.secretData" . | fromYaml | keys | sortAlpha) | toJson -}}
{{- end -}}
{{- end -}}

{{/* The migration Job runs only against a shared database: SQLite lives in each pod's /data, where the
replica upgrades it on start. */}}
{{- define "smsgate.migrationJob" -}}
{{- if and .Values.migration.job (or .Values.externalDatabase.host (has "DATABASE__URL" (include "smsgate.secretKeys" . | fromJson).keys)) -}}
true
{{- end -}}
{{- end -}}

{{/* Hook annotations for what the pre-install migration Job needs before the release's own objects exist. */}}
{{- define "smsgate.preInstallHook" -}}
{{- if include "smsgate.migrationJob" . }}
annotations:
  helm.sh/hook: pre-install,pre-upgrade
  helm.sh/hook-weight: "-10"
  helm.sh/hook-delete-policy: before-hook-creation
{{- end }}
{{- end -}}

{{- define "smsgate.env" -}}
- name: CONFIG_PATH
  value: /etc/smsgate/config.yml
- name: HTTP__LISTEN
  value: {{ printf ":%d" (int .Values.service.port) | quote }}
{{- with .Values.externalDatabase }}
{{- if .host }}
- name: DATABASE__DIALECT
  value: {{ .dialect | default "mysql" | quote }}
- name: DATABASE__HOST
  value: {{ .host | quote }}
- name: DATABASE__PORT
  value: {{ .port | quote }}
- name: DATABASE__USER
  value: {{ .user | quote }}
- name: DATABASE__DATABASE
  value: {{ .database | quote }}
{{- end }}
{{- end }}
{{- range (include "smsgate.secretKeys" . | fromJson).keys }}
- name: {{ printf "%s_FILE" . }}
  value: {{ printf "/run/secrets/smsgate/%s" . }}
{{- end }}
{{- range $name, $value := .Values.env }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

{{- define "smsgate.volumeMounts" -}}
- name: config
  mountPath: /etc/smsgate
  readOnly: true
- name: secrets
  mountPath: /run/secrets/smsgate
  readOnly: true
- name: data
  mountPath: /data
- name: tmp
  mountPath: /tmp
{{- end -}}

{{- define "smsgate.volumes" -}}
- name: config
  configMap:
    name: {{ include "smsgate.fullname" . }}-config
- name: secrets
{{- if (include "smsgate.secretKeys" . | fromJson).keys }}
  secret:
    secretName: {{ include "smsgate.secretName" . }}
    defaultMode: 0400
{{- else }}
  emptyDir: {}
{{- end }}
- name: data
{{- if .Values.persistence.enabled }}
  persistentVolumeClaim:
    claimName: {{ default (printf "%s-data" (include "smsgate.fullname" .)) .Values.persistence.existingClaim }}
{{- else }}
  emptyDir: {}
{{- end }}
- name: tmp
  emptyDir: {}
{{- end -}}

{{- define "smsgate.podSpecCommon" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if .Values.serviceAccountName }}
serviceAccountName: {{ .Values.serviceAccountName }}
{{- end }}
automountServiceAccountToken: {{ .Values.automountServiceAccountToken }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
volumes:
  {{- include "smsgate.volumes" . | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
