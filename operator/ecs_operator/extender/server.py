"""The HTTP side of the kube-scheduler extender protocol (k8s.io/kube-scheduler/extender/v1).

``POST <prefix>/filter`` takes ``ExtenderArgs`` -- ``{"Pod": {...}, "Nodes": {"items": [...]}}``
when the scheduler's extender config has ``nodeCacheCapable: false``, or
``{"Pod": {...}, "NodeNames": [...]}`` when it is true -- and answers ``ExtenderFilterResult``
``{"Nodes" | "NodeNames", "FailedNodes", "FailedAndUnresolvableNodes", "Error"}`` in the same
form. ``POST <prefix>/prioritize`` takes the same arguments and answers a
``HostPriorityList`` ``[{"Host": name, "Score": 0..10}]``. ``POST <prefix>/bind`` (served when a
binder is given) takes ``ExtenderBindingArgs`` ``{"PodName", "PodNamespace", "PodUID", "Node"}``
and answers ``ExtenderBindingResult`` ``{"Error": ""}``. The Go types have no JSON tags, so the
scheduler sends capitalised keys; keys are accepted case-insensitively. ``GET /livez`` answers
``ok``; ``/readyz`` and ``/healthz`` answer ``ok`` once the view has its data (503 before);
``/metrics`` is Prometheus text (call latencies, cache and bind counters).

Cluster state comes from a :class:`ClusterView`: :class:`InMemoryClusterView` keeps nodes and
pods and rebuilds only the container instances an update touched; the watch cache
(:mod:`.cache`) feeds it from list + watch. The request path never calls the API server
(``bind`` does, by definition, after recording the pod in the view).
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from ..domain import instances
from ..domain.instances import ContainerInstance
from ..domain.placement import PlacementError, filter_instances, score_instances, spec_from_pod

log = logging.getLogger("ecs_operator.extender")

MAX_BODY = 256 * 1024 * 1024


# --------------------------------------------------------------------------------------
# Cluster views


@dataclass(frozen=True)
class Snapshot:
    """An immutable view of the cluster at one moment."""

    instances: Mapping[str, ContainerInstance] = field(default_factory=dict)
    pods_by_node: Mapping[str, list[dict]] = field(default_factory=dict)

    def instance_for(self, node: dict) -> ContainerInstance:
        """The instance for a node object the scheduler sent: the cached one when the
        resourceVersion matches, else built from it and the pods known on it."""
        md = node.get("metadata") or {}
        name = md.get("name")
        cached = self.instances.get(name)
        rv = md.get("resourceVersion")
        if cached is not None and rv is not None and cached.resource_version == rv:
            return cached
        return instances.build_instance(node, self.pods_by_node.get(name, ()))


class ClusterView(Protocol):
    def snapshot(self) -> Snapshot: ...


def _pod_key(pod: dict) -> tuple[str, str]:
    md = pod.get("metadata") or {}
    return md.get("namespace") or "", md.get("name") or md.get("uid") or ""


def _uid(pod: dict | None) -> str | None:
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
        new = {(n.get("metadata") or {}).get("name"): n for n in nodes}
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
        if self._listeners and (node or instances.is_terminated(pod)) and _uid(pod):
            self._settled.append(_uid(pod))
        if instances.is_terminated(pod):
            self._assumed.pop(key, None)
            return
        a = self._assumed.get(key)
        if a is not None:
            uid = _uid(pod)
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
            if uid and cur is not None and _uid(cur) and _uid(cur) != uid:
                return  # a newer pod of that name
            self._assumed.pop(key, None)
            node = self._pod_node.pop(key, None)
            self._pods.pop(key, None)
            if node is not None:
                self._by_node.get(node, {}).pop(key, None)
                self._dirty.add(node)
            self._snapshot = None
            if self._listeners and (uid or _uid(cur)):
                self._settled.append(uid or _uid(cur))
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
            if cur is not None and (not uid or not _uid(cur) or _uid(cur) == uid):
                base = cur
                if key in self._assumed:
                    base = self._assumed[key].pod
            elif pod is not None:
                base = pod
            else:
                return False
            unbound = {**base, "spec": {k: v for k, v in (base.get("spec") or {}).items() if k != "nodeName"}}
            self._assumed[key] = _Assumed(uid or _uid(base), node, self._clock() + ttl, unbound)
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
            name = (node.get("metadata") or {}).get("name")
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


# --------------------------------------------------------------------------------------
# The protocol, on dicts


def _get(d: Mapping, key: str) -> Any:
    """``d[key]`` with the key matched case-insensitively (Go's JSON decoding does the same)."""
    if key in d:
        return d[key]
    low = key.lower()
    for k, v in d.items():
        if isinstance(k, str) and k.lower() == low:
            return v
    return None


class ArgsError(ValueError):
    pass


@dataclass
class _Args:
    pod: dict
    nodes: list[dict] | None  # the Nodes form
    names: list[str]


def _parse_args(args: Any) -> _Args:
    if not isinstance(args, dict):
        raise ArgsError("ExtenderArgs must be a JSON object")
    pod = _get(args, "Pod")
    if not isinstance(pod, dict):
        raise ArgsError("ExtenderArgs.Pod is missing")
    nodes = _get(args, "Nodes")
    if nodes is not None:
        items = _get(nodes, "items") if isinstance(nodes, dict) else None
        if items is None:
            items = []
        if not isinstance(items, list) or not all(isinstance(n, dict) for n in items):
            raise ArgsError("ExtenderArgs.Nodes.items must be a list of nodes")
        return _Args(pod, items, [(n.get("metadata") or {}).get("name") or "" for n in items])
    names = _get(args, "NodeNames")
    if names is None:
        raise ArgsError("ExtenderArgs has neither Nodes nor NodeNames")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ArgsError("ExtenderArgs.NodeNames must be a list of strings")
    return _Args(pod, None, names)


def _pod_name(pod: dict) -> str:
    md = pod.get("metadata") or {}
    return f"{md.get('namespace', '')}/{md.get('name', '')}"


class Binder(Protocol):
    def __call__(self, namespace: str, name: str, uid: str | None, node: str) -> None:
        """Bind the pod to the node (the pods/binding subresource); raise on failure."""


@dataclass
class _Latency:
    """Per-verb call latencies: count and sum since start, quantiles over the last ``window``."""

    window: int = 10_000
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _samples: dict[str, deque] = field(default_factory=dict)
    _count: dict[str, int] = field(default_factory=dict)
    _sum: dict[str, float] = field(default_factory=dict)

    def add(self, verb: str, seconds: float) -> None:
        with self._lock:
            self._samples.setdefault(verb, deque(maxlen=self.window)).append(seconds)
            self._count[verb] = self._count.get(verb, 0) + 1
            self._sum[verb] = self._sum.get(verb, 0.0) + seconds

    def summary(self) -> dict[str, dict]:
        with self._lock:
            out = {}
            for verb, dq in self._samples.items():
                xs = sorted(dq)
                q = {p: xs[min(len(xs) - 1, int(round(p * (len(xs) - 1))))] for p in (0.5, 0.9, 0.99)} if xs else {}
                out[verb] = {"count": self._count[verb], "sum": self._sum[verb], "quantiles": q}
            return out


class Extender:
    """Filter, prioritize and bind on decoded JSON; the HTTP handler is a thin layer over this.

    With a ``binder`` the extender also serves the ``bind`` verb: it records the pod as
    *assumed* on the chosen node in the view (so the next pod's filter and scores count it at
    once, before the API server's binding comes back through the watch), then creates the
    binding.

    With ``inflight_timeout`` (seconds) it keeps the pods that passed its filter as *in
    flight*. kube-scheduler schedules one pod at a time and binds asynchronously: when the next
    pod's filter or prioritize arrives, every earlier pod that passed the filter has been
    assumed by the scheduler and is being bound. Before answering for an ECS task, the extender
    waits until each of them is settled -- its ``bind`` call came (assumed at once), or the
    view saw it bound, terminated or deleted -- or has been in flight for ``inflight_timeout``
    (a pod that failed after the filter), so spread and binpack count every earlier decision.
    With the bind verb the wait is the hop of the scheduler's binding goroutine to the
    extender; without it, the binding's round trip through the API server and the watch."""

    def __init__(
        self,
        view: ClusterView,
        binder: Binder | None = None,
        *,
        inflight_timeout: float | None = None,
        seen_max: int = 4096,
        scheduler_names: Iterable[str] | None = None,
    ):
        self.view = view
        self.binder = binder
        # Bind only pods that name one of these schedulers and are not bound yet (None: any).
        self.scheduler_names = frozenset(scheduler_names) if scheduler_names is not None else None
        self.inflight_timeout = inflight_timeout
        add_listener = getattr(view, "add_pod_listener", None)
        if inflight_timeout is not None and add_listener is not None:
            add_listener(self._settled)
        self._cond = threading.Condition()
        self._inflight: dict[str, float] = {}  # pod uid -> deadline (monotonic)
        self._seen: OrderedDict[str, dict] = OrderedDict()  # pod uid -> slim pod from filter
        self._seen_max = seen_max
        self.api_latency = _Latency()  # the binder's API calls
        self.counters: dict[str, float] = {
            "inflight_waits": 0,
            "inflight_wait_seconds": 0.0,
            "inflight_timeouts": 0,
            "binds": 0,
            "bind_errors": 0,
            "binds_assumed": 0,
        }

    # -- in-flight pods ---------------------------------------------------------------------
    def _note_passed(self, pod: dict) -> None:
        uid = _uid(pod)
        if not uid or (self.inflight_timeout is None and self.binder is None):
            return
        with self._cond:
            if self.inflight_timeout is not None:
                self._inflight[uid] = time.monotonic() + self.inflight_timeout
            if self.binder is not None:
                self._seen[uid] = instances.slim_pod(pod)
                self._seen.move_to_end(uid)
                while len(self._seen) > self._seen_max:
                    self._seen.popitem(last=False)

    def _settled(self, uids: list[str]) -> None:
        with self._cond:
            if not self._inflight:
                return
            hit = False
            for u in uids:
                if self._inflight.pop(u, None) is not None:
                    hit = True
            if hit:
                self._cond.notify_all()

    def inflight(self) -> int:
        with self._cond:
            return len(self._inflight)

    def _await_inflight(self, pod: dict) -> None:
        """Wait until the pods that passed the filter before this one are settled (or expired)."""
        if self.inflight_timeout is None:
            return
        me = _uid(pod)
        with self._cond:
            if not any(u != me for u in self._inflight):
                return
            started = time.monotonic()
            while True:
                now = time.monotonic()
                for u in [u for u, d in self._inflight.items() if d <= now and u != me]:
                    del self._inflight[u]
                    self.counters["inflight_timeouts"] += 1
                    log.info(
                        "pod uid %s passed the filter %.1fs ago and was not bound; not waiting for it",
                        u,
                        self.inflight_timeout,
                    )
                pending = [d for u, d in self._inflight.items() if u != me]
                if not pending:
                    break
                self._cond.wait(min(pending) - now)
            self.counters["inflight_waits"] += 1
            self.counters["inflight_wait_seconds"] += time.monotonic() - started

    def bind(self, args: Any) -> dict:
        """``ExtenderBindingArgs`` (``PodName``, ``PodNamespace``, ``PodUID``, ``Node``) ->
        ``ExtenderBindingResult`` (``{"Error": ""}``)."""
        if self.binder is None:
            raise LookupError("bind is not served (no binder)")
        if not isinstance(args, dict):
            raise ArgsError("ExtenderBindingArgs must be a JSON object")
        name, namespace, uid, node = (_get(args, k) for k in ("PodName", "PodNamespace", "PodUID", "Node"))
        if not (
            isinstance(name, str)
            and name
            and isinstance(node, str)
            and node
            and isinstance(namespace, str)
            and (uid is None or isinstance(uid, str))
        ):
            raise ArgsError("ExtenderBindingArgs needs PodName, PodNamespace, PodUID and Node")
        with self._cond:
            hint = self._seen.pop(uid, None) if uid else None
        refused = self._refuse_bind(namespace, name, uid, hint)
        if refused:
            with self._cond:
                self.counters["binds_refused"] = self.counters.get("binds_refused", 0) + 1
            log.warning("bind %s/%s to %s refused: %s", namespace, name, node, refused)
            return {"Error": refused}
        assume = getattr(self.view, "assume_pod", None)
        assumed = bool(assume and assume(namespace, name, uid or None, node, hint))
        with self._cond:
            if uid:
                self._inflight.pop(uid, None)
            self.counters["binds"] += 1
            self.counters["binds_assumed"] += int(assumed)
            self._cond.notify_all()
        started = time.perf_counter()
        try:
            self.binder(namespace, name, uid or None, node)
        except Exception as e:
            if assumed:
                self.view.forget_pod(namespace, name, uid or None)
            with self._cond:
                self.counters["bind_errors"] += 1
            log.warning("bind %s/%s to %s failed: %s", namespace, name, node, e)
            return {"Error": f"binding {namespace}/{name} to {node}: {e}"}
        finally:
            self.api_latency.add("bind", time.perf_counter() - started)
        return {"Error": ""}

    def _refuse_bind(self, namespace: str, name: str, uid: str | None, hint: dict | None) -> str:
        """Why this bind request is refused ("" when it is not): the extender binds only pods
        the ecs-scheduler schedules (its HTTP endpoint is no way to bind arbitrary pods)."""
        if self.scheduler_names is None:
            return ""
        get_pod = getattr(self.view, "get_pod", None)
        pod = (get_pod(namespace, name) if get_pod is not None else None) or hint
        if pod is None:
            return f"pod {namespace}/{name} is not known to the extender (yet)"
        if uid and _uid(pod) and _uid(pod) != uid:
            return f"pod {namespace}/{name} has uid {_uid(pod)}, not {uid}"
        spec = pod.get("spec") or {}
        if spec.get("schedulerName") not in self.scheduler_names:
            return (
                f"pod {namespace}/{name} names scheduler {spec.get('schedulerName')!r}; this extender "
                f"binds only pods of {', '.join(sorted(self.scheduler_names))}"
            )
        if spec.get("nodeName"):
            return f"pod {namespace}/{name} is already bound to {spec['nodeName']}"
        return ""

    def _candidates(self, a: _Args, snap: Snapshot) -> tuple[list[ContainerInstance], list[str], dict]:
        """(known instances, unknown names, cluster-wide instances for counting)."""
        cluster = snap.instances
        if a.nodes is not None:
            insts = [snap.instance_for(n) for n in a.nodes]
            fresh = [i for i in insts if cluster.get(i.name) is not i]
            if fresh:
                cluster = dict(cluster)
                cluster.update((i.name, i) for i in fresh)
            return insts, [], cluster
        insts, unknown = [], []
        for name in a.names:
            inst = cluster.get(name)
            if inst is None:
                unknown.append(name)
            else:
                insts.append(inst)
        return insts, unknown, cluster

    def filter(self, args: Any) -> dict:
        try:
            a = _parse_args(args)
        except ArgsError as e:
            return {
                "Nodes": None,
                "NodeNames": None,
                "FailedNodes": {},
                "FailedAndUnresolvableNodes": {},
                "Error": str(e),
            }
        result: dict[str, Any] = {
            "Nodes": None,
            "NodeNames": None,
            "FailedNodes": {},
            "FailedAndUnresolvableNodes": {},
            "Error": "",
        }
        try:
            spec = spec_from_pod(a.pod)
        except PlacementError as e:
            msg = f"pod {_pod_name(a.pod)}: invalid {e}"
            result["FailedAndUnresolvableNodes"] = dict.fromkeys(a.names, msg)
            result["Error"] = msg
            self._passed(result, a, set())
            return result
        if not spec.managed:
            self._passed(result, a, set(a.names))
            if a.names:
                self._note_passed(a.pod)
            return result
        try:
            self._await_inflight(a.pod)
            snap = self.view.snapshot()
            insts, unknown, _ = self._candidates(a, snap)
        except Exception as e:  # the view could not be read (API server down, ...)
            log.warning("filter %s: cluster view unavailable: %s", _pod_name(a.pod), e)
            result["Error"] = f"ecs placement: cluster state unavailable: {e}"
            self._passed(result, a, set())
            return result
        outcome = filter_instances(spec, insts)
        result["FailedNodes"] = dict(outcome.failed)
        result["FailedNodes"].update((n, "node not yet known to the ECS placement extender") for n in unknown)
        result["FailedAndUnresolvableNodes"] = outcome.unresolvable
        self._passed(result, a, set(outcome.passed))
        if outcome.passed:
            self._note_passed(a.pod)
        return result

    @staticmethod
    def _passed(result: dict, a: _Args, passed: set[str]) -> None:
        if a.nodes is not None:
            result["Nodes"] = {
                "apiVersion": "v1",
                "kind": "NodeList",
                "metadata": {},
                "items": [n for n, name in zip(a.nodes, a.names, strict=False) if name in passed],
            }
        else:
            result["NodeNames"] = [n for n in a.names if n in passed]

    def prioritize(self, args: Any) -> list[dict]:
        a = _parse_args(args)  # ArgsError -> HTTP 400
        try:
            spec = spec_from_pod(a.pod)
        except PlacementError as e:
            log.warning("prioritize %s: invalid %s", _pod_name(a.pod), e)
            return [{"Host": n, "Score": 0} for n in a.names]
        if not spec.scored:
            return [{"Host": n, "Score": 0} for n in a.names]
        self._await_inflight(a.pod)
        snap = self.view.snapshot()
        insts, _, cluster = self._candidates(a, snap)
        scores = score_instances(spec, insts, cluster.values())
        return [{"Host": n, "Score": scores.get(n, 0)} for n in a.names]


# --------------------------------------------------------------------------------------
# HTTP


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ExtenderServer

    def log_message(self, fmt: str, *args: Any) -> None:  # route through logging, quietly
        log.debug("%s " + fmt, self.address_string(), *args)

    def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path.endswith("/livez"):
            self._send(200, b"ok", "text/plain")
        elif path.endswith(("/healthz", "/readyz")):
            ready, why = self.server.readiness()
            self._send(200 if ready else 503, b"ok" if ready else f"not ready: {why}".encode(), "text/plain")
        elif path.endswith("/metrics"):
            self._send(200, self.server.metrics().encode(), "text/plain; version=0.0.4")
        else:
            self._send(404, {"Error": f"no such endpoint: GET {self.path}"})

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        verb = path.rsplit("/", 1)[-1]
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self.close_connection = True
            self._send(413 if length > MAX_BODY else 400, {"Error": "bad or missing Content-Length"})
            return
        raw = self.rfile.read(length)
        ext = self.server.extender
        if verb not in ("filter", "prioritize") and not (verb == "bind" and ext.binder is not None):
            self._send(404, {"Error": f"no such endpoint: POST {self.path}"})
            return
        try:
            args = json.loads(raw)
        except ValueError as e:
            self._send(400, {"Error": f"invalid JSON: {e}"})
            return
        started = time.perf_counter()
        try:
            if verb == "filter":
                body: Any = ext.filter(args)
            elif verb == "prioritize":
                body = ext.prioritize(args)
            else:
                body = ext.bind(args)
        except ArgsError as e:
            self._send(400, {"Error": str(e)})
            return
        except Exception as e:  # never let one request kill the thread silently
            log.exception("%s failed", verb)
            self._send(500, {"Error": f"{verb}: {e}"})
            return
        self._send(200, body)
        elapsed = time.perf_counter() - started
        self.server.latency.add(verb, elapsed)
        log.debug("%s %.2f ms", verb, elapsed * 1000)


class ExtenderServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], view: ClusterView, binder: Binder | None = None, **extender_options: Any
    ):
        self.extender = Extender(view, binder, **extender_options)
        self.latency = _Latency()
        super().__init__(address, _Handler)

    def readiness(self) -> tuple[bool, str]:
        """Ready when the view has its data (the watch cache: nodes and pods listed)."""
        view = self.extender.view
        ready = getattr(view, "ready", None)
        if ready is None or ready():
            return True, ""
        status = getattr(view, "status", None)
        return False, json.dumps(status() if status else "cluster state not synced", separators=(",", ":"))

    def metrics(self) -> str:
        """Prometheus text: call latencies per verb (a summary), the cache and bind counters."""
        out = [
            "# HELP ecs_extender_request_duration_seconds Extender call latency (handling, JSON included); "
            "quantiles over the last 10000 calls of each verb.",
            "# TYPE ecs_extender_request_duration_seconds summary",
        ]
        for verb, m in sorted(self.latency.summary().items()):
            for q, v in m["quantiles"].items():
                out.append(f'ecs_extender_request_duration_seconds{{verb="{verb}",quantile="{q}"}} {v:.6f}')
            out.append(f'ecs_extender_request_duration_seconds_sum{{verb="{verb}"}} {m["sum"]:.6f}')
            out.append(f'ecs_extender_request_duration_seconds_count{{verb="{verb}"}} {m["count"]}')
        api = self.extender.api_latency.summary()
        if api:
            out.append("# TYPE ecs_extender_api_duration_seconds summary")
        for call, m in sorted(api.items()):
            for q, v in m["quantiles"].items():
                out.append(f'ecs_extender_api_duration_seconds{{call="{call}",quantile="{q}"}} {v:.6f}')
            out.append(f'ecs_extender_api_duration_seconds_sum{{call="{call}"}} {m["sum"]:.6f}')
            out.append(f'ecs_extender_api_duration_seconds_count{{call="{call}"}} {m["count"]}')
        status = getattr(self.extender.view, "status", None)
        if status is not None:
            st = status()
            for metric, key in (
                ("synced", "synced"),
                ("events_total", "events"),
                ("relists_total", "relists"),
                ("objects", "objects"),
            ):
                out.append(f"# TYPE ecs_extender_cache_{metric} {'counter' if metric.endswith('total') else 'gauge'}")
                for res, info in sorted(st.items()):
                    out.append(f'ecs_extender_cache_{metric}{{resource="{res}"}} {int(info.get(key) or 0)}')
        c = self.extender.counters
        out += [
            "# TYPE ecs_extender_binds_total counter",
            f'ecs_extender_binds_total{{result="ok"}} {int(c["binds"] - c["bind_errors"])}',
            f'ecs_extender_binds_total{{result="error"}} {int(c["bind_errors"])}',
            "# TYPE ecs_extender_binds_assumed_total counter",
            f"ecs_extender_binds_assumed_total {int(c['binds_assumed'])}",
            "# TYPE ecs_extender_inflight_waits_total counter",
            f"ecs_extender_inflight_waits_total {int(c['inflight_waits'])}",
            "# TYPE ecs_extender_inflight_wait_seconds_total counter",
            f"ecs_extender_inflight_wait_seconds_total {c['inflight_wait_seconds']:.6f}",
            "# TYPE ecs_extender_inflight_timeouts_total counter",
            f"ecs_extender_inflight_timeouts_total {int(c['inflight_timeouts'])}",
        ]
        return "\n".join(out) + "\n"

    def get_request(self):
        sock, addr = super().get_request()
        try:  # headers and body are separate writes: without this, Nagle + delayed ACK add ~40 ms
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        return sock, addr


def make_server(
    view: ClusterView, host: str = "127.0.0.1", port: int = 8888, binder: Binder | None = None, **extender_options: Any
) -> ExtenderServer:
    """A bound server (``port=0``: any free port, see ``server.server_address``);
    call ``serve_forever()`` (e.g. in a thread) and ``shutdown()``."""
    return ExtenderServer((host, port), view, binder, **extender_options)
