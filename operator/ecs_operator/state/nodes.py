"""Container instances' DRAINING state, as the node watch reports it (in memory).

A cordoned node is a DRAINING container instance. The node handler feeds this view from its
watch; the service handler asks it which nodes drain, without an API call per refresh."""

from __future__ import annotations

import threading

from .. import constants, k8s


class DrainingNodes:
    """The names of the nodes that are cordoned now (thread-safe)."""

    def __init__(self) -> None:
        self._names: set[str] = set()
        self._lock = threading.Lock()

    def names(self) -> set[str]:
        with self._lock:
            return set(self._names)

    def update(self, name: str, cordoned: bool) -> bool:
        """Record a node's state; True when it changed."""
        with self._lock:
            changed = cordoned != (name in self._names)
            (self._names.add if cordoned else self._names.discard)(name)
            return changed


#: The operator process's view (fed by handlers.nodes).
draining = DrainingNodes()


class NodeReadiness:
    """Each node's zone and whether it is Ready, as the node watch last saw it (thread-safe)."""

    def __init__(self) -> None:
        self._nodes: dict[str, tuple[str, bool]] = {}
        self._lock = threading.Lock()

    def update(self, name: str, zone: str, ready: bool) -> None:
        with self._lock:
            self._nodes[name] = (zone, ready)

    def forget(self, name: str) -> None:
        with self._lock:
            self._nodes.pop(name, None)

    def snapshot(self) -> dict[str, tuple[str, bool]]:
        with self._lock:
            return dict(self._nodes)


#: The operator process's view (fed by handlers.nodes): lost-instance decisions look at the zone.
readiness = NodeReadiness()


def services_on(node: str) -> set[tuple[str, str]]:
    """(namespace, service name) of the service tasks that run on ``node``."""
    pods = k8s.list_("v1", "Pod", None, label_selector=constants.SERVICE, field_selector=f"spec.nodeName={node}")
    return {(p["metadata"]["namespace"], p["metadata"]["labels"][constants.SERVICE]) for p in pods}


def pods_bound_to(node: str) -> list[dict]:
    """Every pod bound to ``node`` (ECS task pods or not; the plan picks)."""
    return k8s.list_("v1", "Pod", None, field_selector=f"spec.nodeName={node}")
