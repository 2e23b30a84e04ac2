"""The extender's in-memory cluster view: nodes and pods, and the container instances built
from them.

:class:`InMemoryClusterView` keeps nodes and pods and rebuilds only the container instances
an update touched; :class:`Snapshot` is what one request reads. The watch cache
(:mod:`.cache`) feeds the view from list + watch; the ``bind`` verb (:mod:`.verbs`) records
*assumed* pods in it. No I/O.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from ..domain import instances
from ..domain.instances import ContainerInstance


@dataclass(frozen=True)
class Snapshot:
    """An immutable view of the cluster at one moment."""

    instances: Mapping[str, ContainerInstance] = field(default_factory=dict)
    pods_by_node: Mapping[str, list[dict]] = field(default_factory=dict)

    def instance_for(self, node: dict) -> ContainerInstance:
        """The instance for a node object the scheduler sent: the cached one when the
        resourceVersion matches, else built from it and the pods known on it."""
        name = _name(node)
        cached = self.instances.get(name)
        rv = (node.get("metadata") or {}).get("resourceVersion")
        if cached is not None and rv is not None and cached.resource_version == rv:
            return cached
        return instances.build_instance(node, self.pods_by_node.get(name, ()))


class ClusterView(Protocol):
    """What the extender reads. A view may also have ``ready()`` and ``status()`` (the watch
    cache: readiness and metrics) and the pod operations of :class:`InMemoryClusterView` the
    ``bind`` verb and the in-flight tracking use (``add_pod_listener``, ``assume_pod``,
    ``get_pod``, ``forget_pod``); the extender uses them when present."""

    def snapshot(self) -> Snapshot: ...


def _name(obj: dict) -> str:
    """``metadata.name`` ("" when absent, as :func:`~ecs_operator.domain.instances.build_instance` names it)."""
    return str((obj.get("metadata") or {}).get("name") or "")


def _pod_key(pod: dict) -> tuple[str, str]:
    md = pod.get("metadata") or {}
    return md.get("namespace") or "", md.get("name") or md.get("uid") or ""


def pod_uid(pod: dict | None) -> str | None:
    return ((pod or {}).get("metadata") or {}).get("uid")


def _on_node(pod: dict, node: str) -> dict:
    return {**pod, "spec": {**(pod.get("spec") or {}), "nodeName": node}}


@dataclass
class _Assumed:
    uid: str | None
    node: str
    deadline: float
    pod: dict  # the pod as last seen, unbound


class InMemoryClusterView:
    """Nodes and pods held in memory; snapshots are rebuilt incrementally (only the nodes an
    update touched). Thread-safe. The watch cache (:mod:`.cache`) feeds it with
    ``replace_*``/``upsert_*``/``delete_*``.

    *Assumed* pods (:meth:`assume_pod`, the extender's ``bind``) count on their node before
    the API server's binding is seen: until a pod event with ``spec.nodeName`` (or its
    deletion, or a pod of another uid under that name) replaces the assumption, or
    ``ttl`` seconds pass."""

    def __init__(
        self, nodes: Iterable[dict] = (), pods: Iterable[dict] = (), clock: Callable[[], float] = time.monotonic
    ):
        self._lock = threading.Lock()
        self._clock = clock
        self._nodes: dict[str, dict] = {}
        self._pods: dict[tuple[str, str], dict] = {}
        self._pod_node: dict[tuple[str, str], str] = {}
        self._by_node: dict[str, dict[tuple[str, str], dict]] = {}
        self._assumed: dict[tuple[str, str], _Assumed] = {}
        self._instances: dict[str, ContainerInstance] = {}
        self._pod_lists: dict[str, list[dict]] = {}
        self._dirty: set[str] = set()
        self._snapshot: Snapshot | None = None
        self._listeners: list[Callable[[list[str]], None]] = []
        self._settled: list[str] = []
        self.replace(nodes, pods)

    def add_pod_listener(self, fn: Callable[[list[str]], None]) -> None:
        """``fn(uids)`` is called (outside the view's lock) with the uids of pods seen bound by
        the API server (``spec.nodeName`` in a pod event or listing), terminated or deleted."""
        self._listeners.append(fn)

    def _notify(self) -> None:
        if self._settled:
            with self._lock:
                uids, self._settled = self._settled, []
            for fn in self._listeners:
                fn(uids)

    # -- whole state ----------------------------------------------------------------------
    def replace(self, nodes: Iterable[dict], pods: Iterable[dict]) -> None:
        self.replace_nodes(nodes)
        self.replace_pods(pods)

    def replace_nodes(self, nodes: Iterable[dict]) -> None:
        """Every node (a fresh listing): nodes not in it are gone."""
        new = {_name(n): n for n in nodes}
        with self._lock:
            self._dirty.update(self._nodes)
            self._dirty.update(new)
            self._nodes = new
            self._snapshot = None

    def replace_pods(self, pods: Iterable[dict]) -> None:
        """Every (non-terminated) pod (a fresh listing): pods not in it are gone, and so are
        their assumptions."""
        pods = list(pods)
        with self._lock:
            self._dirty.update(self._by_node)
            self._pods, self._pod_node, self._by_node = {}, {}, {}
            listed = {_pod_key(p) for p in pods}
            for key in [k for k in self._assumed if k not in listed]:
                del self._assumed[key]
            for p in pods:
                self._put_pod(p)
            self._snapshot = None
        self._notify()

    # -- pods -----------------------------------------------------------------------------
    def _put_pod(self, pod: dict) -> None:
        key = _pod_key(pod)
        old = self._pod_node.pop(key, None)
        if old is not None:
            self._by_node.get(old, {}).pop(key, None)
            self._dirty.add(old)
        self._pods.pop(key, None)
        node = (pod.get("spec") or {}).get("nodeName")
        uid = pod_uid(pod)
        if self._listeners and (node or instances.is_terminated(pod)) and uid:
            self._settled.append(uid)
        if instances.is_terminated(pod):
            self._assumed.pop(key, None)
            return
        a = self._assumed.get(key)
        if a is not None:
            if node or (uid and a.uid and uid != a.uid):
                del self._assumed[key]  # the API server's binding (or another pod) replaces ours
            else:
                a.pod = pod
                pod, node = _on_node(pod, a.node), a.node
        self._pods[key] = pod
        if node:
            self._pod_node[key] = node
            self._by_node.setdefault(node, {})[key] = pod
            self._dirty.add(node)

    def upsert_pod(self, pod: dict) -> None:
        with self._lock:
            self._put_pod(pod)
            self._snapshot = None
        self._notify()

    def delete_pod(self, namespace: str, name: str, uid: str | None = None) -> None:
        with self._lock:
            key = (namespace, name)
            cur = self._pods.get(key)
            if uid and cur is not None and pod_uid(cur) and pod_uid(cur) != uid:
                return  # a newer pod of that name
            self._assumed.pop(key, None)
            node = self._pod_node.pop(key, None)
            self._pods.pop(key, None)
            if node is not None:
                self._by_node.get(node, {}).pop(key, None)
                self._dirty.add(node)
            self._snapshot = None
            settled = uid or pod_uid(cur)
            if self._listeners and settled:
                self._settled.append(settled)
        self._notify()

    def get_pod(self, namespace: str, name: str) -> dict | None:
        with self._lock:
            return self._pods.get((namespace, name))

    def assume_pod(
        self, namespace: str, name: str, uid: str | None, node: str, pod: dict | None = None, ttl: float = 60.0
    ) -> bool:
        """Count the pod on ``node`` now (the extender is binding it there). ``pod``: the pod
        object to use when the view does not know the pod yet. False when neither is known."""
        with self._lock:
            key = (namespace, name)
            cur = self._pods.get(key)
            if cur is not None and (not uid or not pod_uid(cur) or pod_uid(cur) == uid):
                base = cur
                if key in self._assumed:
                    base = self._assumed[key].pod
            elif pod is not None:
                base = pod
            else:
                return False
            unbound = {**base, "spec": {k: v for k, v in (base.get("spec") or {}).items() if k != "nodeName"}}
            self._assumed[key] = _Assumed(uid or pod_uid(base), node, self._clock() + ttl, unbound)
            self._put_pod(unbound)
            self._snapshot = None
        return True

    def forget_pod(self, namespace: str, name: str, uid: str | None = None) -> None:
        """Drop an assumption (the binding failed)."""
        with self._lock:
            key = (namespace, name)
            a = self._assumed.get(key)
            if a is None or (uid and a.uid and a.uid != uid):
                return
            del self._assumed[key]
            if key in self._pods:
                self._put_pod(a.pod)
            self._snapshot = None

    def _expire(self) -> None:
        now = self._clock()
        for key, a in [(k, a) for k, a in self._assumed.items() if a.deadline <= now]:
            del self._assumed[key]
            if key in self._pods:
                self._put_pod(a.pod)
            self._snapshot = None

    # -- nodes ----------------------------------------------------------------------------
    def upsert_node(self, node: dict) -> None:
        with self._lock:
            name = _name(node)
            self._nodes[name] = node
            self._dirty.add(name)
            self._snapshot = None

    def delete_node(self, name: str) -> None:
        with self._lock:
            self._nodes.pop(name, None)
            self._dirty.add(name)
            self._snapshot = None

    # -- reading --------------------------------------------------------------------------
    def counts(self) -> tuple[int, int]:
        """(nodes, pods) held."""
        with self._lock:
            return len(self._nodes), len(self._pods)

    def assumed(self) -> dict[tuple[str, str], str]:
        """(namespace, name) -> node of the pods assumed and not yet seen bound."""
        with self._lock:
            return {k: a.node for k, a in self._assumed.items()}

    def ready(self) -> bool:
        return True

    def snapshot(self) -> Snapshot:
        with self._lock:
            if self._assumed:
                self._expire()
            if self._snapshot is None:
                for name in self._dirty:
                    pods = self._by_node.get(name)
                    if pods:
                        self._pod_lists[name] = list(pods.values())
                    else:
                        self._pod_lists.pop(name, None)
                    node = self._nodes.get(name)
                    if node is None:
                        self._instances.pop(name, None)
                    else:
                        self._instances[name] = instances.build_instance(node, self._pod_lists.get(name, ()))
                self._dirty.clear()
                self._snapshot = Snapshot(dict(self._instances), dict(self._pod_lists))
            return self._snapshot
