"""An ECS service as its handler sees it: the ECSService, the workloads, ReplicaSets, pods,
Services and PodDisruptionBudgets labelled for it, and the DRAINING container instances; and the
per-service runtime data the watch feeds between two status writes.

The service's objects come from kopf's in-memory indexes, kept from its watch streams (kopf
runs no handler before they are populated from the initial listings, and updates an object's
entry before that object's own handlers run); without them (outside the operator) they are
listed.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .. import API_VERSION, constants, k8s
from . import nodes as node_state

Obj = dict[str, Any]

#: The index (kopf ``id``) that holds each kind of a service's objects.
INDEXED_KINDS = {
    "Deployment": "service_deployments",
    "DaemonSet": "service_daemonsets",
    "ReplicaSet": "service_replicasets",
    "Pod": "service_pods",
    "Service": "service_services",
    "PodDisruptionBudget": "service_budgets",
}
_API_VERSIONS = {"Pod": "v1", "Service": "v1", "PodDisruptionBudget": "policy/v1"}
WORKLOAD_KINDS = ("Deployment", "DaemonSet")


class ServiceIndexes:
    """kopf's Index objects of services' objects, keyed by (namespace, service name)."""

    def __init__(self) -> None:
        self._indexes: dict[str, Any] = {}

    def remember(self, kwargs: Mapping[str, Any]) -> None:
        """Keep kopf's Index objects (passed to every handler, startup included)."""
        for index_name in INDEXED_KINDS.values():
            if index_name in kwargs and index_name not in self._indexes:
                self._indexes[index_name] = kwargs[index_name]

    def objects(self, kind: str, namespace: str, name: str) -> list[Obj]:
        """The service's objects of ``kind`` (labelled ecs.seed.dev/service=name): from kopf's
        index when the operator runs, else listed."""
        index = self._indexes.get(INDEXED_KINDS[kind])
        if index is None:
            found = k8s.list_(_API_VERSIONS.get(kind, "apps/v1"), kind, namespace, labels={constants.SERVICE: name})
            for obj in found:
                obj.setdefault("kind", kind)
            return found
        return [dict(obj, kind=kind) for obj in snapshot(index.get((namespace, name), []))]


def snapshot(store: Iterable[Obj], attempts: int = 5) -> list[Obj]:
    """The entries of one of kopf's index stores, copied at once. Handlers and the status refresh
    run in threads while kopf's event loop updates the stores; iterating one entry at a time let
    the loop change the store in between ("dictionary changed size during iteration", seen in the
    soak). ``list()`` over the store's C-level iterator runs no Python code between entries, so no
    other thread runs; a garbage collection in the middle still could, hence the retries."""
    for _ in range(attempts - 1):
        try:
            return list(store)
        except RuntimeError:
            continue
    return list(store)


#: The operator process's indexes (remembered by the service handlers).
indexes = ServiceIndexes()


def owned_by(obj: Obj, uid: str) -> bool:
    """``obj`` names the object of ``uid`` among its owners."""
    return any(o.get("uid") == uid for o in obj["metadata"].get("ownerReferences") or [])


def owned_workloads(namespace: str, name: str, uid: str) -> list[Obj]:
    """Every Deployment and DaemonSet the ECSService (of ``uid``) owns."""
    return [obj for kind in WORKLOAD_KINDS for obj in indexes.objects(kind, namespace, name) if owned_by(obj, uid)]


def fetch(namespace: str, name: str) -> dict | None:
    """The ECSService as it is now (None: gone)."""
    return k8s.get(API_VERSION, "ECSService", namespace, name)


@dataclass(frozen=True)
class ServiceSnapshot:
    """An ECSService and what Kubernetes runs for it."""

    body: Obj  # the ECSService
    workloads: list[Obj]  # the Deployments and DaemonSets it owns
    replicasets: list[Obj]  # labelled for it (its Deployments', including former ones)
    pods: list[Obj]  # its tasks
    services: list[Obj]  # Kubernetes Services labelled for it
    budgets: list[Obj]  # PodDisruptionBudgets labelled for it
    draining: frozenset[str]  # the nodes that are DRAINING container instances now

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])

    @property
    def namespace(self) -> str:
        return str(self.body["metadata"]["namespace"])

    @property
    def uid(self) -> str:
        return str(self.body["metadata"]["uid"])


def read(body: Obj) -> ServiceSnapshot:
    """The snapshot of the ECSService ``body`` (as the caller has just read it)."""
    md = body["metadata"]
    namespace, name = md["namespace"], md["name"]
    return ServiceSnapshot(
        body=body,
        workloads=owned_workloads(namespace, name, md["uid"]),
        replicasets=indexes.objects("ReplicaSet", namespace, name),
        pods=indexes.objects("Pod", namespace, name),
        services=indexes.objects("Service", namespace, name),
        budgets=indexes.objects("PodDisruptionBudget", namespace, name),
        draining=frozenset(node_state.draining.names()),
    )


#: At most this many task ids wait per service for the next status (ECS keeps 100 events).
MAX_ANNOUNCED = 100


class ServiceRuntime:
    """Per-service data the operator keeps in memory between two status writes (thread-safe):

    - announcements: tasks launched / stopped since the service's last status (ids), named in
      ECS's "has started N tasks" / "has stopped N running tasks" events; filled from pod ADDED
      and DELETED events, consumed by the status write;
    - dirty marks: a status refresh is due (see the handler's refresh loop).

    :meth:`forget` drops everything of a service that is gone."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started: dict[Hashable, list[str]] = {}
        self._stopped: dict[Hashable, list[str]] = {}
        self._dirty: dict[Hashable, bool] = {}

    def announce(self, key: Hashable, task: str, *, started: bool) -> None:
        """A task of the service launched (``started``) or stopped now."""
        with self._lock:
            ids = (self._started if started else self._stopped).setdefault(key, [])
            ids.append(task)
            del ids[:-MAX_ANNOUNCED]  # a service whose status is never written again keeps no more

    def take_announcements(self, key: Hashable) -> tuple[list[str], list[str]]:
        """The (started, stopped) task ids since the last call, removed."""
        with self._lock:
            return self._started.pop(key, []), self._stopped.pop(key, [])

    def give_back(self, key: Hashable, started: list[str], stopped: list[str]) -> None:
        """Announcements a status write took but could not write wait for the next one (before
        any announced since, so events keep their order)."""
        with self._lock:
            for ids, store in ((started, self._started), (stopped, self._stopped)):
                if ids:
                    merged = store[key] = ids + store.get(key, [])
                    del merged[:-MAX_ANNOUNCED]

    def mark_dirty(self, key: Hashable) -> None:
        with self._lock:
            self._dirty[key] = True

    def is_dirty(self, key: Hashable) -> bool:
        with self._lock:
            return self._dirty.get(key, False)

    def take_dirty(self, key: Hashable) -> bool:
        """Whether a refresh was due, clearing the mark."""
        with self._lock:
            return self._dirty.pop(key, False)

    def forget(self, key: Hashable) -> None:
        """Nothing is kept for a service that is gone."""
        with self._lock:
            self._started.pop(key, None)
            self._stopped.pop(key, None)
            self._dirty.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(set(self._started) | set(self._stopped) | set(self._dirty))
