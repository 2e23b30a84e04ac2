"""The extender's API-server I/O: list + watch of nodes and pods, and pod bindings.

The extender's cache (:mod:`ecs_operator.extender.cache`) and its ``bind`` verb
(:mod:`ecs_operator.extender.verbs`) are pure and talk to the API server only through the
two interfaces they declare, which this module implements with the kubernetes client:

- :class:`KubeSource` is a :class:`~ecs_operator.extender.cache.Source`: a paginated
  ``list`` and a ``watch`` with bookmarks, raw JSON throughout (no model deserialisation);
  a 410 Gone from either becomes :class:`~ecs_operator.extender.cache.Gone` (list again);
- :class:`KubeBinder` is a :class:`~ecs_operator.extender.verbs.Binder`: the
  ``pods/binding`` subresource.

Pods are watched with the field selector ``status.phase!=Succeeded,status.phase!=Failed``:
placement ignores terminated pods (they hold no resources and are no task of a group), and
the API server sends a pod that becomes terminated as DELETED.

Every call has a timeout: a list ``(connect, list_timeout)``; a watch the server-side
``timeoutSeconds`` the cache draws and a client-side read timeout a little longer than it
(:attr:`KubeSource.READ_GRACE`), so a stalled stream raises instead of hanging; a binding
:attr:`KubeBinder.timeout`, below the scheduler's extender ``httpTimeout``.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import kubernetes
from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from .cache import NODES, PODS, Gone

log = logging.getLogger("ecs_operator.extender.kube")

#: Placement ignores terminated pods; the API server sends one that terminates as DELETED.
POD_FIELD_SELECTOR = "status.phase!=Succeeded,status.phase!=Failed"


def _rv(obj: Any) -> str | None:
    return ((obj or {}).get("metadata") or {}).get("resourceVersion")


class RawWatch(watch.Watch):
    """``watch.Watch`` that parses each line once and keeps objects as dicts (the client's
    model deserialisation would cost far more than the extender's own work)."""

    def __init__(self) -> None:
        super().__init__(return_type="object")

    def unmarshal_event(self, data, return_type):
        if not data or data.isspace():
            return None
        try:
            js = json.loads(data)
        except ValueError:
            return None
        obj = js.get("object")
        js["raw_object"] = obj
        if js.get("type") != "ERROR" and isinstance(obj, dict) and _rv(obj):
            self.resource_version = _rv(obj)
        return js


class KubeSource:
    """list/watch through the kubernetes client, raw JSON throughout. ``api_client_factory()``
    returns an ``ApiClient`` (called once per thread; ``ecs_operator.k8s.client`` fits)."""

    #: seconds the client waits for a byte of a watch stream beyond the server's timeout
    READ_GRACE = 15
    PAGE = 500

    def __init__(
        self, api_client_factory: Callable[[], object], connect_timeout: float = 10.0, list_timeout: float = 120.0
    ):
        self._factory = api_client_factory
        self.connect_timeout = connect_timeout
        self.list_timeout = list_timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._watches: set[RawWatch] = set()

    def _func(self, kind: str) -> Callable[..., Any]:
        api = getattr(self._local, "core", None)
        if api is None:
            api = self._local.core = kubernetes.client.CoreV1Api(self._factory())
        return api.list_node if kind == NODES else api.list_pod_for_all_namespaces

    @staticmethod
    def _kwargs(kind: str) -> dict[str, Any]:
        return {"field_selector": POD_FIELD_SELECTOR} if kind == PODS else {}

    def list(self, kind: str) -> tuple[list[dict], str | None]:
        """Every object of ``kind`` (pages of :attr:`PAGE`) and the list's resourceVersion;
        raises :class:`Gone` when a continue token expired."""
        func = self._func(kind)
        items: list[dict] = []
        cont: str | None = None
        rv = None
        while True:
            kw = dict(
                self._kwargs(kind),
                limit=self.PAGE,
                _preload_content=False,
                _request_timeout=(self.connect_timeout, self.list_timeout),
            )
            if cont:
                kw["_continue"] = cont
            try:
                resp = func(**kw)
            except ApiException as e:
                if e.status == 410:  # the continue token expired: start over
                    raise Gone(f"list {kind}: {e.reason}") from e
                raise
            try:
                body = json.loads(resp.data)
            finally:
                resp.release_conn()
            items.extend(body.get("items") or ())
            meta = body.get("metadata") or {}
            rv = meta.get("resourceVersion") or rv
            cont = meta.get("continue")
            if not cont:
                return items, rv

    def watch(
        self, kind: str, resource_version: str | None, timeout_seconds: int, stop: threading.Event
    ) -> Iterator[dict]:
        """Watch events from ``resource_version`` with bookmarks until the server closes the
        stream (``timeout_seconds``) or ``stop`` is set; raises :class:`Gone` on 410."""
        w = RawWatch()
        with self._lock:
            self._watches.add(w)
        try:
            # timeout_seconds also turns off Watch's own one-shot 410 retry: 410 surfaces here.
            for event in w.stream(
                self._func(kind),
                resource_version=resource_version,
                allow_watch_bookmarks=True,
                timeout_seconds=timeout_seconds,
                _request_timeout=(self.connect_timeout, timeout_seconds + self.READ_GRACE),
                **self._kwargs(kind),
            ):
                if stop.is_set():
                    return
                yield event
        except ApiException as e:
            if e.status == 410:
                raise Gone(f"watch {kind}: {e.reason}") from e
            raise
        finally:
            with self._lock:
                self._watches.discard(w)
            w.stop()

    def close(self) -> None:
        """Stop the open watch streams (their threads return promptly)."""
        with self._lock:
            watches = list(self._watches)
        for w in watches:
            w.stop()


class KubeBinder:
    """The extender's ``bind`` verb: ``POST /api/v1/namespaces/<ns>/pods/<name>/binding`` (as
    kube-scheduler's DefaultBinder does; the uid is a precondition). Needs RBAC ``create`` on
    ``pods/binding`` (and ``get`` on pods). When the call fails in a way that may hide a
    binding that took place (a connection lost after the request was sent, a timeout, 409
    "already assigned"), the pod is read back: bound to that node is a success, so the
    scheduler never retries (and double-counts) a pod that is in fact bound."""

    #: Connections kept to the API server. kube-scheduler binds every pod in its own goroutine,
    #: so a burst has dozens of binds in flight; the client's default pool (5 per CPU) would
    #: open -- TLS handshake included -- and then discard a connection for each one beyond it.
    POOL_SIZE = 64

    def __init__(self, api_client_factory: Callable[[], object], timeout: float = 4.0, pool_size: int = POOL_SIZE):
        self._factory = api_client_factory
        self.timeout = timeout  # below the scheduler's extender httpTimeout (5s)
        self.pool_size = pool_size
        self._core: Any = None
        self._lock = threading.Lock()

    def _api(self) -> Any:
        # One client for every handler thread: its urllib3 pool is thread-safe and keeps the
        # TLS connections to the API server (a client per thread would handshake per connection).
        with self._lock:
            if self._core is None:
                base: Any = self._factory()
                cfg = getattr(base, "configuration", None)
                if cfg is not None and (cfg.connection_pool_maxsize or 0) < self.pool_size:
                    cfg = copy.deepcopy(cfg)  # the factory's clients keep their own pool size
                    cfg.connection_pool_maxsize = self.pool_size
                    base = kubernetes.client.ApiClient(cfg)
                self._core = kubernetes.client.CoreV1Api(base)
            return self._core

    def __call__(self, namespace: str, name: str, uid: str | None, node: str) -> None:
        api = self._api()
        md = {"name": name, "namespace": namespace}
        if uid:
            md["uid"] = uid
        body = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": md,
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        }
        try:
            resp = api.create_namespaced_pod_binding(
                name, namespace, body, _preload_content=False, _request_timeout=self.timeout
            )
            resp.data  # noqa: B018 - read the body, so the connection goes back to the pool clean
            resp.release_conn()
            return
        except ApiException as e:
            if e.status != 409:
                raise RuntimeError(f"{e.status} {_message(e)}") from e
            error: Exception = e
        except Exception as e:
            error = e
        if self._bound_to(namespace, name, uid) == node:
            log.info("bind %s/%s to %s: %s, but the pod is bound there", namespace, name, node, error)
            return
        raise RuntimeError(str(error)) from error

    def _bound_to(self, namespace: str, name: str, uid: str | None) -> str | None:
        try:
            resp = self._api().read_namespaced_pod(
                name, namespace, _preload_content=False, _request_timeout=self.timeout
            )
            pod = json.loads(resp.data)
            resp.release_conn()
        except Exception:
            return None
        if uid and (pod.get("metadata") or {}).get("uid") != uid:
            return None
        return (pod.get("spec") or {}).get("nodeName")


def _message(e: ApiException) -> str:
    """The Status message of an API error (its reason when the body is no Status)."""
    try:
        return json.loads(e.body or "{}").get("message") or e.reason
    except (TypeError, ValueError):
        return e.reason
