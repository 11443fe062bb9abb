{{/* Base name of every object: the release name when it already names the chart. */}}
{{- define "csa.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "csa.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "csa.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end -}}

{{- define "csa.webhookService" -}}{{ include "csa.fullname" . }}-webhook{{- end -}}
{{- define "csa.webhookSecret" -}}{{ include "csa.fullname" . }}-webhook-tls{{- end -}}
{{- define "csa.certificate" -}}{{ include "csa.fullname" . }}-webhook{{- end -}}
{{- define "csa.certDir" -}}/etc/cnpg-storage-autoscaler/webhook-certs{{- end -}}

{{/* The controller's username, as the API server sees its requests. */}}
{{- define "csa.username" -}}system:serviceaccount:{{ .Release.Namespace }}:{{ .Values.serviceAccount.name }}{{- end -}}

{{- define "csa.image" -}}
{{- printf "%s:%s" .repository (.tag | default .appVersion) -}}
{{- end -}}
