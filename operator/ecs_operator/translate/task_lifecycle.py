"""ECS's task lifecycle, read from a task's Pod (pure): the states, how a task stops (stop code
and reason, decided once), ``lastStatus`` and the task's containers as DescribeTasks shows them.

:func:`ecs_operator.translate.task.task_view` puts these together into one ECS Task object;
see docs/ecstask.md for the tables they implement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import container_status as cs_

# ECS task states, in lifecycle order.
PROVISIONING, PENDING, RUNNING, DEPROVISIONING, STOPPED = (
    "PROVISIONING",
    "PENDING",
    "RUNNING",
    "DEPROVISIONING",
    "STOPPED",
)
RANK = {PROVISIONING: 0, PENDING: 1, RUNNING: 2, DEPROVISIONING: 3, STOPPED: 4}

# ECS stop codes.
TASK_FAILED_TO_START = "TaskFailedToStart"
ESSENTIAL_CONTAINER_EXITED = "EssentialContainerExited"
USER_INITIATED = "UserInitiated"
TERMINATION_NOTICE = "TerminationNotice"

ESSENTIAL_EXITED = "Essential container in task exited"
POD_DELETED = "Task stopped: its pod was deleted"
#: DisruptionTarget reason the operator gives the task pods of a lost container instance (plans/nodes.py)
CONTAINER_INSTANCE_LOST = "ContainerInstanceLost"


def later(a: str, b: str) -> str:
    """The more advanced of two states (``lastStatus`` never goes back)."""
    return a if RANK.get(a, 0) >= RANK.get(b, 0) else b


@dataclass(frozen=True)
class PodFacts:
    """What a task's pod says, by Kubernetes container name."""

    pod: dict[str, Any]
    spec: dict[str, Any]
    status: dict[str, Any]
    names: dict[str, str]  # Kubernetes -> ECS container name
    essential: set[str]
    statuses: dict[str, dict[str, Any]]  # container statuses (main and init)
    mains: list[str]  # the main containers
    all_k8s: list[str]  # main, then init containers
    images: dict[str, Any]
    exited: dict[str, dict[str, Any] | None]  # each container's exit (None: not exited)

    @property
    def phase(self) -> Any:
        return self.status.get("phase")

    @property
    def terminal(self) -> bool:
        return self.phase in ("Succeeded", "Failed")

    @property
    def deleting(self) -> bool:
        return bool(self.pod["metadata"].get("deletionTimestamp"))

    @property
    def essential_exited(self) -> list[str]:
        return [n for n in self.all_k8s if n in self.essential and self.exited[n] is not None]

    @property
    def start_failures(self) -> list[str]:
        return [n for n in self.all_k8s if cs_.start_failure(self.statuses.get(n))]

    @property
    def mains_done(self) -> bool:
        return all(self.exited[n] is not None for n in self.mains)

    @property
    def any_main_started(self) -> bool:
        return any(cs_.started(self.statuses.get(n)) for n in self.mains)

    @property
    def all_mains_started(self) -> bool:
        return all(cs_.started(self.statuses.get(n)) for n in self.mains)


def pod_facts(pod: dict[str, Any]) -> PodFacts:
    spec, st = pod.get("spec") or {}, pod.get("status") or {}
    statuses = {cs["name"]: cs for cs in (st.get("containerStatuses") or []) + (st.get("initContainerStatuses") or [])}
    mains = [c["name"] for c in spec.get("containers", [])]
    all_k8s = mains + [c["name"] for c in spec.get("initContainers") or []]
    own_policy = {c["name"] for c in spec.get("containers", []) if c.get("restartPolicy")}
    return PodFacts(
        pod=pod,
        spec=spec,
        status=st,
        names=cs_.ecs_names(pod),
        essential=cs_.essential(pod),
        statuses=statuses,
        mains=mains,
        all_k8s=all_k8s,
        images={c["name"]: c.get("image") for c in spec.get("containers", []) + (spec.get("initContainers") or [])},
        exited={
            n: _current_exit(statuses.get(n)) if n in own_policy else cs_.terminated(statuses.get(n)) for n in all_k8s
        },
    )


def _current_exit(cs: dict[str, Any] | None) -> dict[str, Any] | None:
    """The exit of a container that carries its own restart policy (an ECS restartPolicy): only its
    current state counts -- the kubelet restarts it in place, so an earlier exit stopped nothing
    (ECS keeps the task running); a container left stopped (an ignored exit code) has exited."""
    found = ((cs or {}).get("state") or {}).get("terminated")
    return dict(found) if found else None


def stop_cause(facts: PodFacts, stop_reason: str | None) -> tuple[str, str | None] | None:
    """(stopCode, stoppedReason) when the task must stop now, the first cause that applies
    (docs/ecstask.md, "How a task stops"); None while it runs on."""
    st = facts.status
    if facts.terminal:
        return _terminal_cause(facts)
    if facts.start_failures:
        return TASK_FAILED_TO_START, cs_.container_reason(facts.statuses.get(facts.start_failures[0]))
    if facts.essential_exited:
        return ESSENTIAL_CONTAINER_EXITED, ESSENTIAL_EXITED
    if stop_reason is not None:
        return USER_INITIATED, stop_reason
    if facts.deleting:
        disruption = next(
            (
                c
                for c in st.get("conditions") or []
                if c.get("type") == "DisruptionTarget" and c.get("status") == "True"
            ),
            None,
        )
        if disruption and disruption.get("reason") == CONTAINER_INSTANCE_LOST and disruption.get("message"):
            return TERMINATION_NOTICE, disruption[
                "message"
            ]  # ECS's own words: "Host EC2 (instance i-...) stopped/terminated"
        if disruption:
            return TERMINATION_NOTICE, f"Task stopped: {disruption.get('message') or disruption.get('reason')}"
        return USER_INITIATED, POD_DELETED
    return None


def _terminal_cause(facts: PodFacts) -> tuple[str, str]:
    st = facts.status
    if st.get("reason") and not facts.any_main_started:
        return TASK_FAILED_TO_START, f"{st['reason']}: {st.get('message', '')}".rstrip(": ")
    if st.get("reason"):
        return TERMINATION_NOTICE, f"Task stopped: {st['reason']}: {st.get('message', '')}".rstrip(": ")
    if not facts.any_main_started:
        return TASK_FAILED_TO_START, cs_.dependency_failure(facts.pod, facts.statuses, facts.names)
    return ESSENTIAL_CONTAINER_EXITED, ESSENTIAL_EXITED


def stop_fields(facts: PodFacts, code: str, reason: str | None, now: str) -> dict[str, Any]:
    """What a task records when its stop is decided: stopCode, stoppedReason, stoppingAt,
    succeeded (its essential containers exited, all with code 0) and executionStoppedAt."""
    exits = [facts.exited[n] or {} for n in facts.essential_exited]
    codes = [e.get("exitCode") for e in exits]
    out: dict[str, Any] = {
        "stopCode": code,
        "stoppedReason": reason,
        "stoppingAt": now,
        "succeeded": (code == ESSENTIAL_CONTAINER_EXITED and bool(codes) and all(c == 0 for c in codes)),
    }
    finished = [e["finishedAt"] for e in exits if e.get("finishedAt")]
    if finished:
        out["executionStoppedAt"] = min(finished)
    return out


def last_status(facts: PodFacts, desired: str, previous: str) -> str:
    """The task's ``lastStatus`` (never earlier than ``previous``)."""
    if facts.terminal:
        last = STOPPED
    elif desired == STOPPED or facts.deleting:
        last = DEPROVISIONING
    elif not facts.spec.get("nodeName"):
        last = PROVISIONING
    elif facts.phase == "Running" and facts.all_mains_started:
        last = RUNNING
    else:
        last = PENDING
    return later(previous, last)


def containers(facts: PodFacts, previous: dict[str, dict[str, Any]], last: str) -> list[dict[str, Any]]:
    """The task's containers (ECS names), over what was recorded for them before."""
    return [_container(facts, n, previous, last) for n in facts.all_k8s]


def _container(facts: PodFacts, n: str, previous: dict[str, dict[str, Any]], last: str) -> dict[str, Any]:
    ecs_name = facts.names.get(n, n)
    cs = facts.statuses.get(n)
    running = bool((cs or {}).get("state", {}).get("running"))
    c: dict[str, Any] = dict(previous.get(ecs_name) or {})
    c.update(name=ecs_name, essential=n in facts.essential)
    if facts.images.get(n):
        c["image"] = facts.images[n]
    if cs and cs.get("containerID"):
        c["runtimeId"] = cs["containerID"].split("://", 1)[-1]
    term = facts.exited[n]
    if term is not None:
        c["lastStatus"] = STOPPED
        if term.get("exitCode") is not None:
            c["exitCode"] = term["exitCode"]
    elif last == STOPPED:
        c["lastStatus"] = STOPPED
    elif running:
        c["lastStatus"] = later(c.get("lastStatus", PENDING), RUNNING)
    else:
        c.setdefault("lastStatus", PENDING)
    reason = cs_.container_reason(cs)
    if reason:
        c["reason"] = reason
    if running and cs_.has_probe(facts.spec, n):
        c["healthStatus"] = "HEALTHY" if (cs or {}).get("ready") else "UNHEALTHY"
    return c


def started_at(facts: PodFacts) -> str | None:
    """When every main container had started (the last of them), else None."""
    started = [cs_.started_at(facts.statuses.get(n)) for n in facts.mains]
    return max(s for s in started if s) if started and all(started) else None


def stopped_at(facts: PodFacts, previous: Any, now: str) -> Any:
    """When a STOPPED task stopped: as recorded, else its containers' last exit, else ``now``."""
    finished = [t["finishedAt"] for t in facts.exited.values() if t and t.get("finishedAt")]
    return previous or (max(finished) if finished else now)


def placement_failure(facts: PodFacts, arn: Any) -> dict[str, Any] | None:
    """A RunTask-style placement failure {arn, reason, detail} for a pod the scheduler cannot place."""
    unsched = cs_.unschedulable(facts.pod)
    if unsched is None:
        return None
    detail = unsched.get("message") or "no node is available"
    return {"arn": arn, "reason": cs_.placement_failure_reason(detail), "detail": detail}
