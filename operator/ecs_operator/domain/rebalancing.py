"""Availability Zone rebalancing, ECS's rules as functions of plain data (pure).

ECS keeps a service's tasks spread evenly over the Availability Zones it can place them in:
when a zone's capacity comes back after an outage, tasks move back into it. A service is *AZ
balanced* when, over the zones it can place tasks in now, the busiest zone has at most one task
more than the emptiest one. One rebalancing step stops one task in the busiest zone (its
replacement is placed by the service's spread-by-zone strategy, i.e. in the emptiest zone), and
only when that keeps the healthy tasks at or above the ``minimumHealthyPercent`` floor and no
earlier replacement is still starting.

Which zones count: those of the nodes a task of the service could be placed on now (Ready, not
cordoned, with a zone label; the task's nodeSelector, required node affinity and tolerations
allow it). Tasks on nodes outside those zones are not counted: they cannot be moved there.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ZONE_LABEL = "topology.kubernetes.io/zone"
#: placement strategy fields under which ECS rebalances (spread over zones, or ECS's default)
ZONE_SPREAD_FIELDS = ("attribute:ecs.availability-zone",)


@dataclass(frozen=True)
class Task:
    """A running task of the service, as rebalancing sees it."""

    id: str  # the ECS task id
    pod: str  # its pod's name
    zone: str | None  # its node's zone (None: not placed, or a node without a zone)
    healthy: bool  # running and ready
    started: str = ""  # creation time (ISO 8601): the newest task of a zone is stopped first


@dataclass(frozen=True)
class Step:
    """What to do now: ``stop`` one task, or nothing (``balanced``, or ``blocked`` with why)."""

    balanced: bool
    counts: dict[str, int] = field(default_factory=dict)  # zone -> tasks, zones in name order
    stop: Task | None = None
    blocked: str | None = None


def healthy_floor(desired: int, minimum_healthy_percent: int | None) -> int:
    """The fewest healthy tasks ECS keeps: ``minimumHealthyPercent`` of desired, rounded up."""
    percent = 100 if minimum_healthy_percent is None else minimum_healthy_percent
    return math.ceil(desired * percent / 100)


def zone_counts(tasks: Iterable[Task], zones: Iterable[str]) -> dict[str, int]:
    """Tasks per available zone (every available zone listed, with 0 when it runs none)."""
    counts = dict.fromkeys(sorted(set(zones)), 0)
    for t in tasks:
        if t.zone in counts:
            counts[t.zone] += 1
    return counts


def is_balanced(counts: Mapping[str, int]) -> bool:
    return len(counts) < 2 or max(counts.values()) - min(counts.values()) <= 1


def plan_step(
    tasks: Sequence[Task],
    zones: Iterable[str],
    *,
    desired: int,
    minimum_healthy_percent: int | None,
    starting: int = 0,
) -> Step:
    """One rebalancing step. ``starting``: the service's tasks not running yet (a replacement
    placed by the previous step, or anything else starting): wait for them."""
    counts = zone_counts(tasks, zones)
    if is_balanced(counts):
        return Step(True, counts)
    if starting > 0 or any(not t.healthy for t in tasks):
        return Step(False, counts, blocked="tasks are starting: waiting for them to be healthy")
    healthy = sum(1 for t in tasks if t.healthy)
    floor = healthy_floor(desired, minimum_healthy_percent)
    if healthy - 1 < floor:
        return Step(
            False,
            counts,
            blocked=f"stopping a task would leave {healthy - 1} healthy tasks, below the minimumHealthyPercent "
            f"floor of {floor}",
        )
    busiest = min(counts, key=lambda z: (-counts[z], z))  # the busiest; ties: the first by name
    candidates = sorted((t for t in tasks if t.zone == busiest), key=lambda t: (t.started, t.id), reverse=True)
    return Step(False, counts, stop=candidates[0])


# -- which zones a task could be placed in -------------------------------------------------


def _ready(node: Mapping[str, Any]) -> bool:
    for cond in (node.get("status") or {}).get("conditions") or ():
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def _expression_holds(expr: Mapping[str, Any], value: str | None) -> bool:
    op, values = expr.get("operator"), [str(v) for v in expr.get("values") or []]
    if op == "In":
        return value is not None and value in values
    if op == "NotIn":
        return value is None or value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt") and value is not None and values:
        try:
            a, b = int(value), int(values[0])
        except ValueError:
            return False
        return a > b if op == "Gt" else a < b
    return False


def _term_holds(term: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    labels = (node.get("metadata") or {}).get("labels") or {}
    name = (node.get("metadata") or {}).get("name")
    exprs = term.get("matchExpressions") or []
    fields_ = term.get("matchFields") or []
    if not exprs and not fields_:
        return False  # an empty term selects no node
    return all(_expression_holds(e, labels.get(e.get("key"))) for e in exprs) and all(
        _expression_holds(f, name if f.get("key") == "metadata.name" else None) for f in fields_
    )


def _tolerated(taint: Mapping[str, Any], tolerations: Iterable[Mapping[str, Any]]) -> bool:
    for t in tolerations:
        if t.get("effect") and t.get("effect") != taint.get("effect"):
            continue
        if not t.get("key") and t.get("operator") == "Exists":
            return True
        if t.get("key") != taint.get("key"):
            continue
        if t.get("operator") == "Exists" or (t.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def node_fits(node: Mapping[str, Any], pod_spec: Mapping[str, Any]) -> bool:
    """A task with ``pod_spec`` could be placed on ``node`` now: Ready, not cordoned, its
    nodeSelector, required node affinity and NoSchedule/NoExecute taints allow it (resources
    are the scheduler's business)."""
    if not _ready(node) or (node.get("spec") or {}).get("unschedulable"):
        return False
    labels = (node.get("metadata") or {}).get("labels") or {}
    if any(labels.get(k) != v for k, v in (pod_spec.get("nodeSelector") or {}).items()):
        return False
    required = ((pod_spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    terms = required.get("nodeSelectorTerms") or []
    if terms and not any(_term_holds(t, node) for t in terms):
        return False
    tolerations = pod_spec.get("tolerations") or []
    return all(
        _tolerated(t, tolerations)
        for t in (node.get("spec") or {}).get("taints") or []
        if t.get("effect") in ("NoSchedule", "NoExecute")
    )


def available_zones(nodes: Iterable[Mapping[str, Any]], pod_spec: Mapping[str, Any]) -> set[str]:
    """The zones of the nodes a task with ``pod_spec`` could be placed on now."""
    out = set()
    for n in nodes:
        zone = ((n.get("metadata") or {}).get("labels") or {}).get(ZONE_LABEL)
        if zone and node_fits(n, pod_spec):
            out.add(zone)
    return out


def spreads_by_zone(strategies: Sequence[Mapping[str, Any]] | None) -> bool:
    """ECS rebalances a service placed by ECS's default strategy (none given) or one whose
    first strategy spreads over zones."""
    if not strategies:
        return True
    first = strategies[0]
    return first.get("type") == "spread" and first.get("field") in ZONE_SPREAD_FIELDS
