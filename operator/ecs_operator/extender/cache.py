"""The extender's cluster state: nodes and pods kept by list + watch (an informer).

Two background threads, one per resource (nodes; pods that are not terminated), each runs:

1. **list** (paginated), replace that resource's state in an :class:`InMemoryClusterView`,
   remember the list's ``resourceVersion``; the first successful list marks it *synced*;
2. **watch** from that ``resourceVersion`` with bookmarks, a server-side timeout
   (``timeoutSeconds``, randomised so the two streams do not reconnect together) and a
   client-side read timeout a little longer than it, so a stalled stream (no byte, not even
   the bookmark the API server sends about every minute) raises instead of hanging; every
   event's ``resourceVersion`` (bookmarks included) is remembered;
3. when the stream ends (the server timeout), watch again from the last ``resourceVersion``;
   when the server answers **410 Gone** (the version is too old: compacted, or the watch
   cache moved on), list again; on any other error (connection refused, API server
   restarting, 5xx, read timeout) wait with exponential backoff and jitter (0.2 s doubling to
   30 s, reset by the next successful watch) and watch again from the last version (the
   server answers 410 if it is too old by then, which relists).

All of it is pure but the :class:`Source` it reads: :class:`Reflector` applies a listing
(:meth:`Reflector.replace`) or one watch event (:meth:`Reflector.apply`) to the in-memory
state and keeps the ``resourceVersion`` to resume from; :class:`WatchCache` runs the loop
above (threads, timeouts, backoff, when to list again) against any :class:`Source`, so the
unit tests drive it with a fake one. The real source and the binder, the only code here that
talks to the API server, are :mod:`ecs_operator.extender.kube` (the kubernetes client's
``watch.Watch``, raw JSON; terminated pods are not watched: the API server sends a pod that
terminates as DELETED). Objects are slimmed to the fields placement reads (labels,
``ecs.seed.dev/*`` annotations, container resources, node name, phase; node labels,
allocatable, Ready, cordon, kubelet version), which keeps memory and the garbage collector's
work proportional to what is used.

The request path reads :meth:`WatchCache.snapshot` only: it never calls the API server.
Until both resources have synced, ``snapshot()`` raises :class:`NotSynced` (the extender
answers the scheduler with an error, so the pod is retried) and ``/readyz`` reports 503.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from ..domain.instances import slim_node, slim_pod
from .view import InMemoryClusterView, Snapshot

log = logging.getLogger("ecs_operator.extender.cache")

NODES = "nodes"
PODS = "pods"


class NotSynced(RuntimeError):
    """The cache has not listed nodes and pods yet."""


class Gone(Exception):
    """HTTP 410: the resourceVersion is too old to watch from; list again."""


class WatchError(RuntimeError):
    """An ERROR event other than 410 (the stream is abandoned, then resumed after a backoff)."""


# --------------------------------------------------------------------------------------
# Applying events (pure: no I/O)


def _rv(obj: dict | None) -> str | None:
    return ((obj or {}).get("metadata") or {}).get("resourceVersion")


def _status_code(obj: dict | None) -> int | None:
    code = (obj or {}).get("code")
    try:
        return int(code) if code is not None else None
    except (TypeError, ValueError):
        return None


def _watch_error(obj: dict | None) -> Exception:
    """The exception for an ERROR watch event: :class:`Gone` for 410, else :class:`WatchError`."""
    code = _status_code(obj)
    message = (obj or {}).get("message") or (obj or {}).get("reason") or "watch error"
    if code == 410:
        return Gone(message)
    return WatchError(f"{code}: {message}")


@dataclass
class Reflector:
    """One watched resource (``nodes`` or ``pods``) mirrored into ``view``.

    :meth:`replace` applies a listing, :meth:`apply` one watch event; both remember the
    ``resourceVersion`` to resume from. No I/O."""

    kind: str
    view: InMemoryClusterView
    resource_version: str | None = None
    synced: bool = False
    events: int = 0
    relists: int = 0
    last_event_at: float | None = None  # time.monotonic() of the last list / event

    def replace(self, items: list[dict], resource_version: str | None) -> None:
        if self.kind == NODES:
            self.view.replace_nodes(slim_node(n) for n in items)
        else:
            self.view.replace_pods(slim_pod(p) for p in items)
        self.resource_version = resource_version
        self.relists += int(self.synced)
        self.synced = True
        self.last_event_at = time.monotonic()

    def apply(self, event: dict) -> None:
        """Apply one watch event (``{"type": ..., "object": {...}}``). Raises :class:`Gone`
        for an ERROR event with code 410, :class:`WatchError` for other ERROR events."""
        etype = event.get("type")
        obj = event.get("object")
        if etype == "ERROR":
            raise _watch_error(obj)
        if not isinstance(obj, dict):
            raise WatchError(f"watch event {etype!r} without an object")
        self.last_event_at = time.monotonic()
        self.events += 1
        if etype in ("ADDED", "MODIFIED"):
            self._upsert(obj)
        elif etype == "DELETED":
            self._delete(obj.get("metadata") or {})
        elif etype != "BOOKMARK":
            raise WatchError(f"unknown watch event type {etype!r}")
        rv = _rv(obj)
        if rv:
            self.resource_version = rv

    def _upsert(self, obj: dict) -> None:
        if self.kind == NODES:
            self.view.upsert_node(slim_node(obj))
        else:
            self.view.upsert_pod(slim_pod(obj))

    def _delete(self, md: dict) -> None:
        if self.kind == NODES:
            self.view.delete_node(str(md.get("name") or ""))
        else:
            self.view.delete_pod(md.get("namespace") or "", md.get("name") or "", md.get("uid"))


# --------------------------------------------------------------------------------------
# The source (implemented by ecs_operator.extender.kube.KubeSource)


class Source(Protocol):
    """Where the cache reads nodes and pods from (``ecs_operator.extender.kube.KubeSource``
    in the extender; a scripted one in the tests and the bench). May also have ``close()``,
    called by :meth:`WatchCache.stop` to end the open streams."""

    def list(self, kind: str) -> tuple[list[dict], str | None]:
        """Every object of ``kind`` and the list's resourceVersion; raises :class:`Gone`
        when a continue token expired."""

    def watch(
        self, kind: str, resource_version: str | None, timeout_seconds: int, stop: threading.Event
    ) -> Iterator[dict]:
        """Watch events (dicts with ``type`` and ``object``) from ``resource_version`` until
        the server closes the stream or ``stop`` is set; raises :class:`Gone` on 410."""


# --------------------------------------------------------------------------------------
# The loop


@dataclass
class Backoff:
    initial: float = 0.2
    cap: float = 30.0
    factor: float = 2.0
    _next: float = field(default=0.0, init=False)

    def next(self) -> float:
        self._next = self.initial if self._next == 0 else min(self.cap, self._next * self.factor)
        return self._next * random.uniform(0.5, 1.0)

    def reset(self) -> None:
        self._next = 0.0


class WatchCache:
    """A :class:`ClusterView` kept by list + watch of nodes and (non-terminated) pods.

    ``start()`` runs one thread per resource; ``snapshot()`` serves from memory (raises
    :class:`NotSynced` until both are listed); ``wait_synced(timeout)``; ``stop()``.
    ``min_timeout``/``max_timeout``: the watch's server-side timeout is drawn from this range
    (seconds) for every stream."""

    def __init__(
        self,
        source: Source,
        view: InMemoryClusterView | None = None,
        *,
        min_timeout: int = 60,
        max_timeout: int = 120,
        backoff: Callable[[], Backoff] = Backoff,
    ):
        self.view = view if view is not None else InMemoryClusterView()
        self.source = source
        self.reflectors = {kind: Reflector(kind, self.view) for kind in (NODES, PODS)}
        self.min_timeout, self.max_timeout = min_timeout, max_timeout
        self._backoff = backoff
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._synced = threading.Event()
        self.errors: dict[str, str] = {}

    # -- ClusterView ----------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        if not self._synced.is_set():
            raise NotSynced(
                "nodes and pods not listed yet: "
                + ", ".join(
                    f"{k}: {self.errors.get(k) or 'listing'}" for k, r in self.reflectors.items() if not r.synced
                )
            )
        return self.view.snapshot()

    def ready(self) -> bool:
        return self._synced.is_set()

    def status(self) -> dict:
        now = time.monotonic()
        counts = dict(zip((NODES, PODS), self.view.counts(), strict=True))
        return {
            kind: {
                "synced": r.synced,
                "objects": counts[kind],
                "resourceVersion": r.resource_version,
                "events": r.events,
                "relists": r.relists,
                "error": self.errors.get(kind),
                "lastEventAge": None if r.last_event_at is None else round(now - r.last_event_at, 1),
            }
            for kind, r in self.reflectors.items()
        }

    # the view's pod operations the extender's bind and in-flight tracking use
    def add_pod_listener(self, fn) -> None:
        self.view.add_pod_listener(fn)

    def assume_pod(self, *args, **kwargs) -> bool:
        return self.view.assume_pod(*args, **kwargs)

    def get_pod(self, namespace: str, name: str) -> dict | None:
        return self.view.get_pod(namespace, name)

    def forget_pod(self, *args, **kwargs) -> None:
        self.view.forget_pod(*args, **kwargs)

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> WatchCache:
        for kind, r in self.reflectors.items():
            t = threading.Thread(target=self.run, args=(r,), daemon=True, name=f"watch-{kind}")
            t.start()
            self._threads.append(t)
        return self

    def wait_synced(self, timeout: float | None = None) -> bool:
        return self._synced.wait(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        close = getattr(self.source, "close", None)
        if close is not None:
            close()
        for t in self._threads:
            t.join(timeout)

    def _mark_synced(self) -> None:
        if all(r.synced for r in self.reflectors.values()) and not self._synced.is_set():
            self._synced.set()
            log.info("cache synced: %d nodes, %d pods", *self.view.counts())

    def run(self, r: Reflector) -> None:
        """The list/watch loop of one resource, until ``stop()``."""
        backoff = self._backoff()
        need_list = True
        while not self._stop.is_set():
            try:
                if need_list:
                    items, rv = self.source.list(r.kind)
                    r.replace(items, rv)
                    need_list = False
                    self.errors.pop(r.kind, None)
                    self._mark_synced()
                    log.debug("listed %d %s at resourceVersion %s", len(items), r.kind, rv)
                timeout = random.randint(self.min_timeout, self.max_timeout)
                started, n = time.monotonic(), 0
                for event in self.source.watch(r.kind, r.resource_version, timeout, self._stop):
                    r.apply(event)
                    n += 1
                    backoff.reset()
                    self.errors.pop(r.kind, None)
                # The server closed the stream (its timeout): watch again from the last version;
                # a stream that ends at once with nothing in it is not retried in a hot loop.
                if n == 0 and time.monotonic() - started < 1.0 and self._stop.wait(backoff.next()):
                    return
            except Gone as e:
                log.info("%s: %s; listing again", r.kind, e)
                need_list = True
                # no delay: 410 is the normal answer to an old version; a fresh list fixes it
                if self._stop.wait(random.uniform(0, 0.1)):
                    return
            except Exception as e:
                delay = backoff.next()
                self.errors[r.kind] = f"{type(e).__name__}: {e}"[:300]
                log.warning("%s watch failed (%s); retrying in %.1fs", r.kind, self.errors[r.kind], delay)
                if self._stop.wait(delay):
                    return
