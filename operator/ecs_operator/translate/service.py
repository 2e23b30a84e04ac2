"""ECSService -> Deployment (REPLICA) or DaemonSet (DAEMON), and the ECS view of its status.

Pure: no client, no clock (``now`` is passed in), no randomness. ECS fields Kubernetes cannot
express (yet) are reported as warnings, never dropped silently.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from dataclasses import dataclass, field

from .. import GROUP, constants
from ..domain.capacity import LABEL_CAPACITY_PROVIDER, LaunchError, pod_placement, resolve_launch, split_tasks
from ..domain.membership import and_terms, restrict_to_cluster, selected, selector_term
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
from ..models.generated import CreateServiceRequest
from .names import dns_label, unique_label
from .taskdef import TranslationWarning

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
    "deploymentConfiguration": "maximumPercent/minimumHealthyPercent -> maxSurge/maxUnavailable",
    "healthCheckGracePeriodSeconds": "livenessProbe initialDelaySeconds of the task's containers",
    "enableExecuteCommand": "kubectl exec works on every task; nothing to translate",
    "loadBalancers": "a Service (ClusterIP) named like the ECSService, one port per container port",
    "serviceRegistries": "a headless Service <name>-discovery: DNS records for every task",
    "placementConstraints": "validated when applied; memberOf on node attributes -> nodeAffinity, distinctInstance "
    "-> podAntiAffinity; the rest (task:group, runningTasksCount...) is reported",
    "launchType": "FARGATE -> nodeSelector + toleration for the FARGATE virtual nodes; EC2 -> ordinary nodes",
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
    "availabilityZoneRebalancing": "availability zone rebalancing is not implemented",
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
    "alarms": "CloudWatch alarms cannot roll back a deployment here",
    "strategy": "only ROLLING deployments are supported",
    "bakeTimeInMinutes": "bake time applies to blue/green deployments, which are not supported",
    "lifecycleHooks": "deployment lifecycle hooks (Lambda) are not supported",
    "linearConfiguration": "linear deployments are not supported",
    "canaryConfiguration": "canary deployments are not supported",
    "earlySuccessCriteria": "early success criteria are not supported",
}


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
    return out


def apply_placement(
    t: dict, constraints_in: list | None, strategies_in: list | None, group: str, daemon: bool = False
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


def _pod_template(template: dict, *, name: str, svc: CreateServiceRequest, task_definition: str) -> dict:
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

    manifests: tuple[dict, ...]
    warnings: tuple[TranslationWarning, ...] = field(default=())

    @property
    def manifest(self) -> dict:
        """The first (for a service on one capacity provider: the only) workload."""
        return self.manifests[0]

    def refs(self) -> list[str]:
        return [f"{m['kind']}/{m['metadata']['name']}" for m in self.manifests]


def effective_strategy(svc: CreateServiceRequest, cluster_default: list | None) -> list | None:
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


def _require_any_pool(pod_spec: dict, pools: list[tuple[dict, list]]) -> None:
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


DRAINING = "DRAINING"
#: Pod annotation the ReplicaSet controller reads to pick which pods to remove first.
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"


def _avoid_draining(pod_spec: dict) -> dict:
    spec = copy.deepcopy(pod_spec)
    node_affinity = spec.setdefault("affinity", {}).setdefault("nodeAffinity", {})
    required = node_affinity.setdefault("requiredDuringSchedulingIgnoredDuringExecution", {})
    required["nodeSelectorTerms"] = and_terms(
        required.get("nodeSelectorTerms"),
        [{"matchExpressions": [{"key": constants.INSTANCE_STATUS, "operator": "NotIn", "values": [DRAINING]}]}],
    )
    return spec


def workload(
    svc: CreateServiceRequest,
    *,
    name: str,
    namespace: str,
    owner: dict,
    template: dict,
    task_definition: str,
    compatibilities: list[str] | None = None,
    capacity_pools: dict[str, tuple[dict, list]] | None = None,
    scheduler_name: str | None = None,
    cluster_pools: list[dict[str, str]] | None = None,
    default_strategy: list | None = None,
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
    extender); None keeps the cluster's default scheduler."""
    validate(svc)
    strategy = scheduling_strategy(svc)
    dc = svc.deploymentConfiguration
    warnings = service_warnings(svc)
    cp_strategy = effective_strategy(svc, default_strategy)
    try:
        launch = resolve_launch(svc.launchType, cp_strategy, compatibilities)
        parts = [(p, pod_placement(launch.for_provider(p), capacity_pools)) for p in launch.providers] or [
            (None, pod_placement(launch, capacity_pools))
        ]
    except LaunchError as e:
        field_ = e.field
        if not svc.capacityProviderStrategy and cp_strategy and field_.startswith("capacityProviderStrategy"):
            field_ = f"cluster {cluster_name(svc.cluster)} defaultCapacityProviderStrategy"
        raise ServiceError(field_, str(e).split(": ", 1)[1]) from e
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
    pod_template = _pod_template(template, name=name, svc=svc, task_definition=task_definition)
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

    def placed(provider: str | None, placement: tuple[dict, list]) -> dict:
        t = copy.deepcopy(pod_template)
        node_selector, tolerations = placement
        if node_selector:
            pod_spec = t["spec"]
            pod_spec["nodeSelector"] = {**pod_spec.get("nodeSelector", {}), **node_selector}
            pod_spec["tolerations"] = pod_spec.get("tolerations", []) + tolerations
        if launch.launch_type != "FARGATE" and provider is None:
            t["spec"] = restrict_to_cluster(t["spec"], cluster_name(svc.cluster), cluster_pools)
        return t

    def metadata(workload_name: str, extra_labels: dict | None = None) -> dict:
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
    minimum = dc.minimumHealthyPercent if dc else None

    def deployment(
        workload_name: str, replicas: int, template_: dict, selector: dict[str, str], extra_labels: dict | None = None
    ) -> dict:
        limits = rolling_limits(replicas, maximum, minimum)
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
        return ServiceWorkload((deployment(name, desired, placed(*parts[0]), {LABEL_SERVICE: name}),), tuple(warnings))
    manifests = []
    providers = list(launch.providers)
    placements = dict(parts)
    for provider, count in split_tasks(desired, cp_strategy or []):
        provider_label = {LABEL_CAPACITY_PROVIDER: family_label(provider)}
        t = placed(provider, placements[provider])
        t["metadata"].setdefault("labels", {}).update(provider_label)
        manifests.append(
            deployment(
                provider_workload_name(name, providers, provider),
                count,
                t,
                {LABEL_SERVICE: name, **provider_label},
                provider_label,
            )
        )
    return ServiceWorkload(tuple(manifests), tuple(warnings))


def disruption_budgets(svc: CreateServiceRequest, manifests: tuple[dict, ...], owner: dict) -> list[dict]:
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


def _ready(pod: dict) -> bool:
    return (
        is_active(pod)
        and pod.get("status", {}).get("phase") == "Running"
        and any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in pod.get("status", {}).get("conditions") or []
        )
    )


@dataclass(frozen=True)
class DrainPlan:
    """How a service replaces its tasks on DRAINING container instances (cordoned nodes)."""

    manifests: tuple[dict, ...]  # the workloads, Deployment replicas raised while replacements start
    mark: tuple[str, ...] = ()  # pods on draining nodes: removed first when a ReplicaSet scales in
    stop: tuple[str, ...] = ()  # pods on draining nodes to stop now (within minimumHealthyPercent)


def drain(
    svc: CreateServiceRequest, manifests: tuple[dict, ...], pods: list[dict], draining_nodes: set[str]
) -> DrainPlan:
    """ECS's draining of a service's tasks, within its deployment limits.

    For each Deployment (one share of desired tasks): while some of its tasks run on draining
    nodes, it may run up to maximumPercent: replicas go up by as many tasks as drain (within
    the surge ECS allows), so replacements start on other instances first; once the tasks
    elsewhere that are healthy cover the share, replicas go back down and the ReplicaSet
    removes the draining ones first (they carry the lowest pod-deletion-cost). Tasks the surge
    cannot cover are stopped at once, as many as minimumHealthyPercent allows, and replaced
    elsewhere. DaemonSets are not touched here: their pods leave draining nodes by affinity."""
    if not draining_nodes:
        return DrainPlan(manifests)
    dc = svc.deploymentConfiguration
    out, mark, stop = [], [], []
    for m in manifests:
        if m["kind"] != "Deployment":
            out.append(m)
            continue
        share = m["spec"]["replicas"]
        mine = [p for p in pods if is_active(p) and selected(p, m["spec"]["selector"]["matchLabels"])]
        on_draining = [p for p in mine if (p.get("spec") or {}).get("nodeName") in draining_nodes]
        draining_names = {p["metadata"]["name"] for p in on_draining}
        if not on_draining:
            out.append(m)
            continue
        limits = rolling_limits(share, dc.maximumPercent if dc else None, dc.minimumHealthyPercent if dc else None)
        healthy_elsewhere = sum(1 for p in mine if p["metadata"]["name"] not in draining_names and _ready(p))
        mark += sorted(draining_names)
        if healthy_elsewhere >= share:
            out.append(m)  # the ReplicaSet scales in: the draining tasks go first
            continue
        surge = min(len(on_draining), limits.max_surge)
        m = copy.deepcopy(m)
        m["spec"]["replicas"] = share + surge
        out.append(m)
        uncovered = len(on_draining) - surge
        healthy = sum(1 for p in mine if _ready(p))
        may_stop = max(healthy - (share - limits.max_unavailable), 0)
        # Tasks that are not healthy anyway go first; a task stopped already is not counted twice.
        order = sorted(on_draining, key=lambda p: (_ready(p), p["metadata"]["name"]))
        n_unhealthy = sum(1 for p in on_draining if not _ready(p))
        n = min(uncovered, n_unhealthy + may_stop)
        stop += [p["metadata"]["name"] for p in order[:n]]
    return DrainPlan(tuple(out), tuple(mark), tuple(stop))


def _container_ports(td_template: dict, k8s_container: str) -> set[int]:
    for c in td_template.get("spec", {}).get("containers", []):
        if c["name"] == k8s_container:
            return {p["containerPort"] for p in c.get("ports", [])}
    return set()


def _resolve_container(field_: str, ecs_name: str | None, container_names: dict[str, str]) -> str:
    if not ecs_name or ecs_name not in container_names:
        raise ServiceError(
            f"{field_}.containerName", f"The container {ecs_name} does not exist in the task definition."
        )
    return container_names[ecs_name]


def network_services(
    svc: CreateServiceRequest,
    *,
    name: str,
    namespace: str,
    owner: dict,
    template: dict,
    container_names: dict[str, str],
) -> tuple[list[dict], list[TranslationWarning]]:
    """loadBalancers -> a ClusterIP Service; serviceRegistries -> a headless Service (DNS)."""
    out: list[dict] = []
    warnings: list[TranslationWarning] = []
    labels = {LABEL_SERVICE: name, "app.kubernetes.io/managed-by": "ecs-operator"}
    selector = {LABEL_SERVICE: name}
    if svc.loadBalancers:
        ports, annotations = [], {}
        for i, lb in enumerate(svc.loadBalancers):
            field_ = f"loadBalancers[{i}]"
            container = _resolve_container(field_, lb.containerName, container_names)
            if lb.containerPort is None or lb.containerPort not in _container_ports(template, container):
                raise ServiceError(
                    f"{field_}.containerPort",
                    f"The container {lb.containerName} does not have a container port "
                    f"{lb.containerPort} defined in the task definition.",
                )
            if lb.targetGroupArn:
                annotations[f"{GROUP}/target-group-{i}"] = lb.targetGroupArn
            if lb.loadBalancerName:
                annotations[f"{GROUP}/load-balancer-{i}"] = lb.loadBalancerName
            if lb.containerPort not in {p["port"] for p in ports}:
                ports.append(
                    {
                        "name": f"port-{lb.containerPort}",
                        "port": lb.containerPort,
                        "targetPort": lb.containerPort,
                        "protocol": "TCP",
                    }
                )
        warnings.append(
            TranslationWarning(
                "loadBalancers",
                "no AWS load balancer or target group is provisioned; the tasks are reachable "
                f"through the Service {name} (change its type or add an Ingress to expose it)",
            )
        )
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "labels": labels,
                    "annotations": annotations,
                    "ownerReferences": [owner],
                },
                "spec": {"type": "ClusterIP", "selector": selector, "ports": ports},
            }
        )
    if svc.serviceRegistries:
        ports = []
        for i, reg in enumerate(svc.serviceRegistries):
            if reg.containerName:
                _resolve_container(f"serviceRegistries[{i}]", reg.containerName, container_names)
            port = reg.containerPort or reg.port
            if port and port not in {p["port"] for p in ports}:
                ports.append({"name": f"port-{port}", "port": port, "targetPort": port, "protocol": "TCP"})
        spec: dict = {"clusterIP": "None", "selector": selector, "publishNotReadyAddresses": False}
        if ports:
            spec["ports"] = ports
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {
                    "name": f"{name[:53]}-discovery",
                    "namespace": namespace,
                    "labels": labels,
                    "annotations": {
                        f"{GROUP}/registry-arns": ",".join(r.registryArn or "" for r in svc.serviceRegistries)
                    },
                    "ownerReferences": [owner],
                },
                "spec": spec,
            }
        )
    return out, warnings


# ------------------------------------------------------------------------------------------
# Status: what ECS's DescribeServices would show, computed from what Kubernetes reports.
# ------------------------------------------------------------------------------------------


def is_active(pod: dict) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and pod.get("status", {}).get("phase") in ("Pending", "Running")


def _counts(pods: list[dict]) -> tuple[int, int]:
    running = sum(1 for p in pods if is_active(p) and p["status"].get("phase") == "Running")
    pending = sum(1 for p in pods if is_active(p) and p["status"].get("phase") == "Pending")
    return running, pending


def _unschedulable(pods: list[dict]) -> list[dict]:
    out = []
    for p in pods:
        if not is_active(p) or p["status"].get("phase") != "Pending":
            continue
        for c in p["status"].get("conditions", []) or []:
            if c.get("type") == "PodScheduled" and c.get("status") == "False" and c.get("reason") == "Unschedulable":
                out.append(p)
    return out


def _failed_tasks(pods: list[dict]) -> int:
    """Tasks of a deployment that stopped: every container restart is a task ECS would have
    stopped and replaced, and a Failed pod is a stopped task."""
    n = 0
    for p in pods:
        st = p.get("status", {})
        if st.get("phase") == "Failed":
            n += 1
            continue
        for cs in (st.get("containerStatuses") or []) + (st.get("initContainerStatuses") or []):
            n += cs.get("restartCount", 0) or 0
    return n


def circuit_breaker(svc: CreateServiceRequest):
    dc = svc.deploymentConfiguration
    cb = dc.deploymentCircuitBreaker if dc else None
    return cb if cb is not None and cb.enable else None


def _event(message: str, now: str) -> dict:
    eid = hashlib.sha256(f"{now}/{message}".encode()).hexdigest()[:36]
    return {"id": eid, "createdAt": now, "message": message}


def _deployment_id(key: str) -> str:
    return f"ecs-svc/{int(hashlib.sha256(key.encode()).hexdigest()[:15], 16)}"


_REVISION = "deployment.kubernetes.io/revision"


def _revision(obj: dict) -> int:
    try:
        return int((obj.get("metadata", {}).get("annotations") or {}).get(_REVISION, "0"))
    except ValueError:
        return 0


def _owned_by(obj: dict, workloads: list[dict]) -> dict | None:
    """The workload among ``workloads`` that owns ``obj`` (a ReplicaSet): by owner uid; an
    object without owner references belongs to the only workload, if there is one."""
    refs = obj.get("metadata", {}).get("ownerReferences") or []
    if not refs:
        return workloads[0] if len(workloads) == 1 else None
    uids = {r.get("uid") for r in refs}
    return next((w for w in workloads if w.get("metadata", {}).get("uid") in uids), None)


def _pods_of(rs: dict, pods: list[dict]) -> list[dict]:
    uid = rs.get("metadata", {}).get("uid")
    if uid:
        owned = [p for p in pods if any(r.get("uid") == uid for r in p["metadata"].get("ownerReferences") or [])]
        if owned:
            return owned
    h = rs["metadata"].get("labels", {}).get("pod-template-hash")
    return [p for p in pods if h is not None and p["metadata"].get("labels", {}).get("pod-template-hash") == h]


def workloads_complete(svc: CreateServiceRequest, workloads: list[dict]) -> bool:
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


def service_status(
    *,
    svc: CreateServiceRequest,
    name: str,
    workloads: list[dict],
    replicasets: list[dict],
    pods: list[dict],
    previous: dict,
    task_definition: str,
    now: str,
    started_tasks: list[str] | None = None,
    stopped_tasks: list[str] | None = None,
    capacity_provider_strategy: list | None = None,
) -> tuple[dict, bool]:
    """ECS fields of the status (without conditions): counts, deployments, rolloutState, events;
    and whether the service is in a steady state.

    ``workloads``: the service's current Deployment(s) (one per capacity provider of a split
    strategy) or its DaemonSet; ``replicasets`` and ``pods``: all of the service's, including
    those of workloads it no longer wants (they count as an ACTIVE deployment until gone).
    ``started_tasks`` / ``stopped_tasks``: ids of the tasks launched / gone since the last
    status (named in ECS's "has started N tasks" / "has stopped N running tasks" events)."""
    service_name = svc.serviceName or name
    strategy = scheduling_strategy(svc)
    workloads = [w for w in workloads if w]
    workload_obj = workloads[0] if workloads else None
    wl_status = (workload_obj or {}).get("status", {})
    running, pending = _counts(pods)
    if strategy == DAEMON:
        desired = wl_status.get("desiredNumberScheduled", 0)
    else:
        desired = svc.desiredCount or 0

    deployments: list[dict] = []
    rollout_state, rollout_reason = "IN_PROGRESS", f"ECS deployment {service_name} in progress."
    cb = circuit_breaker(svc)
    deadline_exceeded = any(
        c.get("type") == "Progressing" and c.get("status") == "False" and c.get("reason") == "ProgressDeadlineExceeded"
        for w in workloads
        for c in (w.get("status", {}) or {}).get("conditions", []) or []
    )
    failed = False

    if strategy == DAEMON:
        generation_seen = (workload_obj or {}).get("metadata", {}).get("generation") == wl_status.get(
            "observedGeneration"
        )
        primary_pods = [
            p for p in pods if p["metadata"].get("annotations", {}).get(ANNOTATION_TASK_DEFINITION) == task_definition
        ]
        old_pods = [p for p in pods if p not in primary_pods]
        complete = (
            generation_seen
            and wl_status.get("updatedNumberScheduled", 0) == desired
            and wl_status.get("numberAvailable", 0) == desired
            and not [p for p in old_pods if is_active(p)]
        )
        groups = [("PRIMARY", task_definition, primary_pods, desired)]
        by_td: dict[str, list[dict]] = {}
        for p in old_pods:
            by_td.setdefault(
                p["metadata"].get("annotations", {}).get(ANNOTATION_TASK_DEFINITION, "unknown"), []
            ).append(p)
        groups += [("ACTIVE", td, ps, 0) for td, ps in sorted(by_td.items())]
    else:
        # The PRIMARY deployment: each current Deployment's newest ReplicaSet; ACTIVE: the
        # older ReplicaSets (and those of Deployments the service no longer wants) still
        # running tasks, one deployment per task definition.
        primary_rs: list[dict] = []
        for w in workloads:
            mine = sorted((rs for rs in replicasets if _owned_by(rs, workloads) is w), key=_revision, reverse=True)
            current = (w.get("metadata", {}).get("annotations") or {}).get(_REVISION)
            pick = next(
                (
                    rs
                    for rs in mine
                    if current is None or (rs["metadata"].get("annotations") or {}).get(_REVISION) == current
                ),
                None,
            )
            if pick is not None:
                primary_rs.append(pick)
        primary_ids = {id(rs) for rs in primary_rs}
        primary_td = (
            next(
                (
                    rs["spec"]
                    .get("template", {})
                    .get("metadata", {})
                    .get("annotations", {})
                    .get(ANNOTATION_TASK_DEFINITION)
                    for rs in primary_rs
                ),
                None,
            )
            or task_definition
        )
        groups = [
            (
                "PRIMARY",
                primary_td,
                [p for rs in primary_rs for p in _pods_of(rs, pods)],
                sum(rs["spec"].get("replicas", 0) for rs in primary_rs),
            )
        ]
        active: dict[str, tuple[list[dict], int]] = {}
        for rs in sorted(replicasets, key=_revision, reverse=True):
            if id(rs) in primary_ids:
                continue
            rs_pods = _pods_of(rs, pods)
            replicas = rs["spec"].get("replicas", 0)
            if replicas > 0 or any(is_active(p) for p in rs_pods):
                td = (
                    rs["spec"]
                    .get("template", {})
                    .get("metadata", {})
                    .get("annotations", {})
                    .get(ANNOTATION_TASK_DEFINITION, "unknown")
                )
                group_pods, group_desired = active.get(td, ([], 0))
                active[td] = (group_pods + rs_pods, group_desired + replicas)
        groups += [("ACTIVE", td, ps, n) for td, (ps, n) in active.items()]
        complete = workloads_complete(svc, workloads) and not active

    prev_deployments = {d.get("id"): d for d in previous.get("deployments", []) or []}
    for status_word, td, group_pods, group_desired in groups:
        did = (
            _deployment_id(f"{name}/{td}/{status_word == 'PRIMARY'}")
            if status_word == "ACTIVE"
            else _deployment_id(f"{name}/{td}")
        )
        g_running, g_pending = _counts(group_pods)
        prev = prev_deployments.get(did, {})
        failed_tasks = max(prev.get("failedTasks", 0), _failed_tasks(group_pods))
        d = {
            "id": did,
            "status": status_word,
            "taskDefinition": td,
            "desiredCount": group_desired,
            "pendingCount": g_pending,
            "runningCount": g_running,
            "failedTasks": failed_tasks,
            "createdAt": prev.get("createdAt", now),
            "updatedAt": now
            if (prev.get("runningCount"), prev.get("pendingCount")) != (g_running, g_pending)
            else prev.get("updatedAt", now),
        }
        if status_word == "PRIMARY":
            if (
                cb is not None
                and not complete
                and (
                    prev.get("rolloutState") == "FAILED"
                    or failed_tasks >= circuit_breaker_threshold(desired)
                    or deadline_exceeded
                )
            ):
                failed = True
                rollout_state = "FAILED"
                rollout_reason = "ECS deployment circuit breaker: tasks failed to start."
            elif complete:
                rollout_state = "COMPLETED"
                rollout_reason = f"ECS deployment {did} completed."
            d["rolloutState"] = rollout_state
            d["rolloutStateReason"] = rollout_reason
        else:
            d["rolloutState"] = prev.get("rolloutState", "COMPLETED")
        deployments.append(d)

    steady = rollout_state == "COMPLETED" and running == desired and pending == 0
    events = list(previous.get("events", []) or [])
    new_events: list[dict] = []
    was_steady = any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in previous.get("conditions", []) or []
    )
    for chunk in range(0, len(stopped_tasks or []), 10):
        ids = (stopped_tasks or [])[chunk : chunk + 10]
        new_events.append(
            _event(
                f"(service {service_name}) has stopped {len(ids)} running tasks: "
                + " ".join(f"(task {t})" for t in ids)
                + ".",
                now,
            )
        )
    for chunk in range(0, len(started_tasks or []), 10):
        ids = (started_tasks or [])[chunk : chunk + 10]
        new_events.append(
            _event(
                f"(service {service_name}) has started {len(ids)} tasks: " + " ".join(f"(task {t})" for t in ids) + ".",
                now,
            )
        )
    if (
        rollout_state == "COMPLETED"
        and deployments
        and (
            previous.get("rolloutState") != "COMPLETED"
            or (previous.get("deployments") or [{}])[0].get("id") != deployments[0]["id"]
        )
    ):
        new_events.append(
            _event(f"(service {service_name}) (deployment {deployments[0]['id']}) deployment completed.", now)
        )
    if steady and not was_steady:
        new_events.append(_event(f"(service {service_name}) has reached a steady state.", now))
    if _unschedulable(pods):
        msg = (
            f"(service {service_name}) was unable to place a task because no container instance met all of "
            "its requirements."
        )
        if not events or events[0].get("message") != msg:
            new_events.append(_event(msg, now))
    if failed and previous.get("rolloutState") != "FAILED":
        new_events.append(
            _event(
                f"(service {service_name}) (deployment {deployments[0]['id']}) deployment failed: "
                "tasks failed to start.",
                now,
            )
        )
    events = (list(reversed(new_events)) + events)[:100]

    return {
        "serviceName": service_name,
        "clusterArn": cluster_name(svc.cluster),
        "status": "ACTIVE",
        "desiredCount": desired,
        "runningCount": running,
        "pendingCount": pending,
        "taskDefinition": task_definition,
        "selector": f"{LABEL_SERVICE}={name}",
        **(
            {"capacityProviderStrategy": [i.model_dump(exclude_none=True) for i in capacity_provider_strategy]}
            if capacity_provider_strategy
            else {"launchType": svc.launchType or "EC2"}
        ),
        "deployments": deployments,
        "rolloutState": rollout_state,
        "rolloutStateReason": rollout_reason,
        "events": events,
    }, steady
