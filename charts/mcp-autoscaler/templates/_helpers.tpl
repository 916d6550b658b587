{{/* Chart name, at most 63 characters. */}}
{{- define "mcp-autoscaler.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: the release name when it already contains the chart name (so
`helm install mcp-autoscaler ...` gives `mcp-autoscaler`), else
`<release>-<chart>`; at most 63 characters (a DNS label: it names the
headless Service that KEDA's scalerAddress points at).
*/}}
{{- define "mcp-autoscaler.fullname" -}}
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

{{- define "mcp-autoscaler.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: stable across upgrades (a Deployment's selector is immutable). */}}
{{- define "mcp-autoscaler.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mcp-autoscaler.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "mcp-autoscaler.labels" -}}
helm.sh/chart: {{ include "mcp-autoscaler.chart" . }}
{{ include "mcp-autoscaler.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mcp-autoscaler
{{- end }}

{{- define "mcp-autoscaler.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mcp-autoscaler.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "mcp-autoscaler.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* Does the scaler talk to the Kubernetes API at all? */}}
{{- define "mcp-autoscaler.needsApi" -}}
{{- if or .Values.discovery.enabled .Values.deletionCost.enabled }}true{{ end }}
{{- end }}

{{/* The name of apply mode's Lease (a DNS label: at most 63 characters). */}}
{{- define "mcp-autoscaler.leaseName" -}}
{{- default (printf "%s-leader" (include "mcp-autoscaler.fullname" . | trunc 56 | trimSuffix "-")) .Values.apply.lease.name }}
{{- end }}

{{/* The address to put in a ScaledObject trigger's scalerAddress. */}}
{{- define "mcp-autoscaler.scalerAddress" -}}
{{- printf "%s.%s.svc.cluster.local:%v" (include "mcp-autoscaler.fullname" .) .Release.Namespace .Values.service.grpcPort }}
{{- end }}

{{/* Where the TLS secret is mounted. */}}
{{- define "mcp-autoscaler.tlsDir" -}}/etc/mcp-autoscaler/tls{{- end }}

{{/*
The scaler's config file: the user's `config` with the keys the chart owns
(listen addresses, TLS files, Kubernetes) set from the other values.
`kubernetes` is rendered only when discovery or deletion cost is on;
`kubernetes.apply` only when apply mode is on.
*/}}
{{- define "mcp-autoscaler.config" -}}
{{- if and .Values.deletionCost.enabled (not .Values.discovery.enabled) }}
{{- fail "deletionCost.enabled needs discovery.enabled: the scaler finds a server's pods through discovery" }}
{{- end }}
{{- if and .Values.apply.enabled (not .Values.discovery.enabled) }}
{{- fail "apply.enabled needs discovery.enabled: apply mode scales the workloads discovery finds" }}
{{- end }}
{{- if and .Values.tls.enabled (not .Values.tls.secretName) }}
{{- fail "tls.enabled needs tls.secretName: a kubernetes.io/tls Secret in the release namespace" }}
{{- end }}
{{- $cfg := deepCopy (.Values.config | default dict) }}
{{- if .Values.configFile }}
{{- $cfg = fromYaml .Values.configFile }}
{{- if hasKey $cfg "Error" }}
{{- fail (printf "configFile is not a YAML mapping: %v" (get $cfg "Error")) }}
{{- end }}
{{- range $k := list "kubernetes" }}
{{- if hasKey $cfg $k }}
{{- fail (printf "configFile: leave out %s, the chart sets it from discovery, deletionCost and apply" $k) }}
{{- end }}
{{- end }}
{{- range $k := list "grpc_addr" "http_addr" "tls" }}
{{- if hasKey (get $cfg "server" | default dict) $k }}
{{- fail (printf "configFile: leave out server.%s, the chart sets it" $k) }}
{{- end }}
{{- end }}
{{- end }}
{{- $server := deepCopy (get $cfg "server" | default dict) }}
{{- $_ := set $server "grpc_addr" "0.0.0.0:9090" }}
{{- $_ := set $server "http_addr" "0.0.0.0:8080" }}
{{- if .Values.tls.enabled }}
{{- $tls := dict "cert_file" (printf "%s/tls.crt" (include "mcp-autoscaler.tlsDir" .)) "key_file" (printf "%s/tls.key" (include "mcp-autoscaler.tlsDir" .)) }}
{{- if .Values.tls.clientAuth }}
{{- $_ := set $tls "client_ca_file" (printf "%s/ca.crt" (include "mcp-autoscaler.tlsDir" .)) }}
{{- end }}
{{- $_ := set $server "tls" $tls }}
{{- end }}
{{- $_ := set $cfg "server" $server }}
{{- if include "mcp-autoscaler.needsApi" . }}
{{- $discovery := dict "enabled" .Values.discovery.enabled "label" .Values.discovery.label "namespaces" (.Values.discovery.namespaces | default list) }}
{{- $kube := dict "discovery" $discovery }}
{{- if .Values.deletionCost.enabled }}
{{- $_ := set $kube "deletion_cost" (dict "enabled" true "interval" .Values.deletionCost.interval) }}
{{- end }}
{{- if .Values.apply.enabled }}
{{- $a := .Values.apply }}
{{- /* The Lease lives in the release namespace, where rbac.yaml grants it. */}}
{{- $lease := dict "name" (include "mcp-autoscaler.leaseName" .) "namespace" .Release.Namespace "duration" $a.lease.duration "renew_deadline" $a.lease.renewDeadline "retry_every" $a.lease.retryEvery }}
{{- $_ := set $kube "apply" (dict "enabled" true "dry_run" $a.dryRun "interval" $a.interval "qps" $a.qps "burst" $a.burst "lease" $lease) }}
{{- end }}
{{- $_ := set $cfg "kubernetes" $kube }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}
