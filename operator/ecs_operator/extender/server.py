"""The extender's HTTP server: the kube-scheduler extender protocol over HTTP.

``POST <prefix>/filter`` and ``POST <prefix>/prioritize`` take ``ExtenderArgs``; ``POST
<prefix>/bind`` (served when a binder is given) takes ``ExtenderBindingArgs`` (the JSON
shapes: :mod:`.protocol`; the verbs: :class:`~.verbs.Extender`). A malformed request answers
400, an unexpected error 500 (the thread goes on). ``GET /livez`` answers ``ok``;
``/readyz`` and ``/healthz`` answer ``ok`` once the view has its data (503 before);
``/metrics`` is Prometheus text (call latencies, cache and bind counters: :mod:`.metrics`).

Cluster state comes from a :class:`~.view.ClusterView`: the watch cache (:mod:`.cache`) in
the extender, an :class:`~.view.InMemoryClusterView` in tests. The request path never calls
the API server (``bind`` does, by definition, after recording the pod in the view).
"""

from __future__ import annotations

import json
import logging
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .metrics import Latency, render
from .protocol import ArgsError
from .verbs import Binder, Extender
from .view import ClusterView

log = logging.getLogger("ecs_operator.extender")

MAX_BODY = 256 * 1024 * 1024


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ExtenderServer
    # A buffered response: headers and body leave in one write when the handler flushes (the
    # default, unbuffered, makes two, and each blocking write hands the GIL back and waits for it
    # again behind the other requests' and the watch's threads).
    wbufsize = 1 << 18

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
        self.latency = Latency()
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
        return render(self.latency, self.extender)

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
