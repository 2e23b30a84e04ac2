{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "ecs-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's objects. */}}
{{- define "ecs-operator.fullname" -}}
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

{{- define "ecs-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ecs-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ecs-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "ecs-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "ecs-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ecs-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ecs-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
The ECS placement extender and the ecs-scheduler (extender.enabled). Their pods carry their own
app.kubernetes.io/name (<name>-extender, <name>-scheduler) so that the operator Deployment's
selector (name + instance) never matches them.
*/}}
{{- define "ecs-operator.extender.fullname" -}}
{{- printf "%s-extender" (include "ecs-operator.fullname" . | trunc 54 | trimSuffix "-") }}
{{- end }}

{{- define "ecs-operator.scheduler.fullname" -}}
{{- printf "%s-scheduler" (include "ecs-operator.fullname" . | trunc 53 | trimSuffix "-") }}
{{- end }}

{{/* Selector labels of a component: include "ecs-operator.componentSelectorLabels" (list . "extender") */}}
{{- define "ecs-operator.componentSelectorLabels" -}}
{{- $ctx := index . 0 }}
{{- $component := index . 1 -}}
app.kubernetes.io/name: {{ printf "%s-%s" (include "ecs-operator.name" $ctx | trunc 53 | trimSuffix "-") $component }}
app.kubernetes.io/instance: {{ $ctx.Release.Name }}
{{- end }}

{{- define "ecs-operator.componentLabels" -}}
{{- $ctx := index . 0 }}
{{- $component := index . 1 -}}
helm.sh/chart: {{ printf "%s-%s" $ctx.Chart.Name $ctx.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "ecs-operator.componentSelectorLabels" . }}
app.kubernetes.io/version: {{ $ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $ctx.Release.Service }}
app.kubernetes.io/component: {{ $component }}
app.kubernetes.io/part-of: {{ include "ecs-operator.name" $ctx }}
{{- end }}

{{- define "ecs-operator.extender.serviceAccountName" -}}
{{- if .Values.extender.serviceAccount.create }}
{{- default (include "ecs-operator.extender.fullname" .) .Values.extender.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.extender.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ecs-operator.scheduler.serviceAccountName" -}}
{{- if .Values.scheduler.serviceAccount.create }}
{{- default (include "ecs-operator.scheduler.fullname" .) .Values.scheduler.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.scheduler.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The extender's image: its own repository/tag when set, else the operator's image. */}}
{{- define "ecs-operator.extender.image" -}}
{{- $repo := default .Values.image.repository .Values.extender.image.repository }}
{{- $tag := default (default .Chart.AppVersion .Values.image.tag) .Values.extender.image.tag }}
{{- printf "%s:%s" $repo $tag }}
{{- end }}

{{/* The extender's in-cluster URL, which the ecs-scheduler calls. */}}
{{- define "ecs-operator.extender.url" -}}
{{- printf "http://%s.%s.svc:%d" (include "ecs-operator.extender.fullname" .) .Release.Namespace (int .Values.extender.port) }}
{{- end }}

{{/* The ecs-scheduler's KubeSchedulerConfiguration (the ConfigMap's config.yaml). Mirrors
operator/ecs_operator/dev/scheduler.py scheduler_config(); tests/unit/test_chart.py keeps the
profile and extender parts equal. */}}
{{- define "ecs-operator.scheduler.config" -}}
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
leaderElection:
  leaderElect: {{ .Values.scheduler.leaderElection.leaderElect }}
  resourceLock: leases
  # Its own lease: never the default scheduler's kube-system/kube-scheduler.
  resourceName: {{ .Values.scheduler.schedulerName | quote }}
  resourceNamespace: {{ .Release.Namespace | quote }}
  leaseDuration: {{ .Values.scheduler.leaderElection.leaseDuration | quote }}
  renewDeadline: {{ .Values.scheduler.leaderElection.renewDeadline | quote }}
  retryPeriod: {{ .Values.scheduler.leaderElection.retryPeriod | quote }}
clientConnection:
  # Empty: the pod's ServiceAccount (in-cluster config).
  kubeconfig: ""
  qps: {{ .Values.scheduler.qps }}
  burst: {{ .Values.scheduler.burst }}
profiles:
  # The default plugins, unchanged; only pods with spec.schedulerName set to this name.
  - schedulerName: {{ .Values.scheduler.schedulerName | quote }}
extenders:
  - urlPrefix: {{ include "ecs-operator.extender.url" . | quote }}
    filterVerb: filter
    prioritizeVerb: prioritize
    # One rank step of the extender's score outweighs all default score plugins (docs/placement.md).
    weight: {{ .Values.scheduler.weight }}
    # NodeNames instead of full NodeLists: the extender keeps its own view of the nodes.
    nodeCacheCapable: true
    # Never place an ECS task without its placement constraints.
    ignorable: false
    enableHTTPS: false
    # Keep it above the extender's own binding timeout (4s).
    httpTimeout: {{ .Values.scheduler.httpTimeout | quote }}
    {{- if .Values.extender.bind }}
    # The extender binds (pods/binding), counting each task on its instance at once.
    bindVerb: bind
    {{- end }}
{{- end }}

{{/* Restricted Pod Security Standard: the pod's and every container's securityContext. */}}
{{- define "ecs-operator.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "ecs-operator.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Pod fields every pod of the chart shares (pull secrets, priority, placement). */}}
{{- define "ecs-operator.podPlacement" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* The ECS API endpoint (api.enabled): its own name, identity and image. */}}
{{- define "ecs-operator.api.fullname" -}}
{{- printf "%s-api" (include "ecs-operator.fullname" . | trunc 59 | trimSuffix "-") }}
{{- end }}

{{- define "ecs-operator.api.serviceAccountName" -}}
{{- if .Values.api.serviceAccount.create }}
{{- default (include "ecs-operator.api.fullname" .) .Values.api.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.api.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ecs-operator.api.image" -}}
{{- $repo := default .Values.image.repository .Values.api.image.repository }}
{{- $tag := default (default .Chart.AppVersion .Values.image.tag) .Values.api.image.tag }}
{{- printf "%s:%s" $repo $tag }}
{{- end }}

{{/* Where the access key Secrets are: api.keysNamespace, else the release namespace. */}}
{{- define "ecs-operator.api.keysNamespace" -}}
{{- default .Release.Namespace .Values.api.keysNamespace }}
{{- end }}

{{/* The TLS Secret the endpoint serves: api.tls.secretName, or the Certificate's default. */}}
{{- define "ecs-operator.api.tlsSecretName" -}}
{{- if .Values.api.tls.secretName }}
{{- .Values.api.tls.secretName }}
{{- else if .Values.api.tls.certManager.enabled }}
{{- printf "%s-tls" (include "ecs-operator.api.fullname" .) }}
{{- else }}
{{- fail "api.enabled needs TLS: set api.tls.secretName (a kubernetes.io/tls Secret) or api.tls.certManager.enabled" }}
{{- end }}
{{- end }}
