"""What Availability Zone rebalancing reads: the service's tasks with their nodes' zones, the
zones a task of the service could be placed in now, and the tasks still starting."""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..domain.rebalancing import ZONE_LABEL, Task, available_zones
from . import fleet, services


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


def _placement(pod: dict) -> str:
    spec = pod.get("spec") or {}
    return json.dumps([spec.get(k) for k in ("nodeSelector", "affinity", "tolerations")], sort_keys=True)


def read(namespace: str, service: str) -> RebalanceSnapshot:
    # the service's pods from the operator's index (a LIST per service every 10 s was, at 1,000
    # services, 100 label-selected lists a second over every pod of the namespace)
    pods = [
        p for p in services.indexes.objects("Pod", namespace, service) if not p["metadata"].get("deletionTimestamp")
    ]
    nodes = fleet.nodes()  # one slim node list every 5 s serves every service
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
