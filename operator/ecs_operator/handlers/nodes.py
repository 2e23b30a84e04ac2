"""Container instances' state from their nodes: a cordoned node is a DRAINING container instance.

As with ECS's UpdateContainerInstancesState DRAINING: no new task goes there (the node is
unschedulable), a service's tasks on it are replaced on other instances within the service's
deployment limits (see :func:`ecs_operator.translate.service.drain`), and daemon tasks on it
stop. The operator labels the node ``ecs.seed.dev/container-instance-status=DRAINING`` while it
is cordoned (DaemonSets keep off nodes with that label) and removes the label when it is
uncordoned.
"""

from __future__ import annotations

import threading

import kopf

from .. import constants, k8s
from ..translate import service as svc_tr

#: Names of the nodes that are cordoned now (fed by the node watch).
_draining: set[str] = set()
_lock = threading.Lock()


def draining() -> set[str]:
    with _lock:
        return set(_draining)


def _services_on(node: str) -> set[tuple[str, str]]:
    pods = k8s.list_("v1", "Pod", None, label_selector=svc_tr.LABEL_SERVICE, field_selector=f"spec.nodeName={node}")
    return {(p["metadata"]["namespace"], p["metadata"]["labels"][svc_tr.LABEL_SERVICE]) for p in pods}


@kopf.on.event("", "v1", "nodes")
def node_event(body, event, logger, **_):
    name = body["metadata"]["name"]
    gone = event.get("type") == "DELETED"
    cordoned = not gone and bool((body.get("spec") or {}).get("unschedulable"))
    with _lock:
        changed = cordoned != (name in _draining)
        (_draining.add if cordoned else _draining.discard)(name)
    if gone:
        return
    label = (body["metadata"].get("labels") or {}).get(constants.INSTANCE_STATUS)
    want = svc_tr.DRAINING if cordoned else None
    if label != want:
        k8s.merge_patch("v1", "Node", None, name, {"metadata": {"labels": {constants.INSTANCE_STATUS: want}}})
    if changed and cordoned:
        logger.info(f"container instance {name} is DRAINING: its service tasks are replaced elsewhere")
        from . import ecsservice  # late import: ecsservice asks this module which nodes drain

        for namespace, service in sorted(_services_on(name)):
            ecsservice.refresh(namespace, service)  # its status refresh moves the drain on
