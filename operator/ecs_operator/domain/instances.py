"""The ECS container instance view of a Kubernetes node (pure functions of node and pod dicts).

==============================  ==========================================================
ECS                             Kubernetes
==============================  ==========================================================
``ecs.availability-zone``       label ``topology.kubernetes.io/zone``
``ecs.instance-type``           label ``node.kubernetes.io/instance-type``
``ecs.os-type``                 label ``kubernetes.io/os`` (``linux``, ``windows``)
``ecs.cpu-architecture``        label ``kubernetes.io/arch`` (``amd64`` -> ``x86_64``)
``ecs.os-family``               ``LINUX`` when ``kubernetes.io/os`` is ``linux``
custom attribute ``<name>``     label ``attribute.ecs.seed.dev/<name>`` (value may be empty)
``ec2InstanceId``/instanceId    label ``ecs.seed.dev/instance-id``, else the node name
``registeredAt``                ``metadata.creationTimestamp``
``agentConnected``              condition ``Ready`` is ``True``
``agentVersion``                ``status.nodeInfo.kubeletVersion``
``status``                      ``DRAINING`` when cordoned (``spec.unschedulable``), else ``ACTIVE``
registered cpu / memory         ``status.allocatable`` (cpu in ECS units, 1 vCPU = 1024; MiB)
remaining cpu / memory          allocatable minus the requests of the non-terminated pods on it
``runningTasksCount``           ECS task pods (label ``ecs.seed.dev/service`` or ``ecs.seed.dev/task``)
                                in phase Running; the others not yet terminated are pending
``task:group``                  annotation ``ecs.seed.dev/group`` of those pods (``service:web``)
==============================  ==========================================================

The four label-backed built-in attributes come only from their well-known labels (an
``attribute.ecs.seed.dev/ecs.instance-type`` label is ignored), so that a ``memberOf`` on them
compiles exactly to node affinity (see :mod:`.native`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from functools import lru_cache
from typing import Any

from .. import constants
from .capacity import FARGATE_PROVIDERS, LABEL_CAPACITY_PROVIDER

LABEL_ZONE = "topology.kubernetes.io/zone"
LABEL_INSTANCE_TYPE = "node.kubernetes.io/instance-type"
LABEL_OS = "kubernetes.io/os"
LABEL_ARCH = "kubernetes.io/arch"
LABEL_HOSTNAME = "kubernetes.io/hostname"
LABEL_INSTANCE_ID = constants.INSTANCE_ID
ATTRIBUTE_LABEL_PREFIX = constants.ATTRIBUTE_PREFIX

LABEL_SERVICE = constants.SERVICE
LABEL_TASK = constants.TASK
LABEL_FAMILY = constants.FAMILY
LABEL_CLUSTER = constants.CLUSTER
ANNOTATION_GROUP = constants.TASK_GROUP

#: Kubernetes arch names -> ECS ``ecs.cpu-architecture`` values.
ARCH_TO_ECS = {"amd64": "x86_64", "arm64": "arm64", "386": "i386", "arm": "arm"}
ECS_TO_ARCH = {v: k for k, v in ARCH_TO_ECS.items()}

#: ECS attribute -> (node label, value mapping label value -> ECS value or None for identity).
LABEL_BACKED: dict[str, tuple[str, dict[str, str] | None]] = {
    "ecs.availability-zone": (LABEL_ZONE, None),
    "ecs.instance-type": (LABEL_INSTANCE_TYPE, None),
    "ecs.os-type": (LABEL_OS, None),
    "ecs.cpu-architecture": (LABEL_ARCH, ARCH_TO_ECS),
}

ACTIVE = "ACTIVE"
DRAINING = "DRAINING"

_TERMINATED = ("Succeeded", "Failed")
_GROUP_PREFIX = constants.PREFIX


# --------------------------------------------------------------------------------------
# Quantities

_QUANTITY_RE = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$")
_SUFFIX = {
    "": Fraction(1),
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 1000),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
    "Ki": Fraction(2**10),
    "Mi": Fraction(2**20),
    "Gi": Fraction(2**30),
    "Ti": Fraction(2**40),
    "Pi": Fraction(2**50),
    "Ei": Fraction(2**60),
}


def parse_quantity(value: object) -> Fraction:
    """A Kubernetes resource quantity (``"1500m"``, ``"8Gi"``, ``"1e3"``, ``2``) as an exact
    Fraction; raises ValueError when it is not one."""
    if isinstance(value, bool):
        raise ValueError(f"not a quantity: {value!r}")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        return Fraction(str(value))
    text = str(value).strip()
    m = _QUANTITY_RE.match(text)
    if not m:
        raise ValueError(f"not a quantity: {value!r}")
    number, suffix = Fraction(m.group(1)), m.group(2) or ""
    if suffix[:1] in ("e", "E"):
        exp = int(suffix[1:])
        if abs(exp) > 30:
            raise ValueError(f"quantity exponent out of range: {value!r}")
        return number * Fraction(10) ** exp
    return number * _SUFFIX[suffix]


@lru_cache(maxsize=4096)
def _scaled(value: str, scale: int) -> int:
    try:
        q = parse_quantity(value) * scale
    except ValueError:
        return 0
    return -int((-q) // 1)  # rounded up, as Kubernetes' MilliValue()/Value()


def milli(value: object) -> int:
    """A quantity in thousandths, rounded up (cpu ``"250m"`` -> 250); invalid -> 0."""
    return _scaled(str(value), 1000)


def whole(value: object) -> int:
    """A quantity in units, rounded up (memory ``"512Mi"`` -> 536870912); invalid -> 0."""
    return _scaled(str(value), 1)


def cpu_units(millicores: int) -> int:
    """Millicores -> ECS cpu units (1 vCPU = 1024), rounded down."""
    return (millicores * 1024) // 1000


def memory_mib(num_bytes: int) -> int:
    """Bytes -> MiB, rounded down."""
    return num_bytes // (2**20)


# --------------------------------------------------------------------------------------
# Pods


def _resources(containers: Iterable[dict[str, Any]] | None) -> tuple[int, int]:
    cpu = mem = 0
    for c in containers or ():
        res = (c or {}).get("resources") or {}
        req = res.get("requests") or {}
        lim = res.get("limits") or {}
        # The API server defaults requests to limits; do the same for hand-written objects.
        v = req.get("cpu", lim.get("cpu"))
        if v is not None:
            cpu += milli(v)
        v = req.get("memory", lim.get("memory"))
        if v is not None:
            mem += whole(v)
    return cpu, mem


def pod_requests(pod: dict[str, Any]) -> tuple[int, int]:
    """(cpu millicores, memory bytes) the scheduler accounts for ``pod``: the larger of the app
    containers (plus sidecars) and any init container, plus the pod overhead."""
    spec = pod.get("spec") or {}
    cpu, mem = _resources(spec.get("containers"))
    inits = spec.get("initContainers")
    if inits:
        sidecar_cpu = sidecar_mem = init_cpu = init_mem = 0
        for c in inits:
            c_cpu, c_mem = _resources([c])
            if (c or {}).get("restartPolicy") == "Always":  # sidecar: runs alongside the app
                sidecar_cpu += c_cpu
                sidecar_mem += c_mem
                continue
            init_cpu = max(init_cpu, sidecar_cpu + c_cpu)
            init_mem = max(init_mem, sidecar_mem + c_mem)
        cpu, mem = max(cpu + sidecar_cpu, init_cpu), max(mem + sidecar_mem, init_mem)
    overhead = spec.get("overhead")
    if overhead:
        cpu += milli(overhead.get("cpu", 0))
        mem += whole(overhead.get("memory", 0))
    return cpu, mem


def pod_requests_ecs(pod: dict[str, Any]) -> tuple[int, int]:
    """The pod's requests as ECS cpu units and MiB (rounded up)."""
    cpu, mem = pod_requests(pod)
    return -((-cpu * 1024) // 1000), -((-mem) // (2**20))


def is_terminated(pod: dict[str, Any]) -> bool:
    return ((pod.get("status") or {}).get("phase")) in _TERMINATED


def is_ecs_task(pod: dict[str, Any]) -> bool:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return LABEL_SERVICE in labels or LABEL_TASK in labels


def task_group(pod: dict[str, Any]) -> str | None:
    """The ECS task group of a pod: annotation ``ecs.seed.dev/group``; else ``service:<name>``
    from the service label, ``family:<family>`` from the family label."""
    md = pod.get("metadata") or {}
    group = (md.get("annotations") or {}).get(ANNOTATION_GROUP)
    if group:
        return str(group)
    labels = md.get("labels") or {}
    if labels.get(LABEL_SERVICE):
        return f"service:{labels[LABEL_SERVICE]}"
    if labels.get(LABEL_FAMILY):
        return f"family:{labels[LABEL_FAMILY]}"
    return None


# --------------------------------------------------------------------------------------
# Container instances


@dataclass(frozen=True, slots=True)
class ContainerInstance:
    """An ECS container instance as seen through a Kubernetes node."""

    name: str  # the node name
    ec2_instance_id: str
    attributes: Mapping[str, str]
    status: str = ACTIVE  # ACTIVE | DRAINING
    agent_connected: bool = True
    agent_version: str | None = None
    registered_at: datetime | None = None
    registered_cpu: int = 0  # ECS cpu units
    registered_memory: int = 0  # MiB
    remaining_cpu: int = 0
    remaining_memory: int = 0
    running_tasks_count: int = 0
    pending_tasks_count: int = 0
    task_groups: Mapping[str, int] = field(default_factory=dict)  # group -> running + pending tasks
    resource_version: str | None = None
    #: FARGATE / FARGATE_SPOT for the virtual nodes serving Fargate (not EC2 container instances)
    fargate: str | None = None

    @property
    def instance_id(self) -> str:
        return self.ec2_instance_id

    def tasks_in_group(self, group: str | None) -> int:
        return self.task_groups.get(group, 0) if group else 0


def node_attributes(node: dict[str, Any]) -> dict[str, str]:
    labels = (node.get("metadata") or {}).get("labels") or {}
    attrs: dict[str, str] = {}
    for key, value in labels.items():
        if key.startswith(ATTRIBUTE_LABEL_PREFIX):
            name = key[len(ATTRIBUTE_LABEL_PREFIX) :]
            if name and name not in LABEL_BACKED:
                attrs[name] = "" if value is None else str(value)
    for name, (label, mapping) in LABEL_BACKED.items():
        value = labels.get(label)
        if value:
            attrs[name] = mapping.get(value, value) if mapping else value
    if labels.get(LABEL_OS) == "linux":
        attrs.setdefault("ecs.os-family", "LINUX")
    return attrs


def _ready(node: dict[str, Any]) -> bool:
    for cond in (node.get("status") or {}).get("conditions") or ():
        if cond.get("type") == "Ready":
            status: object = cond.get("status")
            return status == "True"
    return False


def _timestamp(value: object) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def build_instance(node: dict[str, Any], pods: Iterable[dict[str, Any]] = ()) -> ContainerInstance:
    """The container instance of ``node``; ``pods`` are the pods bound to it (terminated ones
    are ignored, so passing every pod with ``spec.nodeName`` = the node is fine)."""
    md = node.get("metadata") or {}
    name = str(md.get("name") or "")
    labels = md.get("labels") or {}
    status = node.get("status") or {}
    alloc = status.get("allocatable") or status.get("capacity") or {}
    alloc_cpu = milli(alloc.get("cpu", 0))
    alloc_mem = whole(alloc.get("memory", 0))
    used_cpu = used_mem = 0
    running = pending = 0
    groups: dict[str, int] = {}
    for pod in pods:
        if is_terminated(pod):
            continue
        c, m = pod_requests(pod)
        used_cpu += c
        used_mem += m
        if is_ecs_task(pod):
            if (pod.get("status") or {}).get("phase") == "Running":
                running += 1
            else:
                pending += 1
            g = task_group(pod)
            if g:
                groups[g] = groups.get(g, 0) + 1
    return ContainerInstance(
        name=name,
        ec2_instance_id=str(labels.get(LABEL_INSTANCE_ID) or name),
        attributes=node_attributes(node),
        fargate=labels.get(LABEL_CAPACITY_PROVIDER)
        if labels.get(LABEL_CAPACITY_PROVIDER) in FARGATE_PROVIDERS
        else None,
        status=DRAINING if (node.get("spec") or {}).get("unschedulable") else ACTIVE,
        agent_connected=_ready(node),
        agent_version=(status.get("nodeInfo") or {}).get("kubeletVersion") or None,
        registered_at=_timestamp(md.get("creationTimestamp")),
        registered_cpu=cpu_units(alloc_cpu),
        registered_memory=memory_mib(alloc_mem),
        remaining_cpu=cpu_units(alloc_cpu - used_cpu),
        remaining_memory=memory_mib(alloc_mem - used_mem),
        running_tasks_count=running,
        pending_tasks_count=pending,
        task_groups=groups,
        resource_version=md.get("resourceVersion"),
    )


def pods_by_node(pods: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Non-terminated pods grouped by ``spec.nodeName`` (unbound pods are left out)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        if node and not is_terminated(pod):
            out.setdefault(node, []).append(pod)
    return out


def build_instances(nodes: Iterable[dict[str, Any]], pods: Iterable[dict[str, Any]]) -> dict[str, ContainerInstance]:
    """Container instances by node name."""
    by_node = pods_by_node(pods)
    out = {}
    for node in nodes:
        name = (node.get("metadata") or {}).get("name")
        inst = build_instance(node, by_node.get(name, ()) if name is not None else ())
        out[inst.name] = inst
    return out


# --------------------------------------------------------------------------------------
# Slim copies for caches (what build_instance reads)


def _pick(d: dict[str, Any] | None, keys: Iterable[str]) -> dict[str, Any]:
    if not d:
        return {}
    return {k: d[k] for k in keys if d.get(k) is not None}


def slim_node(node: dict[str, Any]) -> dict[str, Any]:
    """The fields of a node that :func:`build_instance` and AZ rebalancing's node fit read
    (labels, allocatable, Ready, unschedulable, taints; no images, no managed fields, no
    heartbeat times)."""
    md = node.get("metadata") or {}
    spec = node.get("spec") or {}
    status = node.get("status") or {}
    out_status: dict[str, Any] = _pick(status, ("allocatable", "capacity"))
    conds = status.get("conditions")
    if conds:
        out_status["conditions"] = [
            {"type": c.get("type"), "status": c.get("status")} for c in conds if isinstance(c, dict)
        ]
    kubelet = (status.get("nodeInfo") or {}).get("kubeletVersion")
    if kubelet:
        out_status["nodeInfo"] = {"kubeletVersion": kubelet}
    return {
        "metadata": _pick(md, ("name", "uid", "resourceVersion", "creationTimestamp", "labels")),
        "spec": _pick(spec, ("unschedulable", "taints")),
        "status": out_status,
    }


def _slim_container(c: dict[str, Any]) -> dict[str, Any]:
    return _pick(c, ("name", "resources", "restartPolicy"))


def slim_pod(pod: dict[str, Any]) -> dict[str, Any]:
    """The fields of a pod that placement reads from the pods on a node: identity, labels,
    deletion timestamp, the ``ecs.seed.dev/*`` annotations, container/init container resources (and restart
    policy: sidecars), overhead, the node it is bound to, its phase."""
    md = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    out_md = _pick(md, ("name", "namespace", "uid", "resourceVersion", "labels", "deletionTimestamp"))
    ann = md.get("annotations")
    if ann:
        mine = {k: v for k, v in ann.items() if k.startswith(_GROUP_PREFIX)}
        if mine:
            out_md["annotations"] = mine
    out_spec: dict[str, Any] = {
        "containers": [_slim_container(c) for c in spec.get("containers") or () if isinstance(c, dict)]
    }
    if spec.get("initContainers"):
        out_spec["initContainers"] = [_slim_container(c) for c in spec["initContainers"] if isinstance(c, dict)]
    out_spec.update(_pick(spec, ("overhead", "nodeName", "schedulerName")))
    phase = (pod.get("status") or {}).get("phase")
    return {"metadata": out_md, "spec": out_spec, "status": {"phase": phase} if phase else {}}
