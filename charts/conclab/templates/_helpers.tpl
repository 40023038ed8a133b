{{- define "conclab.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "conclab.labels" -}}
app.kubernetes.io/name: conclab
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "conclab.selectorLabels" -}}
app.kubernetes.io/name: conclab
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The namespaces watched: the list given, or the release namespace. */}}
{{- define "conclab.watchNamespaces" -}}
{{- if .Values.watchNamespaces -}}
{{- join "," .Values.watchNamespaces -}}
{{- else -}}
{{- .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{/* The rules the operator needs on experiments and their children (one place, used by the Role and the ClusterRole). */}}
{{- define "conclab.experimentRules" -}}
- apiGroups: ["conclab.dev"]
  resources: ["concurrencyexperiments"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["conclab.dev"]
  resources: ["concurrencyexperiments/status"]
  verbs: ["get", "patch"]
# Setting blockOwnerDeletion on children needs update on the owner's finalizers.
- apiGroups: ["conclab.dev"]
  resources: ["concurrencyexperiments/finalizers"]
  verbs: ["update"]
# Server-side apply of a new object needs create as well as patch.
- apiGroups: [""]
  resources: ["pods", "configmaps", "services"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# Events on experiments (kubectl describe cx).
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
# The per-experiment results token; read by name only, never listed.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "create", "delete"]
{{- end -}}
