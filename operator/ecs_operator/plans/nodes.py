"""A lost container instance (pure): which ECS tasks on a node that stopped answering, or was
deleted, stop now, and how.

ECS stops the tasks of a container instance whose host stopped or was terminated, with the
stopped reason ``Host EC2 (instance <id>) stopped/terminated``; the service scheduler starts
their replacements on the other instances at once. Kubernetes cannot tell a stopped host from a
kubelet that lost its connection: both are a node whose ``Ready`` condition is not ``True``
(``False``, or ``Unknown`` once the node controller has missed its heartbeats). So a node not
Ready for :data:`LOST_AFTER_SECONDS`, or a deleted node, is a lost container instance:

1. each ECS task pod bound to it (service or standalone task, not yet terminated) gets the
   condition ``DisruptionTarget=True`` with reason :data:`REASON` and ECS's stopped reason as
   its message, and the finalizer ``ecs.seed.dev/container-instance-lost``, and is deleted with
   a grace period of :data:`POD_GRACE_SECONDS` (the kubelet is not there to stop it). Its
   Deployment or DaemonSet sees it go and the service's replacement starts elsewhere at once; a
   standalone task sees its pod stopping with that reason and records the stop (stopCode
   TerminationNotice): the finalizer keeps the pod until then, however fast a kubelet or the pod
   garbage collector would remove it;
2. once that grace period has passed, the pod is released: deleted with grace period 0 (as
   ``kubectl delete --force`` would: no kubelet confirms) and the finalizer removed. ECS shows
   the task STOPPED.

As Kubernetes' node lifecycle controller does (a zone's "full disruption"), nothing is stopped
while every node of the lost node's zone is not Ready: that is the control plane losing sight of
the nodes (an API server or network outage), not hosts stopping (:func:`zone_disrupted`).

A node back to Ready before :data:`LOST_AFTER_SECONDS` loses nothing: as with an ECS agent that
reconnects, its tasks ran on. Kubernetes alone would evict after 300 s (the default
``node.kubernetes.io/unreachable`` NoExecute toleration); ECS replaces a terminated instance's
tasks as soon as it learns of it, so the operator acts earlier. See docs/failure.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .. import constants
from ..domain.instances import LABEL_INSTANCE_ID, is_ecs_task, is_terminated

#: A node not Ready this long is a lost container instance.
LOST_AFTER_SECONDS = 30.0
#: The grace period of a lost instance's task pods: then they are removed.
POD_GRACE_SECONDS = 2
#: The reason of the DisruptionTarget condition a lost instance's pods get.
REASON = "ContainerInstanceLost"
FINALIZER = constants.LOST_INSTANCE_FINALIZER


def stopped_reason(instance_id: str) -> str:
    """ECS's stopped reason for the tasks of a stopped or terminated host."""
    return f"Host EC2 (instance {instance_id}) stopped/terminated"


LABEL_ZONE = "topology.kubernetes.io/zone"


def zone_of(node: dict[str, Any]) -> str:
    return str(((node.get("metadata") or {}).get("labels") or {}).get(LABEL_ZONE) or "")


def zone_disrupted(zone: str, readiness: Mapping[str, tuple[str, bool]]) -> bool:
    """Every known node of ``zone`` (``readiness``: node name -> (zone, Ready)) is not Ready."""
    return not any(ready for z, ready in readiness.values() if z == zone)


def instance_id(node: dict[str, Any]) -> str:
    md = node.get("metadata") or {}
    return str((md.get("labels") or {}).get(LABEL_INSTANCE_ID) or md.get("name") or "")


def _time(value: object) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def not_ready_since(node: dict[str, Any], now: datetime) -> datetime | None:
    """Since when the node is not Ready (None while it is Ready). A node without a Ready
    condition has never been Ready (a new node): it is not counted as lost."""
    for cond in (node.get("status") or {}).get("conditions") or ():
        if isinstance(cond, dict) and cond.get("type") == "Ready":
            if cond.get("status") == "True":
                return None
            return _time(cond.get("lastTransitionTime")) or now
    return None


@dataclass(frozen=True)
class PodRef:
    namespace: str
    name: str
    uid: str


@dataclass(frozen=True)
class NodePlan:
    """What to do about one node's task pods."""

    lost: bool = False
    reason: str | None = None  # ECS's stopped reason (when lost)
    stop: list[PodRef] = field(default_factory=list)  # mark DisruptionTarget + finalizer, delete (short grace)
    remove: list[PodRef] = field(default_factory=list)  # grace passed: delete with grace 0, release
    #: seconds until the node should be looked at again (None: only on its next change)
    recheck_after: float | None = None


def _ref(pod: dict[str, Any]) -> PodRef:
    md = pod["metadata"]
    return PodRef(str(md.get("namespace") or ""), str(md["name"]), str(md.get("uid") or ""))


def _grace_over(pod: dict[str, Any], now: datetime) -> bool:
    when = _time((pod.get("metadata") or {}).get("deletionTimestamp"))
    return when is not None and when <= now


def plan_node(
    node: dict[str, Any] | None,
    pods: Iterable[dict[str, Any]],
    now: datetime,
    *,
    gone_instance: str | None = None,
    lost_after: float = LOST_AFTER_SECONDS,
) -> NodePlan:
    """The plan for the task pods bound to one node.

    ``node``: the node as it is now, or None when it was deleted (then ``gone_instance`` names
    its container instance id). ``pods``: the pods bound to it (others are ignored by the
    caller's selection; terminated and non-ECS pods are skipped here)."""
    pods = list(pods)
    if node is None:
        ident = gone_instance or ""
    else:
        since = not_ready_since(node, now)
        if since is None:
            return NodePlan()
        left = lost_after - (now - since).total_seconds()
        if left > 0:
            return NodePlan(recheck_after=left)
        ident = instance_id(node)
    stop: list[PodRef] = []
    remove: list[PodRef] = []
    for pod in pods:
        if not is_ecs_task(pod) or is_terminated(pod):
            continue
        if not (pod.get("metadata") or {}).get("deletionTimestamp"):
            stop.append(_ref(pod))
        elif node is None or _grace_over(pod, now):
            # a deleted node is never looked at again: a pod already stopping goes now
            remove.append(_ref(pod))
    waiting = bool(stop) or any(
        (pod.get("metadata") or {}).get("deletionTimestamp") and not _grace_over(pod, now) and node is not None
        for pod in pods
        if is_ecs_task(pod) and not is_terminated(pod)
    )
    return NodePlan(
        lost=True,
        reason=stopped_reason(ident),
        stop=stop,
        remove=remove,
        recheck_after=float(POD_GRACE_SECONDS) if waiting else None,
    )


def release_in(pod: dict[str, Any], now: datetime) -> float | None:
    """Seconds until a stopping pod that holds the lost-instance finalizer is released (0: now);
    None for any other pod."""
    md = pod.get("metadata") or {}
    if FINALIZER not in (md.get("finalizers") or ()):
        return None
    when = _time(md.get("deletionTimestamp"))
    if when is None:
        return None
    return max(0.0, (when - now).total_seconds())


def disruption_condition(reason: str, now: datetime) -> dict[str, Any]:
    """The pod condition a lost instance's task pod gets before it is deleted (as Kubernetes'
    own evictions mark theirs): ECSTask reads it as the task's stop reason."""
    return {
        "type": "DisruptionTarget",
        "status": "True",
        "reason": REASON,
        "message": reason,
        "lastTransitionTime": (now - timedelta(microseconds=now.microsecond)).isoformat().replace("+00:00", "Z"),
    }
