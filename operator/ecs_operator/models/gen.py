"""Generate the CRDs (``crds/*.yaml``) and pydantic models (``models/generated.py``) from botocore.

The source of truth is botocore's ECS service model (``ecs/2014-11-13/service-2.json``): every
CRD ``spec`` is an ECS API input shape, field for field, and every pydantic model is a botocore
shape with the same name.  Run ``python -m ecs_operator.models.gen`` to (re)write the files,
``python -m ecs_operator.models.gen --check`` to only compare.

Everything here is a pure function of the botocore model, so the output is deterministic:
properties keep botocore's member order (it is meaningful to readers of the AWS docs), everything
else is sorted or listed in a fixed order below.  botocore is imported lazily, so importing this
module (e.g. for :data:`KINDS` or :data:`FARGATE_CPU_MEMORY`) does not need it.
"""

from __future__ import annotations

import argparse
import html
import keyword
import re
import sys
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

GROUP = "ecs.seed.dev"
VERSION = "v1alpha1"
CATEGORIES = ("ecs",)

_MODELS_DIR = Path(__file__).resolve().parent
REPO_ROOT = _MODELS_DIR.parents[2]  # <repo>/operator/ecs_operator/models/gen.py
CRD_DIR = REPO_ROOT / "crds"
GENERATED_PY = _MODELS_DIR / "generated.py"

MAX_SENTENCES = 3
MAX_DESCRIPTION_CHARS = 1000
MAX_DOCSTRING_CHARS = 160

# --------------------------------------------------------------------------------------------
# The five kinds
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    kind: str
    plural: str
    short_names: tuple[str, ...]
    request_shape: str
    api_operation: str
    # The request member that defaults to metadata.name (so it is not required in the CRD).
    identity_member: str | None
    # Name of the pydantic class that validates ``spec`` (the request shape unless extended).
    spec_model: str = ""

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"

    @property
    def crd_file(self) -> str:
        return f"crds/{self.plural}.yaml"

    @property
    def model_name(self) -> str:
        return self.spec_model or self.request_shape


KINDS: tuple[Kind, ...] = (
    Kind(
        "TaskDefinition",
        "taskdefinitions",
        ("td", "taskdef"),
        "RegisterTaskDefinitionRequest",
        "RegisterTaskDefinition",
        "family",
    ),
    Kind("ECSService", "ecsservices", ("ecssvc",), "CreateServiceRequest", "CreateService", "serviceName"),
    Kind(
        "ECSCluster",
        "ecsclusters",
        ("ecscluster",),
        "CreateClusterRequest",
        "CreateCluster",
        "clusterName",
        spec_model="ClusterSpec",
    ),
    Kind("ECSTask", "ecstasks", ("ecstask",), "RunTaskRequest", "RunTask", None),
    Kind(
        "CapacityProvider",
        "capacityproviders",
        ("cp",),
        "CreateCapacityProviderRequest",
        "CreateCapacityProvider",
        "name",
        spec_model="CapacityProviderSpec",
    ),
)

ROOT_SHAPES: tuple[str, ...] = tuple(k.request_shape for k in KINDS)

# Identity members that default to the object's name: not required in the CRD nor the models.
IDENTITY_MEMBERS: frozenset[tuple[str, str]] = frozenset(
    (k.request_shape, k.identity_member) for k in KINDS if k.identity_member
)

# ECS string members that take "256" as well as "0.25 vCPU": int-or-string in the CRD, and
# int-or-str normalised to str in the models (so YAML ``cpu: 256`` works).
INT_OR_STRING_MEMBERS: frozenset[tuple[str, str]] = frozenset(
    {
        ("RegisterTaskDefinitionRequest", "cpu"),
        ("RegisterTaskDefinitionRequest", "memory"),
        ("TaskOverride", "cpu"),
        ("TaskOverride", "memory"),
    }
)

# Bounds botocore does not state, needed so the API server's CEL cost estimate of the
# TaskDefinition rules stays within limits.  Generous enough for real task definitions.
# Keys are (shape, member); values are merged into that member's schema.  ECS itself allows at
# most 10 containers per task definition and 255-character container names.
MEMBER_BOUNDS: Mapping[tuple[str, str], Mapping[str, int]] = {
    ("RegisterTaskDefinitionRequest", "containerDefinitions"): {"minItems": 1, "maxItems": 10},
    ("RegisterTaskDefinitionRequest", "volumes"): {"maxItems": 100},
    ("RegisterTaskDefinitionRequest", "requiresCompatibilities"): {"maxItems": 5},
    ("ContainerDefinition", "name"): {"maxLength": 255},
    ("ContainerDefinition", "links"): {"maxItems": 100},
    ("ContainerDefinition", "portMappings"): {"maxItems": 100},
    ("ContainerDefinition", "dependsOn"): {"maxItems": 10},
    ("ContainerDefinition", "resourceRequirements"): {"maxItems": 10},
    ("ResourceRequirement", "value"): {"maxLength": 64},
    ("ContainerDependency", "containerName"): {"maxLength": 255},
    ("LinuxParameters", "devices"): {"maxItems": 100},
    # "A capacity provider strategy can contain a maximum of 20 capacity providers."
    ("CreateServiceRequest", "capacityProviderStrategy"): {"maxItems": 20},
    ("RunTaskRequest", "capacityProviderStrategy"): {"maxItems": 20},
    ("CreateClusterRequest", "defaultCapacityProviderStrategy"): {"maxItems": 20},
    ("CreateClusterRequest", "clusterName"): {"maxLength": 255},
}

# --------------------------------------------------------------------------------------------
# Fargate task size table and the TaskDefinition CEL rules
# --------------------------------------------------------------------------------------------


def _mib_range(start: int, stop: int, step: int) -> tuple[int, ...]:
    return tuple(range(start, stop + 1, step))


# Task-level cpu units -> valid task-level memory (MiB) on Fargate (Linux).
FARGATE_CPU_MEMORY: Mapping[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: _mib_range(1024, 4096, 1024),
    1024: _mib_range(2048, 8192, 1024),
    2048: _mib_range(4096, 16384, 1024),
    4096: _mib_range(8192, 30720, 1024),
    8192: _mib_range(16384, 61440, 4096),
    16384: _mib_range(32768, 122880, 8192),
}


def _number(value: float) -> str:
    return f"{value:g}"


def fargate_cpu_spellings(units: int) -> list[str]:
    """Spellings ECS accepts for a task cpu value: "1024", "1 vCPU", "1 vcpu" (and ".25 vCPU")."""
    vcpu = _number(units / 1024)
    forms = [vcpu] if not vcpu.startswith("0.") else [vcpu[1:], vcpu]
    return [str(units)] + [f"{v} {unit}" for unit in ("vCPU", "vcpu") for v in forms]


def fargate_memory_spellings(mib: int) -> list[str]:
    """Spellings ECS accepts for a task memory value: "2048", "2 GB", "2GB"."""
    gb = _number(mib / 1024)
    return [str(mib), f"{gb} GB", f"{gb}GB"]


def _cel_str_list(values: Iterable[str]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def _fargate_memory_text(mems: tuple[int, ...]) -> str:
    if len(mems) <= 3:
        return ", ".join(map(str, mems[:-1])) + f" or {mems[-1]}"
    return f"{mems[0]} to {mems[-1]} in steps of {mems[1] - mems[0]}"


def fargate_size_rules(fargate: str) -> list[tuple[str, str]]:
    """One rule for the cpu value, then one per cpu value for its memory values.

    Each rule tests membership in a list *literal*: the API server's cost estimator knows a
    literal's size, whereas for lists pulled out of a nested literal (a table of rows) it
    assumes the 3 MiB request limit and refuses the rule.
    """
    all_cpu = [s for cpu in FARGATE_CPU_MEMORY for s in fargate_cpu_spellings(cpu)]
    rules = [
        (
            f"!{fargate} || !has(self.cpu) || string(self.cpu) in {_cel_str_list(all_cpu)}",
            "cpu: No Fargate configuration exists for given values: task cpu must be "
            + ", ".join(map(str, FARGATE_CPU_MEMORY))
            + " (cpu units) or the same in vCPU ('0.25 vCPU', '1 vCPU', ...)",
        )
    ]
    for cpu, mems in FARGATE_CPU_MEMORY.items():
        mem_spellings = [s for m in mems for s in fargate_memory_spellings(m)]
        rules.append(
            (
                f"!{fargate} || !has(self.cpu) || !has(self.memory) || "
                f"!(string(self.cpu) in {_cel_str_list(fargate_cpu_spellings(cpu))}) || "
                f"string(self.memory) in {_cel_str_list(mem_spellings)}",
                f"memory: No Fargate configuration exists for given values: with cpu {cpu}, task memory must be "
                f"{_fargate_memory_text(mems)} (MiB, or the same in GB such as '2 GB')",
            )
        )
    return rules


_CDS = "self.containerDefinitions"
_NO_CDS = f"!has({_CDS})"
_FARGATE = "(has(self.requiresCompatibilities) && 'FARGATE' in self.requiresCompatibilities)"
_NOT_FARGATE = f"!{_FARGATE}"


#: A GPU / NeuronDevice count in resourceRequirements: a whole or decimal number (ECS takes
#: fractions of a GPU on Managed Instances); the CEL rule and the translator use this one pattern.
DEVICE_COUNT_PATTERN = "^([0-9]+([.][0-9]*)?|[.][0-9]+)$"


def task_definition_rules() -> list[dict[str, str]]:
    """CEL rules on the TaskDefinition spec: what ECS checks in RegisterTaskDefinition.

    Notes:
    * ``essential`` defaults to true in ECS, so an unset ``essential`` counts as essential.
    * cpu/memory are x-kubernetes-int-or-string (CEL ``dyn``); ``string()`` turns 256 into "256"
      and leaves strings alone.  The Fargate size rules list every accepted spelling explicitly
      ("256", ".25 vCPU", "0.25 vcpu", "512", "0.5 GB", "0.5GB", ...), which is cheap: no string
      functions, just membership in list literals.  Other spellings ECS may also take (e.g.
      "1vcpu", "1 gb") are rejected on Fargate.
    * An empty ``host: {}`` volume (a task-scoped bind-mount volume, as DescribeTaskDefinition
      output often carries it) is allowed on Fargate; only ``host.sourcePath`` is rejected.
    * Checked against k8s.io/apiextensions-apiserver v0.36 (CRD validation incl. CEL cost
      estimation, and rule evaluation on the shared example task definitions).
    """
    rules = [
        (
            f"{_NO_CDS} || {_CDS}.all(c, has(c.name) && size(c.name) > 0 && has(c.image) && size(c.image) > 0)",
            "containerDefinitions: Container.name and Container.image should not be null or empty",
        ),
        (
            f"{_NO_CDS} || {_CDS}.exists(c, !has(c.essential) || c.essential)",
            "containerDefinitions: a task definition must have at least one essential container",
        ),
        (
            f"{_NO_CDS} || {_CDS}.all(c, !has(c.name) || {_CDS}.exists_one(d, has(d.name) && d.name == c.name))",
            "containerDefinitions.name: container names must be unique within a task definition",
        ),
        (
            f"{_NO_CDS} || {_CDS}.all(c, !has(c.dependsOn) || c.dependsOn.all(d, "
            f"{_CDS}.exists(o, has(o.name) && o.name == d.containerName)))",
            "containerDefinitions.dependsOn.containerName: must name a container of this task definition",
        ),
        (
            f"{_NO_CDS} || {_CDS}.all(c, !has(c.dependsOn) || c.dependsOn.all(d, "
            f"!(d.condition in ['COMPLETE', 'SUCCESS']) || {_CDS}.all(o, "
            f"!has(o.name) || o.name != d.containerName || (has(o.essential) && !o.essential))))",
            "containerDefinitions.dependsOn.condition: COMPLETE and SUCCESS can only be used on a "
            "non-essential container (essential: false)",
        ),
        (
            f"!has(self.networkMode) || !(self.networkMode in ['awsvpc', 'host']) || {_NO_CDS} || "
            f"{_CDS}.all(c, !has(c.portMappings) || c.portMappings.all(p, "
            f"!has(p.hostPort) || (has(p.containerPort) && p.hostPort == p.containerPort)))",
            "containerDefinitions.portMappings.hostPort: with networkMode awsvpc or host, hostPort must be "
            "unset or equal to containerPort",
        ),
        (
            f"{_NOT_FARGATE} || !has(self.networkMode) || self.networkMode == 'awsvpc'",
            "networkMode: Fargate only supports network mode 'awsvpc'",
        ),
        (f"{_NOT_FARGATE} || has(self.cpu)", "cpu: Fargate requires that 'cpu' be defined at the task level"),
        (f"{_NOT_FARGATE} || has(self.memory)", "memory: Fargate requires that 'memory' be defined at the task level"),
        *fargate_size_rules(_FARGATE),
        (
            f"{_NOT_FARGATE} || {_NO_CDS} || {_CDS}.all(c, !has(c.privileged) || !c.privileged)",
            "containerDefinitions.privileged: privileged containers are not supported on Fargate",
        ),
        (
            f"{_NOT_FARGATE} || {_NO_CDS} || {_CDS}.all(c, !has(c.links) || size(c.links) == 0)",
            "containerDefinitions.links: links are not supported on Fargate",
        ),
        (
            f"{_NOT_FARGATE} || {_NO_CDS} || {_CDS}.all(c, !has(c.linuxParameters) || "
            f"!has(c.linuxParameters.devices) || size(c.linuxParameters.devices) == 0)",
            "containerDefinitions.linuxParameters.devices: devices are not supported on Fargate",
        ),
        (
            f"{_NOT_FARGATE} || !has(self.volumes) || self.volumes.all(v, !has(v.dockerVolumeConfiguration) && "
            f"(!has(v.host) || !has(v.host.sourcePath)))",
            "volumes: host.sourcePath and dockerVolumeConfiguration volumes are not supported on Fargate",
        ),
        (
            f"{_NO_CDS} || {_CDS}.all(c, !has(c.resourceRequirements) || c.resourceRequirements.all(r, "
            f"r.type == 'InferenceAccelerator' || (r.value.matches('{DEVICE_COUNT_PATTERN}') && "
            f"!r.value.matches('^[0.]+$'))))",
            "containerDefinitions.resourceRequirements.value: GPU and NeuronDevice take a positive number",
        ),
    ]
    return [{"rule": rule, "message": message} for rule, message in rules]


def _strategy_rules(field: str) -> list[tuple[str, str]]:
    """ECS's rules on a capacity provider strategy (bounded by maxItems 20)."""
    s = f"self.{field}"
    return [
        (
            f"!has({s}) || {s}.filter(i, has(i.base) && i.base > 0).size() <= 1",
            f"{field}: Only one capacity provider in a capacity provider strategy can have a base defined.",
        ),
        (
            f"!has({s}) || size({s}) <= 1 || {s}.exists(i, has(i.weight) && i.weight > 0)",
            f"{field}: At least one capacity provider in a capacity provider strategy must have a weight "
            "greater than zero.",
        ),
    ]


_BOTH_LAUNCH = (
    "!(has(self.launchType) && has(self.capacityProviderStrategy) && size(self.capacityProviderStrategy) > 0)",
    "launchType: Specifying both a launch type and capacity provider strategy is not supported. "
    "Remove one and try again.",
)


def service_rules() -> list[dict[str, str]]:
    """CEL rules on the ECSService spec: what ECS checks in CreateService (the operator checks
    them too and reports them in status; here `kubectl apply` and `kubectl scale` are refused)."""
    daemon = "(has(self.schedulingStrategy) && self.schedulingStrategy == 'DAEMON')"
    rules = [
        (
            f"!{daemon} || !has(self.desiredCount)",
            "desiredCount: The daemon scheduling strategy does not support a desired count for services.",
        ),
        (
            f"{daemon} || has(self.desiredCount)",
            "desiredCount: desiredCount is required when schedulingStrategy is REPLICA",
        ),
        (
            f"!{daemon} || !has(self.deploymentConfiguration) || !has(self.deploymentConfiguration.maximumPercent) "
            "|| self.deploymentConfiguration.maximumPercent == 100",
            "deploymentConfiguration.maximumPercent: The maximumPercent parameter must be 100 for services with "
            "the DAEMON scheduling strategy.",
        ),
        _BOTH_LAUNCH,
        *_strategy_rules("capacityProviderStrategy"),
    ]
    return [{"rule": rule, "message": message} for rule, message in rules]


def run_task_rules() -> list[dict[str, str]]:
    return [{"rule": r, "message": m} for r, m in (_BOTH_LAUNCH, *_strategy_rules("capacityProviderStrategy"))]


#: CreateCluster's rule for clusterName: the CRD's CEL rule, and the operator's check of names
#: the CRD cannot see (translate/cluster.py: a name defaulted from metadata.name).
CLUSTER_NAME_PATTERN = "^[a-zA-Z0-9_-]{1,255}$"
CLUSTER_NAME_RULE = (
    "clusterName: Up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed."
)


def cluster_rules() -> list[dict[str, str]]:
    name = {
        "rule": f"!has(self.clusterName) || self.clusterName.matches('{CLUSTER_NAME_PATTERN}')",
        "message": CLUSTER_NAME_RULE,
    }
    return [name] + [{"rule": r, "message": m} for r, m in _strategy_rules("defaultCapacityProviderStrategy")]


SPEC_RULES: Mapping[str, Any] = {
    "RegisterTaskDefinitionRequest": task_definition_rules,
    "CreateServiceRequest": service_rules,
    "RunTaskRequest": run_task_rules,
    "CreateClusterRequest": cluster_rules,
}

# --------------------------------------------------------------------------------------------
# Hand-written parts of the schemas: status, printer columns, CapacityProvider.spec.kubernetes
# --------------------------------------------------------------------------------------------


def _s(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


def _i32(description: str) -> dict[str, Any]:
    return {"type": "integer", "format": "int32", "description": description}


def _free_form_list(description: str) -> dict[str, Any]:
    return {
        "type": "array",
        "description": description,
        "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    }


def _conditions() -> dict[str, Any]:
    return {
        "type": "array",
        "description": "Latest observations of the object's state (Ready, Synced, ...).",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
        "items": {
            "type": "object",
            "required": ["type", "status"],
            "properties": {
                "type": _s("Type of the condition, e.g. Ready."),
                "status": _s("Status of the condition.", enum=["True", "False", "Unknown"]),
                "reason": _s("One-word CamelCase reason for the last transition."),
                "message": _s("Human-readable details about the last transition."),
                "lastTransitionTime": _s("When the condition last changed status.", format="date-time"),
                "observedGeneration": {
                    "type": "integer",
                    "format": "int64",
                    "description": "metadata.generation the condition was set for.",
                },
            },
        },
    }


def _observed_generation() -> dict[str, Any]:
    return {"type": "integer", "format": "int64", "description": "The metadata.generation the operator last acted on."}


def _status(description: str, properties: dict[str, Any]) -> dict[str, Any]:
    props = dict(properties)
    props["conditions"] = _conditions()
    props["observedGeneration"] = _observed_generation()
    return {"type": "object", "description": description, "properties": props}


def status_schema(kind: str) -> dict[str, Any]:
    if kind == "TaskDefinition":
        return _status(
            "Observed state of the task definition family.",
            {
                "family": _s("The task definition family."),
                "revision": _i32("The latest registered revision of the family."),
                "taskDefinitionArn": _s('The latest revision, as "family:revision".'),
                "status": _s("Status of the latest revision.", enum=["ACTIVE", "INACTIVE"]),
                "registeredAt": _s("When the latest revision was registered.", format="date-time"),
                "revisions": {
                    "type": "array",
                    "description": "Registered revisions of the family, oldest first.",
                    "maxItems": 1000,
                    "items": {
                        "type": "object",
                        "properties": {
                            "revision": _i32("Revision number."),
                            "status": _s("ACTIVE or INACTIVE."),
                            "registeredAt": _s("When the revision was registered."),
                            "deregisteredAt": _s("When the revision was deregistered."),
                        },
                    },
                },
                "warnings": {
                    "type": "array",
                    "description": "Parts of the task definition that are accepted but not honoured on Kubernetes.",
                    "items": {"type": "string"},
                },
            },
        )
    if kind == "ECSService":
        return _status(
            "Observed state of the service, as ECS DescribeServices reports it.",
            {
                "serviceName": _s("The name of the service."),
                "clusterArn": _s("The cluster that hosts the service."),
                "status": _s("ACTIVE, DRAINING or INACTIVE."),
                "desiredCount": _i32("The desired number of tasks."),
                "runningCount": _i32("The number of tasks in the RUNNING state."),
                "pendingCount": _i32("The number of tasks in the PENDING state."),
                "taskDefinition": _s("The task definition (family:revision) the service runs."),
                "selector": _s("Label selector of the service's tasks (for the scale subresource: HPA)."),
                "launchType": _s("The launch type the service runs on (when it has no capacity provider strategy)."),
                "capacityProviderStrategy": {
                    "type": "array",
                    "maxItems": 64,
                    "description": "The capacity provider strategy the service runs with: its own, or its cluster's default.",
                    "items": {
                        "type": "object",
                        "properties": {
                            "capacityProvider": _s("The short name of the capacity provider."),
                            "base": _i32("How many tasks, at a minimum, run on this capacity provider."),
                            "weight": _i32("The relative share of the tasks beyond the base."),
                        },
                    },
                },
                "workloads": {
                    "type": "array",
                    "maxItems": 64,
                    "items": {"type": "string"},
                    "description": "The Kubernetes workloads (Kind/name) that run the service's tasks: "
                    "a DaemonSet, a Deployment, or one Deployment per capacity provider.",
                },
                "deployments": _free_form_list("The current deployments of the service (ECS Deployment objects)."),
                "events": _free_form_list("The latest service events (ECS ServiceEvent objects)."),
                "rolloutState": _s("Rollout state of the primary deployment: IN_PROGRESS, COMPLETED or FAILED."),
                "rolloutStateReason": _s("Why the rollout is in its current state."),
                "lastCompletedTaskDefinition": _s(
                    "The task definition of the last deployment that reached a steady "
                    "state: where the deployment circuit breaker rolls back to."
                ),
                "rolledBackTaskDefinition": _s(
                    "The task definition whose deployment the circuit breaker failed and rolled back."
                ),
                "rolledBackGeneration": {
                    "type": "integer",
                    "format": "int64",
                    "description": "The metadata.generation whose deployment was rolled back; a "
                    "new generation starts a new deployment.",
                },
            },
        )
    if kind == "ECSCluster":
        return _status(
            "Observed state of the cluster, as ECS DescribeClusters reports it.",
            {
                "clusterName": _s("The name of the cluster."),
                "status": _s("ACTIVE, PROVISIONING, DEPROVISIONING, FAILED or INACTIVE."),
                "registeredContainerInstancesCount": _i32("The number of container instances (nodes) registered."),
                "runningTasksCount": _i32("The number of tasks in the RUNNING state."),
                "pendingTasksCount": _i32("The number of tasks in the PENDING state."),
                "activeServicesCount": _i32("The number of services in the ACTIVE state."),
                "containerInstances": _free_form_list("The container instances (ECS ContainerInstance objects)."),
            },
        )
    if kind == "ECSTask":
        return _status(
            "Observed state of the task(s) started by RunTask.",
            {
                "lastStatus": _s("The last known status of the task."),
                "desiredStatus": _s("The desired status of the task."),
                "taskArn": _s("The ARN of the (first) task."),
                "tasks": _free_form_list("The tasks (ECS Task objects, as DescribeTasks returns them)."),
                "stopCode": _s("The stop code of the task."),
                "stoppedReason": _s("The reason the task stopped."),
                "startedAt": _s("When the task started."),
                "stoppedAt": _s("When the task stopped."),
                "taskDefinitionArn": _s('The task definition revision the tasks run, as "family:revision".'),
                "failures": {
                    "type": "array",
                    "description": "Tasks that cannot be placed, as RunTask reports failures.",
                    "maxItems": 10,
                    "items": {
                        "type": "object",
                        "properties": {
                            "arn": _s("The task that cannot be placed."),
                            "reason": _s("Why, as ECS words it (RESOURCE:MEMORY, RESOURCE:CPU, ATTRIBUTE, ...)."),
                            "detail": _s("The scheduler's explanation."),
                        },
                    },
                },
            },
        )
    if kind == "CapacityProvider":
        return _status(
            "Observed state of the capacity provider.",
            {
                "status": _s("ACTIVE or INACTIVE."),
                "nodes": _i32("The number of Kubernetes nodes matching the capacity provider."),
            },
        )
    raise KeyError(kind)


_READY = {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'}

#: ECSService has a scale subresource: `kubectl scale` and HorizontalPodAutoscalers set
#: desiredCount (the part ECS Service Auto Scaling plays on AWS).
SUBRESOURCES: Mapping[str, dict[str, Any]] = {
    "ECSService": {
        "status": {},
        "scale": {
            "specReplicasPath": ".spec.desiredCount",
            "statusReplicasPath": ".status.runningCount",
            "labelSelectorPath": ".status.selector",
        },
    },
}
_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}

PRINTER_COLUMNS: Mapping[str, list[dict[str, Any]]] = {
    "TaskDefinition": [
        {"name": "Family", "type": "string", "jsonPath": ".status.family"},
        {"name": "Revision", "type": "integer", "jsonPath": ".status.revision"},
        {"name": "Status", "type": "string", "jsonPath": ".status.status"},
        _READY,
        _AGE,
    ],
    "ECSService": [
        {"name": "Desired", "type": "integer", "jsonPath": ".spec.desiredCount"},
        {"name": "Running", "type": "integer", "jsonPath": ".status.runningCount"},
        {"name": "Pending", "type": "integer", "jsonPath": ".status.pendingCount"},
        {"name": "Rollout", "type": "string", "jsonPath": ".status.rolloutState"},
        _READY,
        _AGE,
    ],
    "ECSCluster": [
        {"name": "Status", "type": "string", "jsonPath": ".status.status"},
        {"name": "Instances", "type": "integer", "jsonPath": ".status.registeredContainerInstancesCount"},
        {"name": "Running", "type": "integer", "jsonPath": ".status.runningTasksCount"},
        {"name": "Services", "type": "integer", "jsonPath": ".status.activeServicesCount"},
        _AGE,
    ],
    "ECSTask": [
        {"name": "Last", "type": "string", "jsonPath": ".status.lastStatus"},
        {"name": "Desired", "type": "string", "jsonPath": ".status.desiredStatus"},
        {"name": "ExitCode", "type": "integer", "jsonPath": ".status.tasks[0].containers[0].exitCode", "priority": 1},
        _AGE,
    ],
    "CapacityProvider": [
        {"name": "Status", "type": "string", "jsonPath": ".status.status"},
        {"name": "Nodes", "type": "integer", "jsonPath": ".status.nodes"},
        _AGE,
    ],
}


def capacity_provider_kubernetes_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "The Kubernetes node pool behind this capacity provider (not an ECS field): "
        "tasks placed on it get this nodeSelector and these tolerations.",
        "properties": {
            "nodeSelector": {
                "type": "object",
                "description": "Labels the pool's nodes carry.",
                "additionalProperties": {"type": "string"},
            },
            "tolerations": {
                "type": "array",
                "description": "Kubernetes tolerations (core/v1 Toleration) for the pool's taints.",
                "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            },
        },
    }


SECURITY_POLICY_FIELDS: tuple[tuple[str, str], ...] = (
    ("allowPrivileged", "Allow privileged containers (containerDefinitions.privileged)."),
    ("allowHostNetwork", "Allow networkMode host (the node's network namespace)."),
    ("allowHostPID", "Allow pidMode host."),
    ("allowHostIPC", "Allow ipcMode host."),
    ("allowHostVolumes", "Allow host volumes (volumes.host.sourcePath) and devices."),
)


def cluster_kubernetes_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "Kubernetes-side settings of the cluster (not an ECS field).",
        "properties": {
            "securityPolicy": {
                "type": "object",
                "description": "What the cluster's EC2 tasks may do on their nodes; everything is denied by default "
                "(Fargate tasks are always denied all of it).",
                "properties": {name: {"type": "boolean", "description": desc} for name, desc in SECURITY_POLICY_FIELDS},
            },
            "podDisruptionBudgets": {
                "type": "boolean",
                "description": "Give each REPLICA service's Deployment a PodDisruptionBudget of ECS's minimum "
                "healthy task count (desiredCount x minimumHealthyPercent), so evictions (kubectl "
                "drain) wait for replacement tasks as ECS's draining does. Off by default: with "
                "minimumHealthyPercent 100 a budget admits no eviction until replacements run, which "
                "also holds back Cluster Autoscaler scale-down.",
            },
        },
    }


EXTRA_SPEC_PROPERTIES: Mapping[str, Any] = {
    "CapacityProvider": {"kubernetes": capacity_provider_kubernetes_schema},
    "ECSCluster": {"kubernetes": cluster_kubernetes_schema},
}

# --------------------------------------------------------------------------------------------
# botocore model access and documentation
# --------------------------------------------------------------------------------------------


def load_ecs_model() -> dict[str, Any]:
    import botocore.loaders

    model: dict[str, Any] = botocore.loaders.Loader().load_service_model("ecs", "service-2")
    return model


def botocore_version() -> str:
    import botocore

    version: str = botocore.__version__
    return version


_BLOCK_TAGS = re.compile(
    r"</?(p|li|ul|ol|dl|dt|dd|br|note|important|div|h\d|pre|table|tr|td|th)\b[^>]*>", re.IGNORECASE
)
_ANY_TAG = re.compile(r"<[^>]*>")
_WS = re.compile(r"\s+")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:!?)])")
_SPACE_AFTER_PAREN = re.compile(r"\(\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


def html_to_text(doc: str | None) -> str:
    """botocore documentation HTML -> one line of plain text."""
    if not doc:
        return ""
    text = _BLOCK_TAGS.sub(" ", doc)
    text = _ANY_TAG.sub("", text)
    text = html.unescape(text)
    text = _WS.sub(" ", text).strip()
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    return _SPACE_AFTER_PAREN.sub("(", text)


def truncate_text(text: str, max_sentences: int = MAX_SENTENCES, max_chars: int = MAX_DESCRIPTION_CHARS) -> str:
    sentences = _SENTENCE_END.split(text)
    short = " ".join(sentences[:max_sentences])
    if len(short) > max_chars:
        cut = short[: max_chars - 3]
        if " " in cut:
            cut = cut[: cut.rindex(" ")]
        short = cut.rstrip(",;: ") + "..."
    return short


def describe(doc: str | None, max_sentences: int = MAX_SENTENCES, max_chars: int = MAX_DESCRIPTION_CHARS) -> str:
    return truncate_text(html_to_text(doc), max_sentences, max_chars)


def reachable_shapes(shapes: Mapping[str, Any], roots: Iterable[str]) -> list[str]:
    """Shapes reachable from ``roots``, dependencies before dependents (members in botocore order)."""
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise ValueError(f"botocore shape {name} is recursive; the generator does not support that")
        state[name] = 1
        for child in _children(shapes[name]):
            visit(child)
        state[name] = 2
        order.append(name)

    for root in roots:
        visit(root)
    return order


def _children(shape: Mapping[str, Any]) -> list[str]:
    kind = shape["type"]
    if kind == "structure":
        return [m["shape"] for m in shape.get("members", {}).values()]
    if kind == "list":
        return [shape["member"]["shape"]]
    if kind == "map":
        return [shape["key"]["shape"], shape["value"]["shape"]]
    return []


_UNSAFE_PATTERN = re.compile(r"\\[pPkgbBAzZ]|\(\?|\\\d|[{}]")


def k8s_safe_pattern(pattern: str | None) -> str | None:
    """botocore's pattern if it is simple enough for both RE2 (the API server) and Python, else None.

    Patterns with unicode classes, groups with flags/lookaround, back-references or counted
    repetition are left out, and so are patterns that match the empty string (botocore's
    patterns are unanchored, so such a pattern constrains nothing).
    """
    if not pattern or _UNSAFE_PATTERN.search(pattern):
        return None
    try:
        compiled = re.compile(pattern)
    except re.error:
        return None
    if compiled.search("") is not None:
        return None
    return pattern


# --------------------------------------------------------------------------------------------
# CRD generation
# --------------------------------------------------------------------------------------------


def _int_or_string(description: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if description:
        out["description"] = description
    out["x-kubernetes-int-or-string"] = True
    out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    return out


def shape_schema(shapes: Mapping[str, Any], name: str, description: str | None = None) -> dict[str, Any]:
    """OpenAPI v3 (structural) schema for botocore shape ``name``, inlined recursively."""
    shape = shapes[name]
    kind = shape["type"]
    desc = description if description is not None else describe(shape.get("documentation"))
    out: dict[str, Any] = {}

    if kind == "structure" and shape.get("document"):
        # A JSON document (any value): the only botocore-typed free-form node.
        if desc:
            out["description"] = desc
        out["x-kubernetes-preserve-unknown-fields"] = True
        return out

    type_map = {
        "string": ("string", None),
        "integer": ("integer", "int32"),
        "long": ("integer", "int64"),
        "double": ("number", "double"),
        "float": ("number", "float"),
        "boolean": ("boolean", None),
        "timestamp": ("string", "date-time"),
        "blob": ("string", "byte"),
        "list": ("array", None),
        "map": ("object", None),
        "structure": ("object", None),
    }
    if kind not in type_map:
        raise ValueError(f"unsupported botocore type {kind!r} (shape {name})")
    oa_type, fmt = type_map[kind]
    out["type"] = oa_type
    if fmt:
        out["format"] = fmt
    if desc:
        out["description"] = desc

    if kind == "string":
        if "enum" in shape:
            out["enum"] = list(shape["enum"])
        if "min" in shape:
            out["minLength"] = shape["min"]
        if "max" in shape:
            out["maxLength"] = shape["max"]
        pattern = k8s_safe_pattern(shape.get("pattern"))
        if pattern:
            out["pattern"] = pattern
    elif kind in ("integer", "long", "double", "float"):
        if "min" in shape:
            out["minimum"] = shape["min"]
        if "max" in shape:
            out["maximum"] = shape["max"]
    elif kind == "list":
        if "min" in shape:
            out["minItems"] = shape["min"]
        if "max" in shape:
            out["maxItems"] = shape["max"]
        out["items"] = shape_schema(shapes, shape["member"]["shape"], "")
    elif kind == "map":
        if "min" in shape:
            out["minProperties"] = shape["min"]
        if "max" in shape:
            out["maxProperties"] = shape["max"]
        out["additionalProperties"] = shape_schema(shapes, shape["value"]["shape"], "")
    elif kind == "structure":
        props: dict[str, Any] = {}
        for member, ref in shape.get("members", {}).items():
            props[member] = member_schema(shapes, name, member, ref)
        if props:
            out["properties"] = props
        required = [m for m in shape.get("required", []) if (name, m) not in IDENTITY_MEMBERS]
        if required:
            out["required"] = required
        if shape.get("union") and len(props) > 1:
            out["maxProperties"] = 1
    return out


def member_schema(shapes: Mapping[str, Any], owner: str, member: str, ref: Mapping[str, Any]) -> dict[str, Any]:
    target = shapes[ref["shape"]]
    desc = describe(ref.get("documentation") or target.get("documentation"))
    if (owner, member) in IDENTITY_MEMBERS:
        desc = (desc + " " if desc else "") + "Defaults to metadata.name."
    if (owner, member) in INT_OR_STRING_MEMBERS:
        return _int_or_string(desc)
    schema = shape_schema(shapes, ref["shape"], desc)
    schema.update(MEMBER_BOUNDS.get((owner, member), {}))
    return schema


def spec_schema(shapes: Mapping[str, Any], kind: Kind) -> dict[str, Any]:
    spec = shape_schema(shapes, kind.request_shape, "")
    lead = f"Desired state: the input of the ECS {kind.api_operation} API, with ECS's field names and meanings."
    spec["description"] = lead
    for prop, make in EXTRA_SPEC_PROPERTIES.get(kind.kind, {}).items():
        spec.setdefault("properties", {})[prop] = make()
    rules = SPEC_RULES.get(kind.request_shape)
    if rules:
        spec["x-kubernetes-validations"] = rules()
    return spec


def crd(shapes: Mapping[str, Any], kind: Kind) -> dict[str, Any]:
    spec = spec_schema(shapes, kind)
    root: dict[str, Any] = {
        "type": "object",
        "description": f"{kind.kind} runs the ECS {kind.api_operation} API on Kubernetes.",
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion of this representation of the object."},
            "kind": {"type": "string", "description": "Kind of the REST resource this object represents."},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status_schema(kind.kind),
        },
    }
    if spec.get("required"):
        root["required"] = ["spec"]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": kind.crd_name},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.singular,
                "shortNames": list(kind.short_names),
                "categories": list(CATEGORIES),
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": SUBRESOURCES.get(kind.kind, {"status": {}}),
                    "additionalPrinterColumns": [dict(c) for c in PRINTER_COLUMNS[kind.kind]],
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


class _NoAliasDumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_yaml(data: Any) -> str:
    return yaml.dump(
        data, Dumper=_NoAliasDumper, sort_keys=False, width=120, default_flow_style=False, allow_unicode=True
    )


def header(version: str, comment: str = "#") -> str:
    return f"{comment} generated by python -m ecs_operator.models.gen from botocore {version}; do not edit\n"


def render_crd(shapes: Mapping[str, Any], kind: Kind, version: str) -> str:
    return header(version) + dump_yaml(crd(shapes, kind))


# --------------------------------------------------------------------------------------------
# pydantic model generation
# --------------------------------------------------------------------------------------------

_PY_SCALARS = {
    "string": "str",
    "integer": "int",
    "long": "int",
    "double": "float",
    "float": "float",
    "boolean": "bool",
    "timestamp": "datetime",
    "blob": "bytes",
}
_RESERVED_NAMES = {
    "Annotated",
    "Any",
    "BaseModel",
    "BeforeValidator",
    "ConfigDict",
    "ECSModel",
    "Field",
    "IntOrString",
    "Literal",
    "Optional",
    "datetime",
    "ClusterKubernetes",
    "ClusterSecurityPolicy",
    "ClusterSpec",
}


def _constraints(shape: Mapping[str, Any]) -> dict[str, Any]:
    kind = shape["type"]
    out: dict[str, Any] = {}
    if kind in ("string", "list", "map"):
        if "min" in shape:
            out["min_length"] = shape["min"]
        if "max" in shape:
            out["max_length"] = shape["max"]
        if kind == "string":
            pattern = k8s_safe_pattern(shape.get("pattern"))
            if pattern:
                out["pattern"] = pattern
    elif kind in ("integer", "long", "double", "float"):
        if "min" in shape:
            out["ge"] = shape["min"]
        if "max" in shape:
            out["le"] = shape["max"]
    return out


def _field_args(args: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_pystr(v) if isinstance(v, str) else repr(v)}" for k, v in args.items())


def _has_definition(shape: Mapping[str, Any]) -> bool:
    """Whether the shape gets its own name in generated.py (class or type alias)."""
    kind = shape["type"]
    if kind == "structure":
        return not shape.get("document")
    if kind == "string" and shape.get("enum"):
        return True
    return bool(_constraints(shape))


def py_type(shapes: Mapping[str, Any], name: str) -> str:
    shape = shapes[name]
    if _has_definition(shape):
        return name
    return _inline_type(shapes, shape)


def _inline_type(shapes: Mapping[str, Any], shape: Mapping[str, Any]) -> str:
    kind = shape["type"]
    if kind == "structure":
        return "Any"  # document
    if kind == "list":
        return f"list[{py_type(shapes, shape['member']['shape'])}]"
    if kind == "map":
        return f"dict[{py_type(shapes, shape['key']['shape'])}, {py_type(shapes, shape['value']['shape'])}]"
    return _PY_SCALARS[kind]


def _pystr(value: str) -> str:
    """A Python string literal, double-quoted when that needs no escaping."""
    if '"' not in value and "\\" not in value and value.isprintable():
        return f'"{value}"'
    return repr(value)


def _docstring(text: str) -> str:
    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    if text.endswith('"'):
        text += " "
    lines = textwrap.wrap(text, width=92) or [""]
    if len(lines) == 1:
        return f'    """{lines[0]}"""\n'
    body = "".join(f"    {line}\n" for line in lines[1:])
    return f'    """{lines[0]}\n{body}    """\n'


def _wrap_literal(name: str, values: list[str]) -> str:
    one_line = f"{name} = Literal[{', '.join(_pystr(v) for v in values)}]\n"
    if len(one_line) <= 110:
        return one_line
    body = "".join(f"    {_pystr(v)},\n" for v in values)
    return f"{name} = Literal[\n{body}]\n"


def _model_doc(name: str, shape: Mapping[str, Any]) -> str:
    text = describe(shape.get("documentation"), max_sentences=1, max_chars=MAX_DOCSTRING_CHARS)
    if text:
        return text
    for kind in KINDS:
        if kind.request_shape == name:
            return f"Input of the ECS {kind.api_operation} API (the {kind.kind} spec)."
    return f"The ECS {name} structure."


def render_definition(shapes: Mapping[str, Any], name: str) -> str:
    shape = shapes[name]
    kind = shape["type"]
    if kind != "structure":
        if kind == "string" and shape.get("enum"):
            return _wrap_literal(name, list(shape["enum"]))
        base = _inline_type(shapes, shape)
        line = f"{name} = Annotated[{base}, Field({_field_args(_constraints(shape))})]\n"
        if len(line) <= 110:
            return line
        return f"{name} = Annotated[\n    {base},\n    Field({_field_args(_constraints(shape))}),\n]\n"

    lines = [f"class {name}(ECSModel):\n", _docstring(_model_doc(name, shape))]
    members = shape.get("members", {})
    if members:
        lines.append("\n")
    required = set(shape.get("required", []))
    for member, ref in members.items():
        if keyword.iskeyword(member) or not member.isidentifier() or member.startswith("model_"):
            raise ValueError(f"member {name}.{member} is not usable as a pydantic field name")
        is_required = member in required and (name, member) not in IDENTITY_MEMBERS
        if (name, member) in INT_OR_STRING_MEMBERS:
            type_expr = "IntOrString"
        else:
            type_expr = py_type(shapes, ref["shape"])
        field_kwargs: dict[str, Any] = {}
        for key, value in MEMBER_BOUNDS.get((name, member), {}).items():
            field_kwargs[
                {
                    "minItems": "min_length",
                    "maxItems": "max_length",
                    "minLength": "min_length",
                    "maxLength": "max_length",
                }[key]
            ] = value
        if is_required:
            if field_kwargs:
                lines.append(f"    {member}: {type_expr} = Field({_field_args(field_kwargs)})\n")
            else:
                lines.append(f"    {member}: {type_expr}\n")
        elif field_kwargs:
            lines.append(f"    {member}: Optional[{type_expr}] = Field(None, {_field_args(field_kwargs)})\n")
        else:
            lines.append(f"    {member}: Optional[{type_expr}] = None\n")
    return "".join(lines)


_PY_PRELUDE = '''"""Pydantic models of the Amazon ECS API input shapes behind the ecs.seed.dev CRDs.

Class names are botocore shape names, field names are ECS's member names, enums are Literals of
ECS's values.  Identity members that default to metadata.name (family, serviceName, clusterName,
CreateCapacityProvider name) are optional here, as in the CRDs.
"""

from __future__ import annotations

{datetime_import}from typing import Annotated, Any, Literal, Optional

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

BOTOCORE_VERSION = "{version}"
ECS_API_VERSION = "{api_version}"


def _int_to_str(value: Any) -> Any:
    """ECS takes task-level cpu/memory as strings; accept YAML ints (``cpu: 256``) too."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


IntOrString = Annotated[str, BeforeValidator(_int_to_str)]


class ECSModel(BaseModel):
    """Base of the generated models: unknown fields are rejected."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
'''

_PY_EXTENSIONS = '''

# ecs-operator extensions (not ECS shapes)


class CapacityProviderKubernetes(ECSModel):
    """The Kubernetes node pool behind a CapacityProvider."""

    nodeSelector: Optional[dict[str, str]] = None
    tolerations: Optional[list[dict[str, Any]]] = None


class CapacityProviderSpec(CreateCapacityProviderRequest):
    """The CapacityProvider spec: CreateCapacityProvider input plus the Kubernetes node pool."""

    kubernetes: Optional[CapacityProviderKubernetes] = None


class ClusterSecurityPolicy(ECSModel):
    """What an ECS cluster's EC2 tasks may do on their nodes (all denied by default)."""

    allowPrivileged: Optional[bool] = None
    allowHostNetwork: Optional[bool] = None
    allowHostPID: Optional[bool] = None
    allowHostIPC: Optional[bool] = None
    allowHostVolumes: Optional[bool] = None


class ClusterKubernetes(ECSModel):
    """Kubernetes-side settings of an ECSCluster."""

    securityPolicy: Optional[ClusterSecurityPolicy] = None
    podDisruptionBudgets: Optional[bool] = None


class ClusterSpec(CreateClusterRequest):
    """The ECSCluster spec: CreateCluster input plus Kubernetes-side settings."""

    kubernetes: Optional[ClusterKubernetes] = None
'''


def render_models(model: Mapping[str, Any], version: str) -> str:
    shapes = model["shapes"]
    names = [n for n in reachable_shapes(shapes, ROOT_SHAPES) if _has_definition(shapes[n])]
    clash = _RESERVED_NAMES.intersection(names)
    if clash:
        raise ValueError(f"botocore shape names clash with generated.py names: {sorted(clash)}")
    uses_datetime = any(shapes[n]["type"] == "timestamp" for n in reachable_shapes(shapes, ROOT_SHAPES))
    prelude = _PY_PRELUDE.format(
        version=version,
        api_version=model["metadata"]["apiVersion"],
        datetime_import="from datetime import datetime\n" if uses_datetime else "",
    )
    parts = [header(version), prelude]
    previous_is_class = True  # the prelude ends with a class
    for name in names:
        is_class = shapes[name]["type"] == "structure"
        parts.append("\n\n" if is_class or previous_is_class else "\n")
        parts.append(render_definition(shapes, name))
        previous_is_class = is_class
    parts.append(_PY_EXTENSIONS)
    parts.append("\n\n__all__ = [\n")
    exported = sorted(
        set(names)
        | {
            "CapacityProviderKubernetes",
            "CapacityProviderSpec",
            "ClusterKubernetes",
            "ClusterSecurityPolicy",
            "ClusterSpec",
            "ECSModel",
            "IntOrString",
        }
    )
    parts.extend(f"    {n!r},\n" for n in exported)
    parts.append("]\n")
    return "".join(parts)


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def render_all(model: Mapping[str, Any] | None = None, version: str | None = None) -> dict[str, str]:
    """Every generated file: repo-relative path -> content."""
    model = model if model is not None else load_ecs_model()
    version = version if version is not None else botocore_version()
    shapes = model["shapes"]
    out = {kind.crd_file: render_crd(shapes, kind, version) for kind in KINDS}
    out[GENERATED_PY.relative_to(REPO_ROOT).as_posix()] = render_models(model, version)
    return out


def stale_files(rendered: Mapping[str, str], root: Path = REPO_ROOT) -> list[str]:
    stale = []
    for rel, text in rendered.items():
        path = root / rel
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(rel)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ecs_operator.models.gen", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only report files that are out of date")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="repository root (default: %(default)s)")
    args = parser.parse_args(argv)
    rendered = render_all()
    if args.check:
        stale = stale_files(rendered, args.root)
        for rel in stale:
            print(f"out of date: {rel}", file=sys.stderr)
        return 1 if stale else 0
    for rel, text in rendered.items():
        path = args.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {rel} ({len(text.encode())} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
