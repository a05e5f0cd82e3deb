{{/* Chart name, truncated to the 63 characters a DNS label allows. */}}
{{- define "backfill.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-scoped name: "<release>-backfill", or the release name if it already says backfill. */}}
{{- define "backfill.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "backfill.producer.fullname" -}}
{{- printf "%s-producer" (include "backfill.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "backfill.worker.fullname" -}}
{{- printf "%s-worker" (include "backfill.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "backfill.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "backfill.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: backfill
{{- end }}

{{/* Selector labels of one component; call with (dict "root" $ "component" "worker"). */}}
{{- define "backfill.selectorLabels" -}}
app.kubernetes.io/name: {{ include "backfill.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "backfill.componentLabels" -}}
{{ include "backfill.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "backfill.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "backfill.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "backfill.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
terminationGracePeriodSeconds of a component: everything the pod is asked to wait
for (preStop sleep, then the process's shutdown grace) plus a margin. Derived, so the
kubelet's SIGKILL can never cut a graceful shutdown short (B6).
Call with (dict "root" $ "preStop" <seconds>).
*/}}
{{- define "backfill.terminationGracePeriodSeconds" -}}
{{- $grace := int .root.Values.config.worker.shutdownGraceSecs }}
{{- $margin := int .root.Values.terminationGraceMarginSecs }}
{{- add (int .preStop) $grace $margin }}
{{- end }}

{{/* The Redis queue key KEDA measures; call with (dict "root" $ "state" "scheduled"). */}}
{{- define "backfill.queueKey" -}}
{{- printf "%s:%s" .root.Values.config.queue.name .state }}
{{- end }}

{{/*
Environment shared by producer and worker: non-secret configuration from the
ConfigMap, secrets by reference, and the pod's identity for telemetry.
Call with (dict "root" $ "component" "worker").
*/}}
{{- define "backfill.env" -}}
{{- $secret := .root.Values.secrets.existingSecret -}}
- name: BACKFILL__SECRETS__CREDENTIAL_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ .root.Values.secrets.keys.credentialKey }}
- name: BACKFILL__STORE__URL
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ .root.Values.secrets.keys.storeUrl }}
- name: BACKFILL__REDIS__URL
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ .root.Values.secrets.keys.redisUrl }}
- name: BACKFILL__TELEMETRY__SERVICE_NAME
  value: backfill-{{ .component }}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: NODE_NAME
  valueFrom:
    fieldRef:
      fieldPath: spec.nodeName
# The pod name becomes service.instance.id, which the collector turns into the
# Prometheus `instance` label.
- name: OTEL_RESOURCE_ATTRIBUTES
  value: service.instance.id=$(POD_NAME),k8s.pod.name=$(POD_NAME),k8s.namespace.name=$(POD_NAMESPACE),k8s.node.name=$(NODE_NAME)
{{- end }}

{{/* Pod template annotations: roll the pods when the ConfigMap changes. */}}
{{- define "backfill.podAnnotations" -}}
checksum/config: {{ include (print .root.Template.BasePath "/configmap.yaml") .root | sha256sum }}
{{- with .extra }}
{{ toYaml . }}
{{- end }}
{{- end }}
