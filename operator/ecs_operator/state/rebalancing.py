"""What Availability Zone rebalancing reads: the service's tasks with their nodes' zones, the
zones a task of the service could be placed in now, and the tasks still starting."""

from __future__ import annotations

from dataclasses import dataclass

from .. import constants, k8s
from ..domain.rebalancing import ZONE_LABEL, Task, available_zones


@dataclass(frozen=True)
class RebalanceSnapshot:
    tasks: tuple[Task, ...]  # running tasks (pods Running, not being deleted)
    zones: frozenset[str]  # zones a task of the service could be placed in now
    starting: int  # tasks not running yet (Pending, not being deleted)


def _ready(pod: dict) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def read(namespace: str, service: str) -> RebalanceSnapshot:
    pods = [
        p
        for p in k8s.list_("v1", "Pod", namespace, labels={constants.SERVICE: service})
        if not p["metadata"].get("deletionTimestamp")
    ]
    nodes = k8s.list_("v1", "Node", None)
    zone_of = {n["metadata"]["name"]: (n["metadata"].get("labels") or {}).get(ZONE_LABEL) for n in nodes}
    tasks, starting = [], 0
    for p in pods:
        phase = (p.get("status") or {}).get("phase")
        if phase == "Pending":
            starting += 1
        elif phase == "Running":
            tasks.append(
                Task(
                    id=p["metadata"].get("uid", "").replace("-", ""),
                    pod=p["metadata"]["name"],
                    zone=zone_of.get(p["spec"].get("nodeName", "")),
                    healthy=_ready(p),
                    started=p["metadata"].get("creationTimestamp") or "",
                )
            )
    newest = max(pods, key=lambda p: p["metadata"].get("creationTimestamp") or "", default=None)
    zones = available_zones(nodes, newest["spec"]) if newest is not None else set()
    return RebalanceSnapshot(tuple(tasks), frozenset(zones), starting)
