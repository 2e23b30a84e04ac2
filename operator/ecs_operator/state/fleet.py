"""Every node and every pod bound to one, slim, shared by the cluster-wide status readers.

The ECSCluster status (its container instances' remaining resources), the CapacityProvider
status and the AZ rebalancing steps each need the whole fleet: every node, and every pod on
those nodes whatever its namespace (a node's remaining resources count them all). Read once per
timer and object, that is one LIST of every pod per ECSCluster every 15 s: at 10,000 pods a
list of tens of MB decoded again and again, most of the operator's CPU and its peak memory.

Here one reading serves every timer for :data:`TTL` seconds (a change handler reads anew), and it holds only what the
readers use (:func:`ecs_operator.domain.instances.slim_node` / ``slim_pod``: labels, resources,
phase, node), read a page at a time, so a list of thousands of pods never is in memory whole.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .. import k8s
from ..domain.instances import slim_node, slim_pod

#: Seconds one reading serves every caller (the ECSCluster timer runs every 15 s).
TTL = 5.0


class _Memo:
    """One list, read at most once per :data:`TTL` (callers meanwhile share it)."""

    def __init__(self, read: Callable[[], list[dict]]) -> None:
        self._read = read
        self._lock = threading.Lock()
        self._at = float("-inf")
        self._items: list[dict] = []

    def get(self, max_age: float) -> list[dict]:
        with self._lock:
            if time.monotonic() - self._at >= max_age:
                self._items = self._read()
                self._at = time.monotonic()
            return self._items


_nodes = _Memo(lambda: k8s.list_("v1", "Node", None, project=slim_node))
_pods = _Memo(lambda: k8s.list_("v1", "Pod", None, field_selector="spec.nodeName!=", project=slim_pod))


def nodes(max_age: float = TTL) -> list[dict]:
    """Every node (slim: labels, allocatable, Ready, unschedulable, taints), at most ``max_age`` s old
    (0: read now; a change handler reads what it was told changed)."""
    return _nodes.get(max_age)


def bound_pods(max_age: float = TTL) -> list[dict]:
    """Every pod bound to a node, any namespace (slim: labels, ``ecs.seed.dev`` annotations,
    resources, node, phase), at most ``max_age`` s old."""
    return _pods.get(max_age)


def fresh(reason: str) -> float:
    """The ``max_age`` for a kopf change handler: a create or update reads the fleet now (what
    changed may be a second old), a resume (every object at the operator's start) shares."""
    return TTL if reason == "resume" else 0.0
