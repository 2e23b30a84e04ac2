"""Container instances' state from their nodes: a cordoned node is a DRAINING container instance.

As with ECS's UpdateContainerInstancesState DRAINING: no new task goes there (the node is
unschedulable), a service's tasks on it are replaced on other instances within the service's
deployment limits (see :func:`ecs_operator.translate.service_drain.drain`), and daemon tasks on it
stop. The operator labels the node ``ecs.seed.dev/container-instance-status=DRAINING`` while it
is cordoned (DaemonSets keep off nodes with that label) and removes the label when it is
uncordoned. The services with tasks on a node that starts draining are woken up
(:mod:`.wakeups`, kind ``Node``).
"""

from __future__ import annotations

import kopf

from .. import constants, k8s, metrics
from ..domain.instances import DRAINING
from ..state import nodes as node_state
from . import wakeups


@kopf.on.event("", "v1", "nodes")
@metrics.reconciled("Node")
def node_event(body, event, logger, **_):
    name = body["metadata"]["name"]
    gone = event.get("type") == "DELETED"
    cordoned = not gone and bool((body.get("spec") or {}).get("unschedulable"))
    changed = node_state.draining.update(name, cordoned)
    if gone:
        return
    label = (body["metadata"].get("labels") or {}).get(constants.INSTANCE_STATUS)
    want = DRAINING if cordoned else None
    if label != want:
        k8s.merge_patch("v1", "Node", None, name, {"metadata": {"labels": {constants.INSTANCE_STATUS: want}}})
    if changed and cordoned:
        logger.info(f"container instance {name} is DRAINING: its service tasks are replaced elsewhere")
        wakeups.changed("Node", dict(body), logger)
