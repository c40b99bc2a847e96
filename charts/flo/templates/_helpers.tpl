{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "flo.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: the release name, suffixed with the chart name unless it already contains it. */}}
{{- define "flo.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels every object of the chart carries. */}}
{{- define "flo.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "flo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: flo
{{- end -}}

{{/* Labels selecting the operator pods (never change after install). */}}
{{- define "flo.operatorSelectorLabels" -}}
app.kubernetes.io/name: {{ include "flo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "flo.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "flo.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Flo image; there is no published default, so the repository must be given. */}}
{{- define "flo.image" -}}
{{- $repository := required "image.repository is required: no public Flo image is published. Build one (docker build -t flo.local/flo:dev .), load or push it, and pass --set image.repository=flo.local/flo --set image.tag=dev (see docs/kubernetes.md)" .Values.image.repository -}}
{{- printf "%s:%s" $repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* URL the helm test talks to. */}}
{{- define "flo.testUrl" -}}
{{- if .Values.test.url -}}
{{- .Values.test.url -}}
{{- else -}}
{{- printf "http://%s.%s.svc:3000" .Values.example.name .Release.Namespace -}}
{{- end -}}
{{- end -}}
