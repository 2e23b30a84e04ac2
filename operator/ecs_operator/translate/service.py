"""ECSService -> Deployment (REPLICA) or DaemonSet (DAEMON), and the ECS view of its status.

Pure: no client, no clock (``now`` is passed in), no randomness. ECS fields Kubernetes cannot
express (yet) are reported as warnings, never dropped silently.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import constants
from ..domain.capacity import LABEL_CAPACITY_PROVIDER, Launch, LaunchError, pod_placement, resolve_launch, split_tasks
from ..domain.instances import DRAINING
from ..domain.membership import and_terms, restrict_to_cluster, selector_term
from ..domain.native import compile_native
from ..domain.placement import (
    ANN_CONSTRAINTS,
    ANN_SCHEDULING_STRATEGY,
    ANN_STRATEGY,
    PlacementError,
    parse_constraints,
    parse_strategies,
)
from ..domain.revisions import family_label
from ..models.generated import (
    CapacityProviderStrategyItem,
    CreateServiceRequest,
    DeploymentCircuitBreaker,
    PlacementConstraint,
    PlacementStrategy,
)
from .diagnostics import TranslationWarning
from .names import dns_label, unique_label

Obj = dict[str, Any]
#: A node pool: (nodeSelector, tolerations).
Placement = tuple[dict[str, str], list[Obj]]

LABEL_SERVICE = constants.SERVICE
LABEL_CLUSTER = constants.CLUSTER
ANNOTATION_TASK_DEFINITION = constants.TASK_DEFINITION
ANNOTATION_GROUP = constants.TASK_GROUP
REPLICA = "REPLICA"
DAEMON = "DAEMON"

# Every CreateService field: translated, reported (warned when set), or ignored with a reason.
TRANSLATED = {
    "cluster": "label ecs.seed.dev/cluster; the service belongs to that ECSCluster ('default' when unset)",
    "serviceName": "status.serviceName and the task group service:<name>",
    "taskDefinition": "the pod template of the resolved revision",
    "desiredCount": "Deployment replicas",
    "schedulingStrategy": "REPLICA -> Deployment, DAEMON -> DaemonSet",
    "deploymentConfiguration": "ROLLING: maximumPercent/minimumHealthyPercent -> maxSurge/maxUnavailable; "
    "BLUE_GREEN/LINEAR/CANARY: one Deployment per service revision, scaled and cleaned up on ECS's schedule "
    "(ServiceDeployment records; see docs/ecsservice-mapping.md)",
    "healthCheckGracePeriodSeconds": "livenessProbe initialDelaySeconds of the task's containers",
    "enableExecuteCommand": "kubectl exec works on every task; nothing to translate",
    "loadBalancers": "a Service (ClusterIP) named like the ECSService, one port per container port",
    "serviceRegistries": "a headless Service <name>-discovery: DNS records for every task",
    "placementConstraints": "validated when applied; memberOf on node attributes -> nodeAffinity, distinctInstance "
    "-> podAntiAffinity; the rest (task:group, runningTasksCount...) is reported",
    "launchType": "FARGATE -> nodeSelector + toleration for the FARGATE virtual nodes; EC2 -> ordinary nodes",
    "availabilityZoneRebalancing": "ENABLED (the default) -> handlers/rebalancing.py stops one task at a time in "
    "the busiest zone until the zones are balanced, within minimumHealthyPercent; ECS's rebalancing events",
    "capacityProviderStrategy": "FARGATE/FARGATE_SPOT -> their virtual nodes; an EC2 capacity provider -> its "
    "node pool (CapacityProvider spec.kubernetes); several providers -> one Deployment "
    "per provider with the tasks split by base then weight as ECS splits them (the "
    "cluster's defaultCapacityProviderStrategy when the service names neither this nor "
    "launchType)",
}
WARNED = {
    "placementStrategy": "placement strategies are applied by the ecs-scheduler extender, which is not deployed "
    "with the operator yet; the default scheduler places these tasks",
    "networkConfiguration": "subnets, security groups and public IPs have no Kubernetes equivalent; tasks use the pod network",
    "deploymentController": "only the ECS rolling-update deployment controller is supported",
    "serviceConnectConfiguration": "Service Connect is not supported",
    "volumeConfigurations": "volumes configured at launch are not provisioned yet",
    "vpcLatticeConfigurations": "VPC Lattice has no Kubernetes equivalent",
    "gatewayConnectors": "gateway connectors are not supported",
    "monitoring": "ECS monitoring configuration has no Kubernetes equivalent",
}
IGNORED = {
    "clientToken": "idempotency of the CreateService call; applying a manifest is idempotent already",
    "platformVersion": "Fargate platform version; virtual nodes have none",
    "role": "IAM role for classic load balancers; not applicable",
    "tags": "AWS resource tags; kept on the ECSService object",
    "enableECSManagedTags": "AWS resource tags",
    "propagateTags": "AWS resource tags",
}
DEPLOYMENT_CONFIGURATION_WARNED = {
    "alarms": "CloudWatch alarms cannot be read here: they never stop or roll back a deployment",
    "earlySuccessCriteria": "early success criteria are not supported",
}
#: deploymentConfiguration fields that only the BLUE_GREEN, LINEAR and CANARY strategies use:
#: reported when a ROLLING service sets them.
STRATEGY_ONLY = {
    "bakeTimeInMinutes": "bake time applies to BLUE_GREEN, LINEAR and CANARY deployments",
    "lifecycleHooks": "lifecycle hooks run in BLUE_GREEN, LINEAR and CANARY deployments only",
    "linearConfiguration": "linearConfiguration applies to LINEAR deployments",
    "canaryConfiguration": "canaryConfiguration applies to CANARY deployments",
}
ROLLING = "ROLLING"


class ServiceError(ValueError):
    """A service ECS itself would refuse (InvalidParameterException / ClientException)."""

    def __init__(self, field_: str, message: str):
        super().__init__(f"{field_}: {message}")
        self.field = field_


@dataclass(frozen=True)
class RollingLimits:
    max_surge: int
    max_unavailable: int
    warnings: tuple[TranslationWarning, ...] = ()


def cluster_name(ref: str | None) -> str:
    """``default`` when unset; a cluster ARN (arn:aws:ecs:r:a:cluster/NAME) becomes NAME."""
    if not ref:
        return "default"
    return ref.rsplit("/", 1)[-1] if ref.startswith("arn:") else ref


_ECS_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_NAME_RULE = "Up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed."


def cluster_label(ref: str | None) -> str:
    return family_label(cluster_name(ref))


def scheduling_strategy(svc: CreateServiceRequest) -> str:
    return svc.schedulingStrategy or REPLICA


def validate(svc: CreateServiceRequest) -> None:
    """The CreateService rules ECS enforces that the CRD schema does not."""
    if not svc.taskDefinition:
        raise ServiceError("taskDefinition", "a task definition must be specified")
    if svc.serviceName is not None and not _ECS_NAME.match(svc.serviceName):
        raise ServiceError("serviceName", f"{svc.serviceName!r} is not a valid service name. {_NAME_RULE}")
    if not _ECS_NAME.match(cluster_name(svc.cluster)):
        raise ServiceError("cluster", f"{svc.cluster!r} is not a valid cluster name or ARN. {_NAME_RULE}")
    strategy = scheduling_strategy(svc)
    if strategy == DAEMON and svc.desiredCount is not None:
        raise ServiceError(
            "desiredCount", "The daemon scheduling strategy does not support a desired count for services."
        )
    if strategy == REPLICA and svc.desiredCount is None:
        raise ServiceError("desiredCount", "desiredCount is required when schedulingStrategy is REPLICA")
    if svc.launchType and svc.capacityProviderStrategy:
        raise ServiceError(
            "launchType",
            "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.",
        )
    dc = svc.deploymentConfiguration
    if strategy == DAEMON and deployment_strategy(svc) != ROLLING:
        raise ServiceError(
            "deploymentConfiguration.strategy",
            f"The {deployment_strategy(svc)} deployment strategy is not supported for services with the DAEMON "
            "scheduling strategy.",
        )
    if strategy == DAEMON and dc and dc.maximumPercent is not None and dc.maximumPercent != 100:
        raise ServiceError(
            "deploymentConfiguration.maximumPercent",
            "The maximumPercent parameter must be 100 for services with the DAEMON scheduling strategy.",
        )
    if (
        dc
        and dc.maximumPercent is not None
        and dc.minimumHealthyPercent is not None
        and dc.maximumPercent < dc.minimumHealthyPercent
    ):
        raise ServiceError(
            "deploymentConfiguration.maximumPercent",
            "maximumPercent must be greater than or equal to minimumHealthyPercent",
        )


def rolling_limits(desired: int, maximum_percent: int | None, minimum_healthy_percent: int | None) -> RollingLimits:
    """ECS's deployment limits as integer surge/unavailable counts.

    ECS may run at most floor(desired * maximumPercent / 100) tasks and keeps at least
    ceil(desired * minimumHealthyPercent / 100) healthy; Kubernetes refuses a rolling update
    that may neither surge nor drop a task, where ECS would simply never make progress, so
    that case allows one unavailable task and says so.
    """
    maximum = 200 if maximum_percent is None else maximum_percent
    minimum = 100 if minimum_healthy_percent is None else minimum_healthy_percent
    upper = math.floor(desired * maximum / 100)
    lower = math.ceil(desired * minimum / 100)
    surge = max(upper - desired, 0)
    unavailable = max(desired - lower, 0)
    warnings: tuple[TranslationWarning, ...] = ()
    if surge == 0 and unavailable == 0:
        if desired > 0:
            warnings = (
                TranslationWarning(
                    "deploymentConfiguration",
                    f"with desiredCount {desired}, maximumPercent {maximum} and minimumHealthyPercent {minimum} "
                    "no task may start or stop during a deployment; one task at a time is replaced instead",
                ),
            )
            unavailable = 1
        else:
            surge = 1
    return RollingLimits(surge, unavailable, warnings)


def circuit_breaker_threshold(desired: int) -> int:
    """ECS's circuit breaker failure threshold: half the desired count, at least 3, at most 200."""
    return min(max(math.ceil(desired * 0.5), 3), 200)


def service_warnings(svc: CreateServiceRequest) -> list[TranslationWarning]:
    out = []
    for name in type(svc).model_fields:
        if getattr(svc, name) is not None and name in WARNED:
            out.append(TranslationWarning(name, WARNED[name]))
    dc = svc.deploymentConfiguration
    if dc is not None:
        for name, why in DEPLOYMENT_CONFIGURATION_WARNED.items():
            if getattr(dc, name, None) is not None:
                out.append(TranslationWarning(f"deploymentConfiguration.{name}", why))
        out += _strategy_warnings(svc)
    return out


def deployment_strategy(svc: CreateServiceRequest) -> str:
    """ROLLING (ECS's default), BLUE_GREEN, LINEAR or CANARY."""
    dc = svc.deploymentConfiguration
    return (dc.strategy if dc else None) or ROLLING


def _strategy_warnings(svc: CreateServiceRequest) -> list[TranslationWarning]:
    dc = svc.deploymentConfiguration
    if dc is None:
        return []
    strategy = deployment_strategy(svc)
    if strategy == ROLLING:
        return [
            TranslationWarning(f"deploymentConfiguration.{name}", why)
            for name, why in STRATEGY_ONLY.items()
            if getattr(dc, name, None) is not None
        ]
    out = []
    for i, hook in enumerate(dc.lifecycleHooks or []):
        if hook.targetType == "AWS_LAMBDA":
            out.append(
                TranslationWarning(
                    f"deploymentConfiguration.lifecycleHooks[{i}]",
                    f"the Lambda function {hook.hookTargetArn} cannot be invoked here: the deployment waits at "
                    f"{', '.join(hook.lifecycleStages or [])} as for a PAUSE hook, until ContinueServiceDeployment "
                    "(or spec.continue of the ServiceDeployment) or the hook's timeout",
                )
            )
    return out


def apply_placement(
    t: Obj,
    constraints_in: Sequence[PlacementConstraint] | None,
    strategies_in: Sequence[PlacementStrategy] | None,
    group: str,
    daemon: bool = False,
) -> list[TranslationWarning]:
    """Placement annotations for the ecs-scheduler extender, and the constraints Kubernetes can
    enforce by itself compiled into the pod's affinity (they hold even without the extender).
    The task definition's constraints and the service's (or RunTask's) apply together, as in
    ECS. ``constraints_in`` / ``strategies_in``: the ECS PlacementConstraint / PlacementStrategy
    models. Raises ServiceError naming the field (``placementConstraints[i].expression``)."""
    md, spec = t["metadata"], t["spec"]
    annotations = md.setdefault("annotations", {})
    constraints = json.loads(annotations.get(ANN_CONSTRAINTS, "[]"))
    offset = len(constraints)
    for i, c in enumerate(constraints_in or []):
        item = c.model_dump(exclude_none=True)
        try:
            parse_constraints(json.dumps([item]))
        except PlacementError as e:
            raise ServiceError(f"placementConstraints[{i}].expression", str(e).split(": ", 1)[-1]) from e
        constraints.append(item)
    if constraints:
        try:
            parse_constraints(json.dumps(constraints[:offset]))
        except PlacementError as e:
            raise ServiceError("taskDefinition.placementConstraints", str(e).split(": ", 1)[-1]) from e
        annotations[ANN_CONSTRAINTS] = json.dumps(constraints, separators=(",", ":"))
    if strategies_in:
        items = [x.model_dump(exclude_none=True) for x in strategies_in]
        try:
            parse_strategies(json.dumps(items))
        except PlacementError as e:
            raise ServiceError("placementStrategy", str(e).split(": ", 1)[-1]) from e
        annotations[ANN_STRATEGY] = json.dumps(items, separators=(",", ":"))
    if daemon:
        annotations[ANN_SCHEDULING_STRATEGY] = DAEMON
    warnings: list[TranslationWarning] = []
    if constraints:
        native = compile_native(constraints, group=group, pod_labels=md.get("labels", {}))
        affinity = native.affinity()
        if affinity:
            merged = spec.setdefault("affinity", {})
            for key, value in affinity.items():
                if key == "nodeAffinity" and "nodeAffinity" in merged:
                    warnings.append(
                        TranslationWarning(
                            "placementConstraints",
                            "the task definition already sets a node affinity; memberOf left to the extender",
                        )
                    )
                    continue
                merged[key] = value
        for constraint, why in native.not_compiled:
            warnings.append(
                TranslationWarning(
                    "placementConstraints", f"{constraint} is enforced by the ecs-scheduler extender only: {why}"
                )
            )
    return warnings


def _pod_template(template: Obj, *, name: str, svc: CreateServiceRequest, task_definition: str) -> Obj:
    t = copy.deepcopy(template)
    md = t.setdefault("metadata", {})
    labels = md.setdefault("labels", {})
    labels[LABEL_SERVICE] = name
    labels[LABEL_CLUSTER] = cluster_label(svc.cluster)
    annotations = md.setdefault("annotations", {})
    annotations[ANNOTATION_TASK_DEFINITION] = task_definition
    annotations[ANNOTATION_GROUP] = f"service:{svc.serviceName or name}"
    spec = t.setdefault("spec", {})
    spec["restartPolicy"] = "Always"
    grace = svc.healthCheckGracePeriodSeconds
    if grace:
        for c in spec.get("containers", []):
            probe = c.get("livenessProbe")
            if probe is not None:
                probe["initialDelaySeconds"] = max(probe.get("initialDelaySeconds", 0), grace)
    return t


@dataclass(frozen=True)
class ServiceWorkload:
    """The workloads that run a service's tasks: one Deployment, or one per capacity provider
    when the strategy splits tasks across several; or one DaemonSet."""

    manifests: tuple[Obj, ...]
    warnings: tuple[TranslationWarning, ...] = field(default=())

    @property
    def manifest(self) -> Obj:
        """The first (for a service on one capacity provider: the only) workload."""
        return self.manifests[0]

    def refs(self) -> list[str]:
        return [f"{m['kind']}/{m['metadata']['name']}" for m in self.manifests]


def effective_strategy(
    svc: CreateServiceRequest, cluster_default: list[CapacityProviderStrategyItem] | None
) -> list[CapacityProviderStrategyItem] | None:
    """The capacity provider strategy the service runs with: its own, else (when it names no
    launch type either) its cluster's defaultCapacityProviderStrategy, as in ECS."""
    if svc.capacityProviderStrategy:
        return list(svc.capacityProviderStrategy)
    if svc.launchType is None and cluster_default:
        return list(cluster_default)
    return None


def provider_workload_name(name: str, providers: list[str], provider: str) -> str:
    """``<service>-<provider>`` (DNS-safe, distinct for every provider of the strategy)."""
    taken: set[str] = set()
    for p in providers:
        label = unique_label(dns_label(p, limit=63), p, taken)
        if p == provider:
            return f"{name}-{label}"
    raise KeyError(provider)


def _require_any_pool(pod_spec: Obj, pools: list[Placement]) -> None:
    """Narrow the pod to the nodes of any of ``pools`` (ORed node selector terms, tolerations
    of all of them)."""
    node_affinity = pod_spec.setdefault("affinity", {}).setdefault("nodeAffinity", {})
    required = node_affinity.setdefault("requiredDuringSchedulingIgnoredDuringExecution", {})
    required["nodeSelectorTerms"] = and_terms(
        required.get("nodeSelectorTerms"), [selector_term(sel) for sel, _ in pools]
    )
    tolerations = pod_spec.get("tolerations", [])
    for _, tols in pools:
        tolerations += [t for t in tols if t not in tolerations]
    if tolerations:
        pod_spec["tolerations"] = tolerations


def _avoid_draining(pod_spec: Obj) -> Obj:
    spec = copy.deepcopy(pod_spec)
    node_affinity = spec.setdefault("affinity", {}).setdefault("nodeAffinity", {})
    required = node_affinity.setdefault("requiredDuringSchedulingIgnoredDuringExecution", {})
    required["nodeSelectorTerms"] = and_terms(
        required.get("nodeSelectorTerms"),
        [{"matchExpressions": [{"key": constants.INSTANCE_STATUS, "operator": "NotIn", "values": [DRAINING]}]}],
    )
    return spec


def _launch(
    svc: CreateServiceRequest,
    cp_strategy: list[CapacityProviderStrategyItem] | None,
    compatibilities: Sequence[str] | None,
    capacity_pools: dict[str, Placement] | None,
) -> tuple[Launch, list[tuple[str | None, Placement]]]:
    """ECS's launch type for the service, and the node pool of each provider of its strategy
    (one unnamed part without a strategy). Raises ServiceError naming the field ECS refuses
    (the cluster's defaultCapacityProviderStrategy when the service inherited it)."""
    try:
        launch = resolve_launch(svc.launchType, cp_strategy, None if compatibilities is None else list(compatibilities))
        parts: list[tuple[str | None, Placement]] = [
            (p, pod_placement(launch.for_provider(p), capacity_pools)) for p in launch.providers
        ] or [(None, pod_placement(launch, capacity_pools))]
    except LaunchError as e:
        field_ = e.field
        if not svc.capacityProviderStrategy and cp_strategy and field_.startswith("capacityProviderStrategy"):
            field_ = f"cluster {cluster_name(svc.cluster)} defaultCapacityProviderStrategy"
        raise ServiceError(field_, str(e).split(": ", 1)[1]) from e
    return launch, parts


def workload(
    svc: CreateServiceRequest,
    *,
    name: str,
    namespace: str,
    owner: Obj,
    template: Obj,
    task_definition: str,
    compatibilities: Sequence[str] | None = None,
    capacity_pools: dict[str, Placement] | None = None,
    scheduler_name: str | None = None,
    cluster_pools: list[dict[str, str]] | None = None,
    default_strategy: list[CapacityProviderStrategyItem] | None = None,
    revision: str | None = None,
) -> ServiceWorkload:
    """The Deployment(s) (REPLICA) or DaemonSet (DAEMON) that run the service's tasks.

    ``cluster_pools``: node pools of the cluster's EC2 capacity providers (None/empty: the
    cluster's container instances are the nodes labelled for it, or unclaimed ones for
    ``default``); EC2 tasks never land outside them (clusters isolate workloads).

    A capacity provider strategy of several providers splits a REPLICA service's tasks by
    base and weight (:func:`ecs_operator.capacity.assign_tasks`): one Deployment per provider,
    ``<service>-<provider>``, each on its provider's nodes, every one listed even at 0
    replicas; a DAEMON service runs on the nodes of every provider of its strategy.
    ``default_strategy``: the cluster's defaultCapacityProviderStrategy.

    ``compatibilities``: the task definition's requiresCompatibilities (ECS refuses a launch
    type the task definition does not support). ``scheduler_name``: the pods'
    ``spec.schedulerName`` (e.g. ``ecs-scheduler``, the kube-scheduler with the ECS placement
    extender); None keeps the cluster's default scheduler.

    ``revision``: the service revision these workloads run (BLUE_GREEN, LINEAR and CANARY
    deployments run each revision beside the others): the workloads are named ``<name>-<revision>``
    (``<name>-<provider>-<revision>``), and they, their selector and their pods carry the label
    ``ecs.seed.dev/service-revision``."""
    validate(svc)
    strategy = scheduling_strategy(svc)
    dc = svc.deploymentConfiguration
    warnings = service_warnings(svc)
    cp_strategy = effective_strategy(svc, default_strategy)
    launch, parts = _launch(svc, cp_strategy, compatibilities, capacity_pools)
    if strategy == DAEMON and launch.launch_type == "FARGATE":
        raise ServiceError(
            "schedulingStrategy", "The daemon scheduling strategy is not supported with the FARGATE launch type."
        )
    warnings.extend(TranslationWarning(f, m) for f, m in launch.warnings)
    labels = {
        LABEL_SERVICE: name,
        LABEL_CLUSTER: cluster_label(svc.cluster),
        "app.kubernetes.io/managed-by": "ecs-operator",
    }
    revision_label = {constants.SERVICE_REVISION: revision} if revision else {}
    labels.update(revision_label)
    suffix = f"-{revision}" if revision else ""
    pod_template = _pod_template(template, name=name, svc=svc, task_definition=task_definition)
    pod_template["metadata"]["labels"].update(revision_label)
    warnings.extend(
        apply_placement(
            pod_template,
            svc.placementConstraints,
            svc.placementStrategy,
            f"service:{svc.serviceName or name}",
            daemon=strategy == DAEMON,
        )
    )
    if scheduler_name:
        pod_template["spec"]["schedulerName"] = scheduler_name

    def placed(provider: str | None, placement: Placement) -> Obj:
        t = copy.deepcopy(pod_template)
        node_selector, tolerations = placement
        if node_selector:
            pod_spec = t["spec"]
            pod_spec["nodeSelector"] = {**pod_spec.get("nodeSelector", {}), **node_selector}
            pod_spec["tolerations"] = pod_spec.get("tolerations", []) + tolerations
        if launch.launch_type != "FARGATE" and provider is None:
            t["spec"] = restrict_to_cluster(t["spec"], cluster_name(svc.cluster), cluster_pools)
        return t

    def metadata(workload_name: str, extra_labels: dict[str, str] | None = None) -> Obj:
        return {
            "name": workload_name,
            "namespace": namespace,
            "labels": {**labels, **(extra_labels or {})},
            "annotations": {ANNOTATION_TASK_DEFINITION: task_definition},
            "ownerReferences": [owner],
        }

    if strategy == DAEMON:
        if len(parts) > 1:
            t = copy.deepcopy(pod_template)
            _require_any_pool(t["spec"], [placement for _, placement in parts])
        else:
            t = placed(*parts[0])
        # ECS stops a daemon's task on a DRAINING container instance (a cordoned node, which the
        # operator labels): the DaemonSet controller removes pods from nodes that stop matching.
        t["spec"] = _avoid_draining(t["spec"])
        minimum = 0 if dc is None or dc.minimumHealthyPercent is None else dc.minimumHealthyPercent
        unavailable: int | str = f"{100 - minimum}%" if minimum < 100 else 1
        if minimum >= 100:
            warnings.append(
                TranslationWarning(
                    "deploymentConfiguration.minimumHealthyPercent",
                    "a daemon task must stop before its replacement starts; one node at a time is updated",
                )
            )
        manifest = {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": metadata(name),
            "spec": {
                "selector": {"matchLabels": {LABEL_SERVICE: name}},
                "template": t,
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": unavailable}},
                "revisionHistoryLimit": 10,
            },
        }
        return ServiceWorkload((manifest,), tuple(warnings))

    desired = svc.desiredCount or 0
    maximum = dc.maximumPercent if dc else None
    minimum_healthy = dc.minimumHealthyPercent if dc else None

    def deployment(
        workload_name: str,
        replicas: int,
        template_: Obj,
        selector: dict[str, str],
        extra_labels: dict[str, str] | None = None,
    ) -> Obj:
        limits = rolling_limits(replicas, maximum, minimum_healthy)
        warnings.extend(w for w in limits.warnings if w not in warnings)
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": metadata(workload_name, extra_labels),
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": selector},
                "template": template_,
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxSurge": limits.max_surge, "maxUnavailable": limits.max_unavailable},
                },
                "revisionHistoryLimit": 10,
                "progressDeadlineSeconds": 600,
            },
        }

    if len(parts) == 1:
        only = deployment(name + suffix, desired, placed(*parts[0]), {LABEL_SERVICE: name, **revision_label})
        return ServiceWorkload((only,), tuple(warnings))
    manifests = []
    providers = list(launch.providers)
    placements = dict(parts)
    for provider, count in split_tasks(desired, cp_strategy or []):
        provider_label = {LABEL_CAPACITY_PROVIDER: family_label(provider)}
        t = placed(provider, placements[provider])
        t["metadata"].setdefault("labels", {}).update(provider_label)
        manifests.append(
            deployment(
                provider_workload_name(name, providers, provider) + suffix,
                count,
                t,
                {LABEL_SERVICE: name, **provider_label, **revision_label},
                provider_label,
            )
        )
    return ServiceWorkload(tuple(manifests), tuple(warnings))


def disruption_budgets(svc: CreateServiceRequest, manifests: tuple[Obj, ...], owner: Obj) -> list[Obj]:
    """One PodDisruptionBudget per Deployment of the service: at least ECS's minimum healthy
    count of its share (desired - maxUnavailable as :func:`rolling_limits` computes it) stays
    available through evictions (``kubectl drain``), which then wait for the replacements
    :func:`drain` starts. Unhealthy tasks may always be evicted. Daemon tasks have none
    (drains skip DaemonSet pods)."""
    dc = svc.deploymentConfiguration
    out = []
    for m in manifests:
        if m["kind"] != "Deployment":
            continue
        share = m["spec"]["replicas"]
        limits = rolling_limits(share, dc.maximumPercent if dc else None, dc.minimumHealthyPercent if dc else None)
        md = m["metadata"]
        out.append(
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": {
                    "name": md["name"],
                    "namespace": md["namespace"],
                    "labels": dict(md["labels"]),
                    "ownerReferences": [owner],
                },
                "spec": {
                    "selector": m["spec"]["selector"],
                    "minAvailable": share - limits.max_unavailable,
                    "unhealthyPodEvictionPolicy": "AlwaysAllow",
                },
            }
        )
    return out


def circuit_breaker(svc: CreateServiceRequest) -> DeploymentCircuitBreaker | None:
    """The service's deployment circuit breaker, when enabled."""
    dc = svc.deploymentConfiguration
    cb = dc.deploymentCircuitBreaker if dc else None
    return cb if cb is not None and cb.enable else None


def workloads_complete(svc: CreateServiceRequest, workloads: list[Obj]) -> bool:
    """Every Deployment of the service has observed its spec and runs all its replicas,
    updated and available, and together they run the service's desiredCount."""
    if not workloads:
        return (svc.desiredCount or 0) == 0
    total = 0
    for w in workloads:
        st, spec = w.get("status", {}) or {}, w.get("spec", {}) or {}
        want = spec.get("replicas", 0)
        total += want
        if w.get("metadata", {}).get("generation") != st.get("observedGeneration"):
            return False
        if not (
            st.get("updatedReplicas", 0) == want
            and st.get("availableReplicas", 0) == want
            and st.get("replicas", 0) == want
        ):
            return False
    return total == (svc.desiredCount or 0)
