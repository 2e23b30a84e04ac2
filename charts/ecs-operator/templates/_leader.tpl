{{/* Name of the operator's leader-election Lease (operator.leaderElection.leaseName, default <fullname>-leader). */}}
{{- define "ecs-operator.leaseName" -}}
{{- default (printf "%s-leader" (include "ecs-operator.fullname" . | trunc 56 | trimSuffix "-")) .Values.operator.leaderElection.leaseName }}
{{- end }}
