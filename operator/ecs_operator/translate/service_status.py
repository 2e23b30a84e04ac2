"""Status: what ECS's DescribeServices would show, computed from what Kubernetes reports.

Pure: no client, no clock (``now`` is passed in). A service's tasks are grouped into ECS
deployments (PRIMARY: the task definition being rolled out; ACTIVE: older ones still running
tasks), each with its counts and rollout state; the circuit breaker fails the PRIMARY one; the
service events ECS posts are derived from what changed since the previous status.
"""

from __future__ import annotations

import hashlib
from typing import Any, NamedTuple

from ..models.generated import CapacityProviderStrategyItem, CreateServiceRequest, DeploymentCircuitBreaker
from .service import (
    ANNOTATION_TASK_DEFINITION,
    DAEMON,
    LABEL_SERVICE,
    circuit_breaker,
    circuit_breaker_threshold,
    cluster_name,
    scheduling_strategy,
    workloads_complete,
)

Obj = dict[str, Any]

#: ECS keeps a service's last 100 events.
MAX_EVENTS = 100


def is_active(pod: Obj) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and pod.get("status", {}).get("phase") in ("Pending", "Running")


def _counts(pods: list[Obj]) -> tuple[int, int]:
    running = sum(1 for p in pods if is_active(p) and p["status"].get("phase") == "Running")
    pending = sum(1 for p in pods if is_active(p) and p["status"].get("phase") == "Pending")
    return running, pending


def _unschedulable(pods: list[Obj]) -> list[Obj]:
    out = []
    for p in pods:
        if not is_active(p) or p["status"].get("phase") != "Pending":
            continue
        for c in p["status"].get("conditions", []) or []:
            if c.get("type") == "PodScheduled" and c.get("status") == "False" and c.get("reason") == "Unschedulable":
                out.append(p)
    return out


def _failed_tasks(pods: list[Obj]) -> int:
    """Tasks of a deployment that stopped: every container restart is a task ECS would have
    stopped and replaced, and a Failed pod is a stopped task."""
    n = 0
    for p in pods:
        st = p.get("status", {})
        if st.get("phase") == "Failed":
            n += 1
            continue
        # a main container with a restart policy of its own (an ECS restartPolicy) is restarted in
        # place by design: ECS counts no failed task for it
        own = {c.get("name") for c in (p.get("spec") or {}).get("containers") or [] if c.get("restartPolicy")}
        for cs in (st.get("containerStatuses") or []) + (st.get("initContainerStatuses") or []):
            if cs.get("name") in own:
                continue
            n += cs.get("restartCount", 0) or 0
    return n


def event(message: str, now: str) -> Obj:
    """A service event as ECS lists it (its id derived from time and message)."""
    eid = hashlib.sha256(f"{now}/{message}".encode()).hexdigest()[:36]
    return {"id": eid, "createdAt": now, "message": message}


def deployment_id(key: str) -> str:
    return f"ecs-svc/{int(hashlib.sha256(key.encode()).hexdigest()[:15], 16)}"


_REVISION = "deployment.kubernetes.io/revision"


def _revision(obj: Obj) -> int:
    try:
        return int((obj.get("metadata", {}).get("annotations") or {}).get(_REVISION, "0"))
    except ValueError:
        return 0


def _owned_by(obj: Obj, workloads: list[Obj]) -> Obj | None:
    """The workload among ``workloads`` that owns ``obj`` (a ReplicaSet): by owner uid; an
    object without owner references belongs to the only workload, if there is one."""
    refs = obj.get("metadata", {}).get("ownerReferences") or []
    if not refs:
        return workloads[0] if len(workloads) == 1 else None
    uids = {r.get("uid") for r in refs}
    return next((w for w in workloads if w.get("metadata", {}).get("uid") in uids), None)


def _pods_of(rs: Obj, pods: list[Obj]) -> list[Obj]:
    uid = rs.get("metadata", {}).get("uid")
    if uid:
        owned = [p for p in pods if any(r.get("uid") == uid for r in p["metadata"].get("ownerReferences") or [])]
        if owned:
            return owned
    h = rs["metadata"].get("labels", {}).get("pod-template-hash")
    return [p for p in pods if h is not None and p["metadata"].get("labels", {}).get("pod-template-hash") == h]


def _template_task_definition(rs: Obj, default: str | None = None) -> str | None:
    annotations = rs["spec"].get("template", {}).get("metadata", {}).get("annotations", {})
    value: str | None = annotations.get(ANNOTATION_TASK_DEFINITION, default)
    return value


class _Group(NamedTuple):
    """The tasks of one ECS deployment."""

    status: str  # PRIMARY | ACTIVE
    task_definition: str | None
    pods: list[Obj]
    desired: int


def _daemon_groups(
    workload: Obj | None, pods: list[Obj], task_definition: str, desired: int
) -> tuple[list[_Group], bool]:
    """A DAEMON service's deployments (PRIMARY: the tasks of ``task_definition``; ACTIVE: one per
    older task definition) and whether its rollout is complete."""
    wl_status = (workload or {}).get("status", {})
    generation_seen = (workload or {}).get("metadata", {}).get("generation") == wl_status.get("observedGeneration")
    primary_pods = [
        p for p in pods if p["metadata"].get("annotations", {}).get(ANNOTATION_TASK_DEFINITION) == task_definition
    ]
    old_pods = [p for p in pods if p not in primary_pods]
    complete = (
        generation_seen
        and wl_status.get("updatedNumberScheduled", 0) == desired
        and wl_status.get("numberAvailable", 0) == desired
        and not [p for p in old_pods if is_active(p)]
    )
    groups = [_Group("PRIMARY", task_definition, primary_pods, desired)]
    by_td: dict[str, list[Obj]] = {}
    for p in old_pods:
        by_td.setdefault(p["metadata"].get("annotations", {}).get(ANNOTATION_TASK_DEFINITION, "unknown"), []).append(p)
    groups += [_Group("ACTIVE", td, ps, 0) for td, ps in sorted(by_td.items())]
    return groups, bool(complete)


def _workload_task_definition(w: Obj) -> str | None:
    """The task definition a workload's pod template names now (its spec, as last applied)."""
    template = (w.get("spec") or {}).get("template") or {}
    value = ((template.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_TASK_DEFINITION)
    return str(value) if value else None


def _primary_replicasets(workloads: list[Obj], replicasets: list[Obj]) -> list[Obj]:
    """Each current Deployment's newest ReplicaSet (of the Deployment's current revision), unless
    that ReplicaSet still runs another task definition than the Deployment's template names (the
    Deployment controller has not made the new ReplicaSet yet: that one is an older deployment)."""
    primary_rs: list[Obj] = []
    for w in workloads:
        mine = sorted((rs for rs in replicasets if _owned_by(rs, workloads) is w), key=_revision, reverse=True)
        current = (w.get("metadata", {}).get("annotations") or {}).get(_REVISION)
        pick = next(
            (
                rs
                for rs in mine
                if current is None or (rs["metadata"].get("annotations") or {}).get(_REVISION) == current
            ),
            None,
        )
        wanted_td = _workload_task_definition(w)
        if pick is not None and (wanted_td is None or _template_task_definition(pick) in (None, wanted_td)):
            primary_rs.append(pick)
    return primary_rs


def _replica_groups(
    svc: CreateServiceRequest, workloads: list[Obj], replicasets: list[Obj], pods: list[Obj], task_definition: str
) -> tuple[list[_Group], bool]:
    """A REPLICA service's deployments and whether its rollout is complete.

    The PRIMARY deployment: each current Deployment's newest ReplicaSet; ACTIVE: the older
    ReplicaSets (and those of Deployments the service no longer wants) still running tasks,
    one deployment per task definition."""
    primary_rs = _primary_replicasets(workloads, replicasets)
    primary_ids = {id(rs) for rs in primary_rs}
    primary_td = (
        next((td for td in map(_workload_task_definition, workloads) if td), None)
        or next((_template_task_definition(rs) for rs in primary_rs), None)
        or task_definition
    )
    # A Deployment whose new ReplicaSet does not exist yet counts its replicas, with no tasks yet.
    waiting = [w for w in workloads if not any(_owned_by(rs, workloads) is w for rs in primary_rs)]
    groups = [
        _Group(
            "PRIMARY",
            primary_td,
            [p for rs in primary_rs for p in _pods_of(rs, pods)],
            sum(rs["spec"].get("replicas", 0) for rs in primary_rs)
            + sum((w.get("spec") or {}).get("replicas", 0) for w in waiting),
        )
    ]
    active: dict[str | None, tuple[list[Obj], int]] = {}
    for rs in sorted(replicasets, key=_revision, reverse=True):
        if id(rs) in primary_ids:
            continue
        rs_pods = _pods_of(rs, pods)
        replicas = rs["spec"].get("replicas", 0)
        if replicas > 0 or any(is_active(p) for p in rs_pods):
            td = _template_task_definition(rs, "unknown")
            group_pods, group_desired = active.get(td, ([], 0))
            active[td] = (group_pods + rs_pods, group_desired + replicas)
    groups += [_Group("ACTIVE", td, ps, n) for td, (ps, n) in active.items()]
    return groups, workloads_complete(svc, workloads) and not active


def _deadline_exceeded(workloads: list[Obj]) -> bool:
    return any(
        c.get("type") == "Progressing" and c.get("status") == "False" and c.get("reason") == "ProgressDeadlineExceeded"
        for w in workloads
        for c in (w.get("status", {}) or {}).get("conditions", []) or []
    )


class _Rollout(NamedTuple):
    state: str  # IN_PROGRESS | COMPLETED | FAILED
    reason: str
    failed: bool


def _primary_rollout(
    *,
    service_name: str,
    deployment_id: str,
    cb: DeploymentCircuitBreaker | None,
    complete: bool,
    previous_state: str | None,
    failed_tasks: int,
    desired: int,
    deadline_exceeded: bool,
) -> _Rollout:
    """The PRIMARY deployment's rollout: FAILED once the circuit breaker trips (and until the
    rollout completes), COMPLETED, else IN_PROGRESS."""
    if (
        cb is not None
        and not complete
        and (previous_state == "FAILED" or failed_tasks >= circuit_breaker_threshold(desired) or deadline_exceeded)
    ):
        return _Rollout("FAILED", "ECS deployment circuit breaker: tasks failed to start.", True)
    if complete:
        return _Rollout("COMPLETED", f"ECS deployment {deployment_id} completed.", False)
    return _Rollout("IN_PROGRESS", f"ECS deployment {service_name} in progress.", False)


def _deployment(name: str, group: _Group, prev_deployments: dict[Any, Obj], now: str) -> tuple[Obj, Obj]:
    """One ECS deployment (without its rollout state) and its entry in the previous status."""
    status_word, td, group_pods, group_desired = group
    did = (
        deployment_id(f"{name}/{td}/{status_word == 'PRIMARY'}")
        if status_word == "ACTIVE"
        else deployment_id(f"{name}/{td}")
    )
    g_running, g_pending = _counts(group_pods)
    prev = prev_deployments.get(did, {})
    changed = (prev.get("runningCount"), prev.get("pendingCount")) != (g_running, g_pending)
    return {
        "id": did,
        "status": status_word,
        "taskDefinition": td,
        "desiredCount": group_desired,
        "pendingCount": g_pending,
        "runningCount": g_running,
        "failedTasks": max(prev.get("failedTasks", 0), _failed_tasks(group_pods)),
        "createdAt": prev.get("createdAt", now),
        "updatedAt": now if changed else prev.get("updatedAt", now),
    }, prev


def _task_events(service_name: str, started: list[str], stopped: list[str], now: str) -> list[Obj]:
    """ECS's "has stopped N running tasks" / "has started N tasks" events, ten tasks each."""
    out = []
    for chunk in range(0, len(stopped), 10):
        ids = stopped[chunk : chunk + 10]
        out.append(
            event(
                f"(service {service_name}) has stopped {len(ids)} running tasks: "
                + " ".join(f"(task {t})" for t in ids)
                + ".",
                now,
            )
        )
    for chunk in range(0, len(started), 10):
        ids = started[chunk : chunk + 10]
        out.append(
            event(
                f"(service {service_name}) has started {len(ids)} tasks: " + " ".join(f"(task {t})" for t in ids) + ".",
                now,
            )
        )
    return out


def _new_events(
    *,
    service_name: str,
    previous: Obj,
    deployments: list[Obj],
    rollout: _Rollout,
    steady: bool,
    pods: list[Obj],
    started: list[str],
    stopped: list[str],
    now: str,
) -> list[Obj]:
    """The events that happened since the ``previous`` status, oldest first."""
    events = list(previous.get("events", []) or [])
    new_events = _task_events(service_name, started, stopped, now)
    was_steady = any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in previous.get("conditions", []) or []
    )
    if (
        rollout.state == "COMPLETED"
        and deployments
        and (
            previous.get("rolloutState") != "COMPLETED"
            or (previous.get("deployments") or [{}])[0].get("id") != deployments[0]["id"]
        )
    ):
        new_events.append(
            event(f"(service {service_name}) (deployment {deployments[0]['id']}) deployment completed.", now)
        )
    if steady and not was_steady:
        new_events.append(event(f"(service {service_name}) has reached a steady state.", now))
    if _unschedulable(pods):
        msg = (
            f"(service {service_name}) was unable to place a task because no container instance met all of "
            "its requirements."
        )
        if not events or events[0].get("message") != msg:
            new_events.append(event(msg, now))
    if rollout.failed and previous.get("rolloutState") != "FAILED":
        new_events.append(
            event(
                f"(service {service_name}) (deployment {deployments[0]['id']}) deployment failed: "
                "tasks failed to start.",
                now,
            )
        )
    return new_events


def service_status(
    *,
    svc: CreateServiceRequest,
    name: str,
    workloads: list[Obj],
    replicasets: list[Obj],
    pods: list[Obj],
    previous: Obj,
    task_definition: str,
    now: str,
    started_tasks: list[str] | None = None,
    stopped_tasks: list[str] | None = None,
    capacity_provider_strategy: list[CapacityProviderStrategyItem] | None = None,
) -> tuple[Obj, bool]:
    """ECS fields of the status (without conditions): counts, deployments, rolloutState, events;
    and whether the service is in a steady state.

    ``workloads``: the service's current Deployment(s) (one per capacity provider of a split
    strategy) or its DaemonSet; ``replicasets`` and ``pods``: all of the service's, including
    those of workloads it no longer wants (they count as an ACTIVE deployment until gone).
    ``started_tasks`` / ``stopped_tasks``: ids of the tasks launched / gone since the last
    status (named in ECS's "has started N tasks" / "has stopped N running tasks" events)."""
    service_name = svc.serviceName or name
    workloads = [w for w in workloads if w]
    running, pending = _counts(pods)
    if scheduling_strategy(svc) == DAEMON:
        workload_obj = workloads[0] if workloads else None
        desired = (workload_obj or {}).get("status", {}).get("desiredNumberScheduled", 0)
        groups, complete = _daemon_groups(workload_obj, pods, task_definition, desired)
    else:
        desired = svc.desiredCount or 0
        groups, complete = _replica_groups(svc, workloads, replicasets, pods, task_definition)

    prev_deployments = {d.get("id"): d for d in previous.get("deployments", []) or []}
    deployments: list[Obj] = []
    rollout = _Rollout("IN_PROGRESS", f"ECS deployment {service_name} in progress.", False)
    for group in groups:
        d, prev = _deployment(name, group, prev_deployments, now)
        if group.status == "PRIMARY":
            rollout = _primary_rollout(
                service_name=service_name,
                deployment_id=d["id"],
                cb=circuit_breaker(svc),
                complete=complete,
                previous_state=prev.get("rolloutState"),
                failed_tasks=d["failedTasks"],
                desired=desired,
                deadline_exceeded=_deadline_exceeded(workloads),
            )
            d["rolloutState"], d["rolloutStateReason"] = rollout.state, rollout.reason
        else:
            d["rolloutState"] = prev.get("rolloutState", "COMPLETED")
        deployments.append(d)

    steady = rollout.state == "COMPLETED" and running == desired and pending == 0
    new_events = _new_events(
        service_name=service_name,
        previous=previous,
        deployments=deployments,
        rollout=rollout,
        steady=steady,
        pods=pods,
        started=list(started_tasks or []),
        stopped=list(stopped_tasks or []),
        now=now,
    )
    events = (list(reversed(new_events)) + list(previous.get("events", []) or []))[:MAX_EVENTS]
    placement: Obj = (
        {"capacityProviderStrategy": [i.model_dump(exclude_none=True) for i in capacity_provider_strategy]}
        if capacity_provider_strategy
        else {"launchType": svc.launchType or "EC2"}
    )
    return {
        "serviceName": service_name,
        "clusterArn": cluster_name(svc.cluster),
        "status": "ACTIVE",
        "desiredCount": desired,
        "runningCount": running,
        "pendingCount": pending,
        # the PRIMARY deployment's: the two never disagree (a status refresh may see a workload
        # the reconcile has not updated yet)
        "taskDefinition": (deployments[0].get("taskDefinition") if deployments else None) or task_definition,
        "selector": f"{LABEL_SERVICE}={name}",
        **placement,
        "deployments": deployments,
        "rolloutState": rollout.state,
        "rolloutStateReason": rollout.reason,
        "events": events,
    }, steady
