"""What Availability Zone rebalancing reads: the service's tasks with their nodes' zones, the
zones a task of the service could be placed in now, and the tasks still starting."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass

from .. import k8s
from ..domain.rebalancing import ZONE_LABEL, Task, available_zones
from . import services


@dataclass(frozen=True)
class RebalanceSnapshot:
    tasks: tuple[Task, ...]  # running tasks (pods Running, not being deleted)
    zones: frozenset[str]  # zones a task of the service could be placed in now
    starting: int  # tasks not running yet (Pending, not being deleted)
    placements: int = 1  # distinct placements of the tasks (a capacity provider split runs several)


def _ready(pod: dict) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


#: seconds a node list serves every service's rebalancing step (one LIST, not one per service)
NODES_TTL = 5.0
_nodes_lock = threading.Lock()
_nodes: tuple[float, list[dict]] = (float("-inf"), [])


def _list_nodes() -> list[dict]:
    global _nodes
    with _nodes_lock:
        if time.monotonic() - _nodes[0] < NODES_TTL:
            return _nodes[1]
        _nodes = (time.monotonic(), k8s.list_("v1", "Node", None))
        return _nodes[1]


def _placement(pod: dict) -> str:
    spec = pod.get("spec") or {}
    return json.dumps([spec.get(k) for k in ("nodeSelector", "affinity", "tolerations")], sort_keys=True)


def read(namespace: str, service: str) -> RebalanceSnapshot:
    # the service's pods from the operator's index (a LIST per service every 10 s was, at 1,000
    # services, 100 label-selected lists a second over every pod of the namespace)
    pods = [
        p for p in services.indexes.objects("Pod", namespace, service) if not p["metadata"].get("deletionTimestamp")
    ]
    nodes = _list_nodes()
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
    # each distinct placement of the service's pods (a capacity provider split runs several)
    placements = {_placement(p): p["spec"] for p in pods}
    zones: set[str] = set()
    for spec in placements.values():
        zones |= available_zones(nodes, spec)
    return RebalanceSnapshot(tuple(tasks), frozenset(zones), starting, len(placements))
