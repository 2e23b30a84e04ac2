"""ECSService (pure): from a snapshot of a service (:class:`ecs_operator.state.services.ServiceSnapshot`),
what to apply and delete, which tasks to (un)mark for draining, the status ECS's DescribeServices
reports, the circuit breaker's rollback, the events to post and whether to reconcile again.

REPLICA services run as Deployments (one per capacity provider of a split strategy), DAEMON
services as a DaemonSet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..models.generated import CapacityProviderStrategyItem, CreateServiceRequest
from ..status import condition, merge_conditions
from ..translate import service as svc_tr
from ..translate.service_drain import DELETION_COST, DrainPlan, drain
from ..translate.service_status import MAX_EVENTS, is_active, service_status

Obj = dict[str, Any]


class ServiceView(Protocol):
    """What a plan reads of a service (:class:`ecs_operator.state.services.ServiceSnapshot`)."""

    @property
    def body(self) -> Obj: ...  # the ECSService
    @property
    def uid(self) -> str: ...
    @property
    def workloads(self) -> list[Obj]: ...  # the Deployments and DaemonSets it owns
    @property
    def replicasets(self) -> list[Obj]: ...
    @property
    def pods(self) -> list[Obj]: ...
    @property
    def services(self) -> list[Obj]: ...
    @property
    def budgets(self) -> list[Obj]: ...
    @property
    def draining(self) -> frozenset[str]: ...  # nodes that are DRAINING container instances


#: pod-deletion-cost of tasks on DRAINING container instances (lowest: they go first).
DRAINING_COST = "-1000"
#: The reason of the Kubernetes events that carry ECS's service events.
EVENT_REASON = "ServiceEvent"


def workload_kind(svc: CreateServiceRequest) -> str:
    """The kind of workload that runs the service's tasks."""
    return "DaemonSet" if svc_tr.scheduling_strategy(svc) == svc_tr.DAEMON else "Deployment"


def ref(obj: Obj) -> str:
    """``Kind/name``, as status.workloads lists the service's workloads."""
    return f"{obj['kind']}/{obj['metadata']['name']}"


def _owned(obj: Obj, uid: str) -> bool:
    return any(o.get("uid") == uid for o in obj["metadata"].get("ownerReferences") or [])


def _annotation(pod: Obj, key: str) -> Any:
    return (pod["metadata"].get("annotations") or {}).get(key)


def _node(pod: Obj) -> Any:
    return (pod.get("spec") or {}).get("nodeName")


# ------------------------------------------------------------------------------------------
# Reconcile: the task definition to run, the objects to apply and delete.
# ------------------------------------------------------------------------------------------


def pinned_task_definition(status: Obj, generation: int | None) -> str | None:
    """The circuit breaker rolled this generation back: the service keeps running the last
    completed task definition until the spec changes again (None: it follows its spec)."""
    if status.get("rolledBackGeneration") == generation and status.get("lastCompletedTaskDefinition"):
        return str(status["lastCompletedTaskDefinition"])
    return None


def budgets_on(cluster_obj: Obj | None) -> bool:
    """The ECSCluster asks for PodDisruptionBudgets (spec.kubernetes.podDisruptionBudgets)."""
    return bool((((cluster_obj or {}).get("spec") or {}).get("kubernetes") or {}).get("podDisruptionBudgets"))


def drain_plan(
    svc: CreateServiceRequest, manifests: Sequence[Obj], pods: list[Obj], draining: frozenset[str]
) -> DrainPlan:
    """Which tasks leave DRAINING container instances now; a task marked already is not marked
    again. DAEMON tasks leave by affinity (see :func:`ecs_operator.translate.service.workload`)."""
    if not draining or svc_tr.scheduling_strategy(svc) == svc_tr.DAEMON:
        return DrainPlan(tuple(manifests))
    plan = drain(svc, tuple(manifests), pods, set(draining))
    marked = {p["metadata"]["name"] for p in pods if _annotation(p, DELETION_COST) == DRAINING_COST}
    return DrainPlan(plan.manifests, tuple(sorted(set(plan.mark) - marked)), plan.stop)


@dataclass(frozen=True)
class ApplyPlan:
    """What a reconcile does, in this order: delete the workloads of the other kind, mark the
    tasks on draining nodes, apply the workloads, stop the tasks the drain stops, apply the
    Services and PodDisruptionBudgets, delete those the service no longer wants."""

    delete_workloads: tuple[tuple[str, str], ...]  # (kind, name)
    mark: tuple[str, ...]  # pods: pod-deletion-cost DRAINING_COST
    manifests: tuple[Obj, ...]  # the workloads
    stop: tuple[str, ...]  # pods to delete
    network: tuple[Obj, ...]  # Services
    budgets: tuple[Obj, ...]  # PodDisruptionBudgets
    delete_budgets: tuple[str, ...]
    delete_services: tuple[str, ...]


def plan_apply(
    snapshot: ServiceView,
    svc: CreateServiceRequest,
    *,
    manifests: tuple[Obj, ...],
    network: Sequence[Obj],
    budgets: Sequence[Obj],
) -> ApplyPlan:
    """The objects to apply and delete for the service of ``snapshot``.

    A switch REPLICA <-> DAEMON replaces the workload kind at once; Deployments the service no
    longer wants (its capacity provider strategy changed shape) stop once the new ones run every
    task (see :func:`plan_status`)."""
    uid = snapshot.uid
    kind = workload_kind(svc)
    drained = drain_plan(svc, manifests, snapshot.pods, snapshot.draining)
    wanted_budgets = {o["metadata"]["name"] for o in budgets}
    wanted_services = {o["metadata"]["name"] for o in network}
    return ApplyPlan(
        delete_workloads=tuple((w["kind"], w["metadata"]["name"]) for w in snapshot.workloads if w["kind"] != kind),
        mark=drained.mark,
        manifests=drained.manifests,
        stop=drained.stop,
        network=tuple(network),
        budgets=tuple(budgets),
        delete_budgets=tuple(
            b["metadata"]["name"]
            for b in snapshot.budgets
            if _owned(b, uid) and b["metadata"]["name"] not in wanted_budgets
        ),
        delete_services=tuple(
            s["metadata"]["name"]
            for s in snapshot.services
            if _owned(s, uid) and s["metadata"]["name"] not in wanted_services
        ),
    )


def failure_status(previous: Obj, generation: int | None, reason: str, message: str, now: str) -> Obj:
    """The status of a service that cannot be reconciled (ECS's exception as the reason)."""
    return {
        "observedGeneration": generation,
        "conditions": merge_conditions(
            previous.get("conditions"),
            [
                condition("Ready", False, reason, message, generation, now),
                condition("Progressing", False, reason, message, generation, now),
            ],
        ),
    }


# ------------------------------------------------------------------------------------------
# Status: ECS's view, the circuit breaker's rollback, events, the drain's progress.
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Desired:
    """What a reconcile has just decided; a status refresh knows none of it (the previous
    status says what the last reconcile decided)."""

    task_definition: str | None = None
    warnings: list[str] | None = None  # None: the Translated condition is left as it is
    workloads: list[str] | None = None  # refs Kind/name
    strategy: list[CapacityProviderStrategyItem] | None = None
    applied: tuple[Obj, ...] = ()  # the workloads as applied: fresher than the watch has seen
    #: refs of workloads that are not stale though not wanted (a strategy deployment's source
    #: revision, until its CLEAN_UP)
    keep: tuple[str, ...] = ()


@dataclass(frozen=True)
class Event:
    """A Kubernetes event to post on the ECSService."""

    message: str
    warning: bool = False
    reason: str = EVENT_REASON


@dataclass(frozen=True)
class StatusPlan:
    status: Obj
    write: bool  # False: nothing new, no write
    unmark: tuple[str, ...] = ()  # pods whose node is no longer draining
    delete: tuple[tuple[str, str], ...] = ()  # (kind, name) of stale workloads
    events: tuple[Event, ...] = ()
    follow_up: bool = False  # reconcile again (a rollback starts, or tasks still drain)


@dataclass(frozen=True)
class Rollback:
    """The circuit breaker's rollback fields of the status, and whether a rollback starts now
    (or this generation was rolled back already)."""

    fields: Obj = field(default_factory=dict)
    start: bool = False
    rolled_back: bool = False


def decide_rollback(
    svc: CreateServiceRequest, previous: Obj, generation: int | None, ecs: Obj, steady: bool
) -> Rollback:
    """ECS's deployment circuit breaker with rollback: a FAILED deployment of a generation not
    rolled back yet goes back to the last task definition that completed (if it is another)."""
    fields: Obj = {
        k: previous[k]
        for k in ("lastCompletedTaskDefinition", "rolledBackTaskDefinition", "rolledBackGeneration")
        if k in previous
    }
    rolled_back = previous.get("rolledBackGeneration") == generation
    if steady:
        fields["lastCompletedTaskDefinition"] = ecs["taskDefinition"]
    # BLUE_GREEN, LINEAR and CANARY deployments roll back through their own state machine
    cb = svc_tr.circuit_breaker(svc) if svc_tr.deployment_strategy(svc) == svc_tr.ROLLING else None
    start = bool(
        ecs["rolloutState"] == "FAILED"
        and cb is not None
        and cb.rollback
        and not rolled_back
        and fields.get("lastCompletedTaskDefinition")
        and fields["lastCompletedTaskDefinition"] != ecs["taskDefinition"]
    )
    if start:
        fields.update(rolledBackTaskDefinition=ecs["taskDefinition"], rolledBackGeneration=generation)
    return Rollback(fields, start, rolled_back)


def _conditions(
    ecs: Obj, steady: bool, rollback: Rollback, warnings: list[str] | None, generation: int | None, now: str
) -> list[Obj]:
    failed = ecs["rolloutState"] == "FAILED"
    if rollback.rolled_back or rollback.start:
        why = (
            f"the deployment of {rollback.fields['rolledBackTaskDefinition']} failed and was rolled back to "
            f"{rollback.fields['lastCompletedTaskDefinition']}"
        )
        ready = condition("Ready", False, "RolledBack", why, generation, now)
    else:
        ready = condition(
            "Ready",
            steady,
            "SteadyState" if steady else ("DeploymentFailed" if failed else "NotSteady"),
            f"{ecs['runningCount']}/{ecs['desiredCount']} tasks running; rollout {ecs['rolloutState']}",
            generation,
            now,
        )
    out = [
        ready,
        condition(
            "Progressing",
            not failed and not steady,
            "DeploymentFailed" if failed else ("DeploymentCompleted" if steady else "DeploymentInProgress"),
            ecs["rolloutStateReason"],
            generation,
            now,
        ),
    ]
    if warnings is not None:
        out.append(
            condition(
                "Translated",
                True,
                "TranslatedWithWarnings" if warnings else "Translated",
                ("Kubernetes cannot express: " + "; ".join(warnings)) if warnings else "every field is expressed",
                generation,
                now,
            )
        )
    return out


def _workloads(
    snapshot: ServiceView, kind: str, wanted: list[str], applied: Sequence[Obj]
) -> tuple[list[Obj], list[Obj]]:
    """(owned, current): the service's workloads of ``kind`` (as just applied where they were),
    and those of them it wants."""
    fresh = {ref(o): o for o in (dict(a, kind=a.get("kind") or kind) for a in applied)}
    owned = [fresh.get(ref(w), w) for w in snapshot.workloads if w["kind"] == kind]
    owned += [o for r, o in fresh.items() if r not in {ref(w) for w in owned}]
    return owned, [w for w in owned if ref(w) in wanted]


def replicas_drifted(snapshot: ServiceView, svc: CreateServiceRequest) -> bool:
    """Another writer changed the size of a REPLICA service's Deployments: together the ones its
    status lists run another count than desiredCount (a status refresh then reconciles, so the
    operator's spec wins again; a drain's temporary extra task also reconciles, harmlessly)."""
    if workload_kind(svc) != "Deployment":
        return False
    wanted = set((snapshot.body.get("status") or {}).get("workloads") or [])
    current = [w for w in snapshot.workloads if ref(w) in wanted]
    if not current:
        return False
    return sum(int((w.get("spec") or {}).get("replicas", 0) or 0) for w in current) != (svc.desiredCount or 0)


def unmark_pods(pods: list[Obj], draining: frozenset[str]) -> tuple[str, ...]:
    """Tasks marked for draining whose node was uncordoned: ordinary tasks again."""
    return tuple(
        p["metadata"]["name"]
        for p in pods
        if _annotation(p, DELETION_COST) == DRAINING_COST and _node(p) not in draining and is_active(p)
    )


def _on_draining(snapshot: ServiceView) -> bool:
    return any(_node(p) in snapshot.draining and is_active(p) for p in snapshot.pods)


def _announce_rollback(ecs: Obj, rollback: Rollback, generation: int | None, now: str) -> Event:
    """The service event of a rollback that starts: first in ``ecs``'s events, and posted as a
    warning."""
    msg = (
        f"(service {ecs['serviceName']}) rolling back to deployment of "
        f"{rollback.fields['lastCompletedTaskDefinition']}: deployment circuit breaker tripped."
    )
    rollback_event = {"id": f"rollback-{generation}", "createdAt": now, "message": msg}
    ecs["events"] = [rollback_event] + ecs["events"][: MAX_EVENTS - 1]
    return Event(msg, warning=True)


def _previous_strategy(previous: Obj) -> list[CapacityProviderStrategyItem] | None:
    items = previous.get("capacityProviderStrategy")
    return [CapacityProviderStrategyItem.model_validate(i) for i in items] if items else None


def plan_status(
    snapshot: ServiceView,
    svc: CreateServiceRequest,
    desired: Desired,
    *,
    started: list[str],
    stopped: list[str],
    now: str,
) -> StatusPlan:
    """The status to write (from the ECSService as it is now, never an older copy), the
    events to post (only those not in the previous status), the stale workloads to delete (once
    the wanted ones run every task), the tasks to unmark, and whether to reconcile again."""
    body = snapshot.body
    md = body["metadata"]
    name, generation = md["name"], md.get("generation")
    kind = workload_kind(svc)
    previous = body.get("status") or {}
    wanted = desired.workloads or previous.get("workloads") or [f"{kind}/{name}"]
    strategy = desired.strategy
    if strategy is None and desired.workloads is None:
        strategy = _previous_strategy(previous)
    owned, current = _workloads(snapshot, kind, wanted, desired.applied)
    ecs, steady = service_status(
        svc=svc,
        name=name,
        workloads=current,
        replicasets=snapshot.replicasets if kind == "Deployment" else [],
        pods=snapshot.pods,
        previous=previous,
        task_definition=desired.task_definition or previous.get("taskDefinition") or "",
        now=now,
        started_tasks=started,
        stopped_tasks=stopped,
        capacity_provider_strategy=strategy,
    )
    ecs["workloads"] = wanted
    stale = [w for w in owned if ref(w) not in wanted and ref(w) not in desired.keep]
    # A refresh while tasks still run on draining nodes reconciles again: the drain moves on.
    drain_pending = desired.workloads is None and kind == "Deployment" and _on_draining(snapshot)
    delete = stale if stale and kind == "Deployment" and svc_tr.workloads_complete(svc, current) else []
    events = [Event(e["message"]) for e in ecs["events"] if e not in (previous.get("events") or [])]
    rollback = decide_rollback(svc, previous, generation, ecs, steady)
    if rollback.start:
        events.append(_announce_rollback(ecs, rollback, generation, now))
    status = {
        **ecs,
        **rollback.fields,
        "observedGeneration": generation,
        "conditions": merge_conditions(
            previous.get("conditions"), _conditions(ecs, steady, rollback, desired.warnings, generation, now)
        ),
    }
    return StatusPlan(
        status=status,
        write=any(previous.get(k) != v for k, v in status.items()),
        unmark=unmark_pods(snapshot.pods, snapshot.draining),
        delete=tuple((w["kind"], w["metadata"]["name"]) for w in delete),
        events=tuple(events),
        follow_up=rollback.start or drain_pending,
    )


def behind_spec(body: Obj) -> bool:
    """The service's status names an older generation than its spec (a change kopf will not run
    the change handler for again: its handler failed for a while -- 429, 409, 5xx, kopf retries
    later -- and the spec went back to the last handled one meanwhile, so kopf sees no diff; the
    failed attempt may have applied part of it). Not a service never reconciled yet (no
    observedGeneration: kopf's create handler and its retries own that), nor one being deleted."""
    md, status = body.get("metadata") or {}, body.get("status") or {}
    observed = status.get("observedGeneration")
    return not md.get("deletionTimestamp") and observed is not None and observed != md.get("generation")
