"""Draining: how a service's tasks leave DRAINING container instances (cordoned nodes) within
its deployment limits, as ECS drains them.

Pure: no client, no clock.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from ..domain.membership import selected
from ..models.generated import CreateServiceRequest
from .service import rolling_limits
from .service_status import is_active

Obj = dict[str, Any]

#: Pod annotation the ReplicaSet controller reads to pick which pods to remove first.
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"


def _ready(pod: Obj) -> bool:
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

    manifests: tuple[Obj, ...]  # the workloads, Deployment replicas raised while replacements start
    mark: tuple[str, ...] = ()  # pods on draining nodes: removed first when a ReplicaSet scales in
    stop: tuple[str, ...] = ()  # pods on draining nodes to stop now (within minimumHealthyPercent)


def drain(
    svc: CreateServiceRequest, manifests: tuple[Obj, ...], pods: list[Obj], draining_nodes: set[str]
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
