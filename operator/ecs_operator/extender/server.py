"""The HTTP side of the kube-scheduler extender protocol (k8s.io/kube-scheduler/extender/v1).

``POST <prefix>/filter`` takes ``ExtenderArgs`` -- ``{"Pod": {...}, "Nodes": {"items": [...]}}``
when the scheduler's extender config has ``nodeCacheCapable: false``, or
``{"Pod": {...}, "NodeNames": [...]}`` when it is true -- and answers ``ExtenderFilterResult``
``{"Nodes" | "NodeNames", "FailedNodes", "FailedAndUnresolvableNodes", "Error"}`` in the same
form. ``POST <prefix>/prioritize`` takes the same arguments and answers a
``HostPriorityList`` ``[{"Host": name, "Score": 0..10}]``. The Go types have no JSON tags,
so the scheduler sends capitalised keys; keys are accepted case-insensitively.
``GET /healthz`` answers ``ok``.

Cluster state comes from a :class:`ClusterView`: :class:`InMemoryClusterView` keeps nodes and
pods and rebuilds only the container instances an update touched (a watch-based cache feeds
it with ``upsert_*``/``delete_*``); :class:`ListingClusterView` lists nodes and pods through a
function (``ecs_operator.k8s.list_``) at most once per ``ttl`` seconds -- a stop-gap until the
watch cache exists.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable, Mapping, Protocol

from . import model
from .model import ContainerInstance
from .placement import PlacementError, filter_instances, score_instances, spec_from_pod

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
        return model.build_instance(node, self.pods_by_node.get(name, ()))


class ClusterView(Protocol):
    def snapshot(self) -> Snapshot: ...


def _pod_key(pod: dict) -> tuple[str, str]:
    md = pod.get("metadata") or {}
    return md.get("namespace") or "", md.get("name") or md.get("uid") or ""


class InMemoryClusterView:
    """Nodes and pods held in memory; snapshots are rebuilt incrementally (only the nodes an
    update touched). Thread-safe. The future watch cache calls the upsert/delete methods."""

    def __init__(self, nodes: Iterable[dict] = (), pods: Iterable[dict] = ()):
        self._lock = threading.Lock()
        self._nodes: dict[str, dict] = {}
        self._pods: dict[tuple[str, str], dict] = {}
        self._pod_node: dict[tuple[str, str], str] = {}
        self._by_node: dict[str, dict[tuple[str, str], dict]] = {}
        self._instances: dict[str, ContainerInstance] = {}
        self._dirty: set[str] = set()
        self._snapshot: Snapshot | None = None
        self.replace(nodes, pods)

    def replace(self, nodes: Iterable[dict], pods: Iterable[dict]) -> None:
        with self._lock:
            self._nodes = {(n.get("metadata") or {}).get("name"): n for n in nodes}
            self._pods, self._pod_node, self._by_node = {}, {}, {}
            for p in pods:
                self._put_pod(p)
            self._instances = {}
            self._dirty = set(self._nodes)
            self._snapshot = None

    def _put_pod(self, pod: dict) -> None:
        key = _pod_key(pod)
        old = self._pod_node.pop(key, None)
        if old is not None:
            self._by_node.get(old, {}).pop(key, None)
            self._dirty.add(old)
        self._pods.pop(key, None)
        node = (pod.get("spec") or {}).get("nodeName")
        if model.is_terminated(pod):
            return
        self._pods[key] = pod
        if node:
            self._pod_node[key] = node
            self._by_node.setdefault(node, {})[key] = pod
            self._dirty.add(node)

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

    def upsert_pod(self, pod: dict) -> None:
        with self._lock:
            self._put_pod(pod)
            self._snapshot = None

    def delete_pod(self, namespace: str, name: str) -> None:
        with self._lock:
            key = (namespace, name)
            node = self._pod_node.pop(key, None)
            self._pods.pop(key, None)
            if node is not None:
                self._by_node.get(node, {}).pop(key, None)
                self._dirty.add(node)
            self._snapshot = None

    def snapshot(self) -> Snapshot:
        with self._lock:
            if self._snapshot is None:
                for name in self._dirty:
                    node = self._nodes.get(name)
                    if node is None:
                        self._instances.pop(name, None)
                    else:
                        self._instances[name] = model.build_instance(node, self._by_node.get(name, {}).values())
                self._dirty.clear()
                self._snapshot = Snapshot(dict(self._instances),
                                          {n: list(p.values()) for n, p in self._by_node.items() if p})
            return self._snapshot


class ListingClusterView:
    """Lists nodes and pods (``list_fn(api_version, kind, namespace)``) at most every ``ttl``
    seconds. TODO: replace with a watch-based cache feeding :class:`InMemoryClusterView`."""

    def __init__(self, list_fn: Callable[..., list[dict]], ttl: float = 1.0):
        self._list = list_fn
        self._ttl = ttl
        self._lock = threading.Lock()
        self._at = float("-inf")
        self._view = InMemoryClusterView()

    def snapshot(self) -> Snapshot:
        with self._lock:
            if time.monotonic() - self._at >= self._ttl:
                nodes = self._list("v1", "Node", None)
                pods = self._list("v1", "Pod", None,
                                  field_selector="status.phase!=Succeeded,status.phase!=Failed")
                self._view.replace(nodes, pods)
                self._at = time.monotonic()
            return self._view.snapshot()


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
    nodes: list[dict] | None      # the Nodes form
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


class Extender:
    """Filter and prioritize on decoded JSON; the HTTP handler is a thin layer over this."""

    def __init__(self, view: ClusterView):
        self.view = view

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
            return {"Nodes": None, "NodeNames": None, "FailedNodes": {}, "FailedAndUnresolvableNodes": {},
                    "Error": str(e)}
        result: dict[str, Any] = {"Nodes": None, "NodeNames": None, "FailedNodes": {},
                                  "FailedAndUnresolvableNodes": {}, "Error": ""}
        try:
            spec = spec_from_pod(a.pod)
        except PlacementError as e:
            msg = f"pod {_pod_name(a.pod)}: invalid {e}"
            result["FailedAndUnresolvableNodes"] = {n: msg for n in a.names}
            result["Error"] = msg
            self._passed(result, a, set())
            return result
        if not spec.managed:
            self._passed(result, a, set(a.names))
            return result
        try:
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
        return result

    @staticmethod
    def _passed(result: dict, a: _Args, passed: set[str]) -> None:
        if a.nodes is not None:
            result["Nodes"] = {"apiVersion": "v1", "kind": "NodeList", "metadata": {},
                               "items": [n for n, name in zip(a.nodes, a.names) if name in passed]}
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
        snap = self.view.snapshot()
        insts, _, cluster = self._candidates(a, snap)
        scores = score_instances(spec, insts, cluster.values())
        return [{"Host": n, "Score": scores.get(n, 0)} for n in a.names]


# --------------------------------------------------------------------------------------
# HTTP


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "ExtenderServer"

    def log_message(self, fmt: str, *args: Any) -> None:  # route through logging, quietly
        log.debug("%s " + fmt, self.address_string(), *args)

    def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0].rstrip("/")
        if path.endswith("/healthz") or path.endswith("/readyz") or path.endswith("/livez"):
            self._send(200, b"ok", "text/plain")
        else:
            self._send(404, {"Error": f"no such endpoint: GET {self.path}"})

    def do_POST(self) -> None:  # noqa: N802
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
        if verb not in ("filter", "prioritize"):
            self._send(404, {"Error": f"no such endpoint: POST {self.path}"})
            return
        try:
            args = json.loads(raw)
        except ValueError as e:
            self._send(400, {"Error": f"invalid JSON: {e}"})
            return
        ext = self.server.extender
        started = time.perf_counter()
        try:
            if verb == "filter":
                body: Any = ext.filter(args)
            else:
                body = ext.prioritize(args)
        except ArgsError as e:
            self._send(400, {"Error": str(e)})
            return
        except Exception as e:  # never let one request kill the thread silently
            log.exception("%s failed", verb)
            self._send(500, {"Error": f"{verb}: {e}"})
            return
        log.debug("%s %.2f ms", verb, (time.perf_counter() - started) * 1000)
        self._send(200, body)


class ExtenderServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], view: ClusterView):
        self.extender = Extender(view)
        super().__init__(address, _Handler)

    def get_request(self):
        sock, addr = super().get_request()
        try:  # headers and body are separate writes: without this, Nagle + delayed ACK add ~40 ms
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        return sock, addr


def make_server(view: ClusterView, host: str = "127.0.0.1", port: int = 8888) -> ExtenderServer:
    """A bound server (``port=0``: any free port, see ``server.server_address``);
    call ``serve_forever()`` (e.g. in a thread) and ``shutdown()``."""
    return ExtenderServer((host, port), view)


def serve(view: ClusterView, host: str = "0.0.0.0", port: int = 8888) -> int:
    srv = make_server(view, host, port)
    log.info("ECS placement extender listening on %s:%d", *srv.server_address[:2])
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()
    return 0
