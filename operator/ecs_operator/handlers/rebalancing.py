"""Availability Zone rebalancing of ECSServices (``availabilityZoneRebalancing``, ENABLED unless
the service says DISABLED), on a timer per service.

Each tick reads the service's tasks and the zones its tasks could be placed in now
(:mod:`ecs_operator.state.rebalancing`), plans one step (:mod:`ecs_operator.plans.rebalance`):
at most one task stopped, in the busiest zone, never below the minimumHealthyPercent floor and
never while a task starts or a deployment runs. Stopping a task is deleting its pod: the
service's Deployment replaces it and the spread-by-zone placement puts the replacement in the
emptiest zone. ECS's service events are added to ``status.events`` by a read-modify-write that
carries the resourceVersion (a conflicting writer -> read again), so the service handler, which
keeps the events it finds, keeps them.
"""

from __future__ import annotations

import kopf

from .. import API_VERSION, GROUP, VERSION, k8s, metrics
from ..models.generated import CreateServiceRequest
from ..plans import rebalance as plan
from ..plans.service import EVENT_REASON
from ..state import rebalancing as state
from ..status import now_iso

#: seconds between two rebalancing steps of a service
REBALANCE_SECONDS = 10.0
_WRITE_ATTEMPTS = 5


def _enabled(spec, **_) -> bool:
    return (spec or {}).get("availabilityZoneRebalancing") != plan.DISABLED


@kopf.timer(GROUP, VERSION, "ecsservices", interval=REBALANCE_SECONDS, initial_delay=REBALANCE_SECONDS, when=_enabled)
@metrics.reconciled("ECSService")
def rebalance(body, logger, **_) -> None:
    md = body["metadata"]
    namespace, name = md["namespace"], md["name"]
    if md.get("deletionTimestamp"):
        return
    try:
        svc = CreateServiceRequest.model_validate(dict(body.get("spec") or {}))
    except ValueError:
        return  # the service handler reports it
    snap = state.read(namespace, name)
    todo = plan.plan_rebalance(
        svc,
        service=name,
        status=dict(body.get("status") or {}),
        tasks=snap.tasks,
        zones=set(snap.zones),
        starting=snap.starting,
        now=now_iso(),
        placements=snap.placements,
    )
    if todo.stop is not None:
        k8s.delete("v1", "Pod", namespace, todo.stop.pod)
        logger.info(f"AZ rebalancing: stopped task {todo.stop.id} (pod {todo.stop.pod}) in {todo.stop.zone}")
    elif todo.why_not and todo.step is not None and not todo.step.balanced:
        logger.debug(f"AZ rebalancing waits: {todo.why_not}")
    if todo.events:
        _add_events(namespace, name, list(todo.events))
        for e in todo.events:
            kopf.info(body, reason=EVENT_REASON, message=e["message"])


def _add_events(namespace: str, name: str, new: list[dict]) -> None:
    """Prepend ``new`` to status.events, guarded by the resourceVersion read with them."""
    for _attempt in range(_WRITE_ATTEMPTS):
        current = k8s.get(API_VERSION, "ECSService", namespace, name)
        if current is None:
            return
        events = plan.with_events((current.get("status") or {}).get("events") or [], new)
        patch = {"metadata": {"resourceVersion": current["metadata"]["resourceVersion"]}, "status": {"events": events}}
        try:
            k8s.merge_patch(API_VERSION, "ECSService", namespace, name, patch, subresource="status")
            return
        except kopf.TemporaryError:  # 409: another writer came first: read again
            continue
        except k8s.ApiError as e:
            if e.status != 409:
                raise
    raise kopf.TemporaryError("service events not written: the service kept changing", delay=1)
