"""Container instances' state from their nodes.

DRAINING: a cordoned node is a DRAINING container instance. As with ECS's
UpdateContainerInstancesState DRAINING: no new task goes there (the node is unschedulable), a
service's tasks on it are replaced on other instances within the service's deployment limits (see
:func:`ecs_operator.translate.service_drain.drain`), and daemon tasks on it stop. The operator
labels the node ``ecs.seed.dev/container-instance-status=DRAINING`` while it is cordoned
(DaemonSets keep off nodes with that label) and removes the label when it is uncordoned. The
services with tasks on a node that starts draining are woken up (:mod:`.wakeups`, kind ``Node``).

Lost: a node not Ready for a while, or deleted, is a container instance whose host stopped or
was terminated; its task pods are stopped with ECS's stopped reason and their replacements start
elsewhere (the decision: :mod:`ecs_operator.plans.nodes`; docs/failure.md). A timer looks at
not-Ready nodes; a deleted node's pods are stopped on its DELETED event. Each stopping pod holds
a finalizer until its short grace period has passed, then is released: the pod watch releases
it (after a restart too, from kopf's initial listing), so no pod is left behind.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import kopf

from .. import config, constants, k8s, metrics
from ..domain.instances import DRAINING
from ..k8s import pods as k8s_pods
from ..plans import nodes as plan
from ..state import nodes as node_state
from . import wakeups

#: Seconds between two looks at a node that is not Ready.
LOST_CHECK_SECONDS = 5.0


@kopf.on.event("", "v1", "nodes")
@metrics.reconciled("Node")
def node_event(body, event, logger, **_):
    name = body["metadata"]["name"]
    gone = event.get("type") == "DELETED"
    cordoned = not gone and bool((body.get("spec") or {}).get("unschedulable"))
    changed = node_state.draining.update(name, cordoned)
    if gone:
        node_state.readiness.forget(name)
    else:
        node = dict(body)
        node_state.readiness.update(name, plan.zone_of(node), plan.not_ready_since(node, datetime.now(UTC)) is None)
    if gone:
        now = datetime.now(UTC)
        todo = plan.plan_node(None, node_state.pods_bound_to(name), now, gone_instance=plan.instance_id(dict(body)))
        _apply(name, todo, now, logger)
        return
    label = (body["metadata"].get("labels") or {}).get(constants.INSTANCE_STATUS)
    want = DRAINING if cordoned else None
    if label != want:
        k8s.merge_patch("v1", "Node", None, name, {"metadata": {"labels": {constants.INSTANCE_STATUS: want}}})
    if changed and cordoned:
        logger.info(f"container instance {name} is DRAINING: its service tasks are replaced elsewhere")
        wakeups.changed("Node", dict(body), logger)


def _not_ready(body, **_) -> bool:
    return plan.not_ready_since(dict(body), datetime.now(UTC)) is not None


@kopf.timer("", "v1", "nodes", interval=LOST_CHECK_SECONDS, when=_not_ready)
@metrics.reconciled("Node")
def lost_node(body, logger, **_):
    """A node that is not Ready: once it has been so for ECS_OPERATOR_LOST_INSTANCE_SECONDS (30), its
    tasks stop."""
    node = dict(body)
    now = datetime.now(UTC)
    since = plan.not_ready_since(node, now)
    lost_after = config.get().lost_instance_after
    if since is None or (now - since).total_seconds() < lost_after:
        return  # not lost yet: no API call
    zone = plan.zone_of(node)
    if plan.zone_disrupted(zone, node_state.readiness.snapshot()):
        logger.warning(f"every node of zone {zone!r} is not Ready: no task is stopped (the nodes may be unreachable)")
        return
    todo = plan.plan_node(node, node_state.pods_bound_to(node["metadata"]["name"]), now, lost_after=lost_after)
    _apply(node["metadata"]["name"], todo, now, logger)


def _apply(name: str, todo: plan.NodePlan, now: datetime, logger) -> None:
    """Mark and delete (short grace) the pods to stop, then remove those whose grace passed."""
    failed: list[str] = []

    def each(step, ref: plan.PodRef, *args) -> None:  # one pod's refusal never stops the others
        try:
            step(ref.namespace, ref.name, ref.uid, *args)
        except k8s.ApiError as e:
            failed.append(ref.name)
            logger.warning(f"container instance {name}: task pod {ref.namespace}/{ref.name} not stopped yet: {e}")

    if todo.stop and todo.reason:
        condition = plan.disruption_condition(todo.reason, now)
        for ref in todo.stop:
            each(k8s_pods.stop, ref, condition, plan.FINALIZER, plan.POD_GRACE_SECONDS)
        logger.info(f"container instance {name} is lost ({todo.reason}): {len(todo.stop)} tasks stopped")
    for ref in todo.remove:
        each(k8s_pods.release, ref, plan.FINALIZER)
    if failed:  # the timer looks again (a deleted node's pods: the pod garbage collector)
        raise kopf.TemporaryError(f"{len(failed)} task pods not stopped yet: {', '.join(failed[:5])}", delay=5)


def _holds_finalizer(body, **_) -> bool:
    return plan.FINALIZER in (body.get("metadata", {}).get("finalizers") or ())


@kopf.on.event("", "v1", "pods", when=_holds_finalizer)
@metrics.reconciled("Node")
def lost_task_pod(body, type, logger, **_):
    """A lost instance's task pod is released once its grace period has passed (now, or by a
    timer for the rest of it)."""
    if type == "DELETED":
        return
    left = plan.release_in(dict(body), datetime.now(UTC))
    if left is None:
        return
    md = body["metadata"]
    ref = plan.PodRef(md["namespace"], md["name"], md.get("uid", ""))
    if left <= 0:
        k8s_pods.release(ref.namespace, ref.name, ref.uid, plan.FINALIZER)
        return
    timer = threading.Timer(left + 0.2, _release_later, args=(ref, logger))
    timer.daemon = True
    timer.start()


def _release_later(ref: plan.PodRef, logger) -> None:
    try:
        k8s_pods.release(ref.namespace, ref.name, ref.uid, plan.FINALIZER)
    except (k8s.ApiError, kopf.TemporaryError) as e:
        logger.warning(f"pod {ref.namespace}/{ref.name} is released on its next event: {e}")
