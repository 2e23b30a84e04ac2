"""Availability Zone rebalancing of a service: whether it applies, the task to stop now and the
service events to post, worded as ECS words them (pure; ``now`` is passed in).

ECS's events (docs: "Amazon ECS Availability Zone service rebalancing service event messages"):

* SERVICE_REBALANCING_STARTED: ``service (web) is not AZ balanced with 4 tasks in us-east-1a and
  0 in us-east-1b. AZ Rebalancing in progress.``
* TASKS_STOPPED: ``web has stopped 1 running tasks in us-east-1a due to AZ rebalancing: <task-id>.``
* SERVICE_REBALANCING_COMPLETED: ``service (web) is AZ balanced with 2 tasks in us-east-1a and
  2 tasks in us-east-1b.``

Whether a rebalancing is in progress is read from the service's own events (the newest
rebalancing event is a STARTED one), so the decision is level-based: a lost write or a restart
is repaired by the next step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..domain.rebalancing import Step, Task, plan_step, spreads_by_zone
from ..models.generated import CreateServiceRequest
from ..translate.service import DAEMON, scheduling_strategy
from ..translate.service_status import MAX_EVENTS, event

ENABLED, DISABLED = "ENABLED", "DISABLED"
STARTED_MARK = "is not AZ balanced with"
COMPLETED_MARK = "is AZ balanced with"


@dataclass(frozen=True)
class RebalancePlan:
    """The task to stop (None: none now), the new events (oldest first) and why nothing is
    stopped (for the log)."""

    stop: Task | None
    events: tuple[dict[str, Any], ...]
    why_not: str | None = None
    step: Step | None = None


def rebalancing(svc: CreateServiceRequest) -> str:
    """ECS's value: ENABLED unless the service says DISABLED (CreateService's default is ENABLED)."""
    return DISABLED if svc.availabilityZoneRebalancing == DISABLED else ENABLED


def _zones(counts: Mapping[str, int], every: bool) -> str:
    parts = [f"{n} tasks in {z}" if every or i == 0 else f"{n} in {z}" for i, (z, n) in enumerate(counts.items())]
    if len(parts) <= 2:
        return " and ".join(parts)
    return ", ".join(parts[:-1]) + ", and " + parts[-1]


def started_message(service: str, counts: Mapping[str, int]) -> str:
    return f"service ({service}) is not AZ balanced with {_zones(counts, False)}. AZ Rebalancing in progress."


def completed_message(service: str, counts: Mapping[str, int]) -> str:
    return f"service ({service}) is AZ balanced with {_zones(counts, True)}."


def stopped_message(service: str, task: Task) -> str:
    return f"{service} has stopped 1 running tasks in {task.zone} due to AZ rebalancing: {task.id}."


def in_progress(events: Sequence[Mapping[str, Any]], service: str) -> bool:
    """The newest rebalancing event of ``events`` (newest first, as status.events) is a STARTED one."""
    started, completed = f"service ({service}) {STARTED_MARK}", f"service ({service}) {COMPLETED_MARK}"
    for e in events:
        message = str(e.get("message") or "")
        if message.startswith(started):
            return True
        if message.startswith(completed):
            return False
    return False


def _deploying(status: Mapping[str, Any]) -> bool:
    return status.get("rolloutState") == "IN_PROGRESS" or len(status.get("deployments") or []) > 1


def plan_rebalance(
    svc: CreateServiceRequest,
    *,
    service: str,
    status: Mapping[str, Any],
    tasks: Sequence[Task],
    zones: set[str],
    starting: int,
    now: str,
    placements: int = 1,
) -> RebalancePlan:
    """One rebalancing step of the service named ``service`` (see the module docstring)."""
    if rebalancing(svc) == DISABLED:
        return RebalancePlan(None, (), "availabilityZoneRebalancing is DISABLED")
    if scheduling_strategy(svc) == DAEMON:
        return RebalancePlan(None, (), "a DAEMON service runs one task per container instance")
    strategies = [s.model_dump(exclude_none=True) for s in svc.placementStrategy or []]
    if not spreads_by_zone(strategies):
        return RebalancePlan(None, (), "the placement strategy does not spread tasks over Availability Zones")
    if placements > 1:
        return RebalancePlan(None, (), "the tasks run in several capacity provider pools, each placed on its own")
    if _deploying(status):
        return RebalancePlan(None, (), "a deployment is in progress")
    dc = svc.deploymentConfiguration
    step = plan_step(
        tasks,
        zones,
        desired=svc.desiredCount or 0,
        minimum_healthy_percent=dc.minimumHealthyPercent if dc else None,
        starting=starting,
    )
    ongoing = in_progress(status.get("events") or [], service)
    events: list[dict[str, Any]] = []
    if step.balanced:
        if ongoing:
            events.append(event(completed_message(service, step.counts), now))
        return RebalancePlan(None, tuple(events), None, step)
    if step.stop is None:
        return RebalancePlan(None, (), step.blocked, step)
    if not ongoing:
        events.append(event(started_message(service, step.counts), now))
    events.append(event(stopped_message(service, step.stop), now))
    return RebalancePlan(step.stop, tuple(events), None, step)


def with_events(existing: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """status.events with ``new`` (oldest first) added: newest first, ECS's last 100."""
    return ([dict(e) for e in reversed(new)] + [dict(e) for e in existing])[:MAX_EVENTS]
