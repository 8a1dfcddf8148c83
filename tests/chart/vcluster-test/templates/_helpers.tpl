{{- define "vcluster.labels" -}}
app: vcluster
release: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{- define "vcluster.image" -}}
{{- $image := .Values.controlPlane.statefulSet.image -}}
{{- $tag := $image.tag | default .Chart.AppVersion -}}
{{- if $image.registry -}}{{ $image.registry }}/{{- end -}}{{ $image.repository }}:{{ $tag }}
{{- end -}}
