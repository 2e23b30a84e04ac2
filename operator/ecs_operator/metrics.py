"""The operator's metrics, as Prometheus text (exposition format 0.0.4), without a client library.

A :class:`Registry` holds counters, gauges and histograms, each with a fixed set of label names;
every update takes the metric's own lock, so handler threads, the refresh pool and the scrape
may touch them at once. :meth:`Registry.render` writes the text format (``# HELP``, ``# TYPE``,
histograms as cumulative ``_bucket{le=...}`` series with ``_sum`` and ``_count``).

The operator's own metrics are defined once, at the end of this module (``REGISTRY``);
docs/metrics.md lists them. :func:`serve` answers ``GET /metrics`` from a stdlib HTTP server
thread (``ecs-operator run --metrics-port``).
"""

from __future__ import annotations

import functools
import math
import re
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Upper bounds in seconds, 1 ms .. 60 s (a reconcile, an API call with its 60 s timeout).
DEFAULT_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")

Labels = tuple[str, ...]


def format_value(value: float) -> str:
    """A sample value: integers without a fraction, ``+Inf``/``-Inf``/``NaN`` as Prometheus spells them."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _series(names: Labels, values: Labels, extra: str = "") -> str:
    pairs = [f'{n}="{escape_label(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        pairs.append(extra)
    return "{" + ",".join(pairs) + "}" if pairs else ""


class _Metric:
    kind = ""

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()):
        if not _NAME.match(name):
            raise ValueError(f"invalid metric name {name!r}")
        for label in labels:
            if not _LABEL.match(label) or label.startswith("__"):
                raise ValueError(f"{name}: invalid label name {label!r}")
        if len(set(labels)) != len(labels):
            raise ValueError(f"{name}: repeated label names {list(labels)}")
        self.name = name
        self.help = help
        self.label_names: Labels = tuple(labels)
        self._lock = threading.Lock()

    def _key(self, labels: dict[str, Any]) -> Labels:
        if set(labels) != set(self.label_names):
            raise ValueError(f"{self.name}: labels {sorted(labels)} given, {sorted(self.label_names)} expected")
        return tuple(str(labels[n]) for n in self.label_names)

    def samples(self) -> Iterator[str]:
        raise NotImplementedError

    def render(self) -> list[str]:
        return [f"# HELP {self.name} {escape_help(self.help)}", f"# TYPE {self.name} {self.kind}", *self.samples()]


class Counter(_Metric):
    """A value that only goes up (since the process started)."""

    kind = "counter"

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()):
        super().__init__(name, help, labels)
        self._values: dict[Labels, float] = {}

    def inc(self, amount: float = 1, **labels: Any) -> None:
        if amount < 0:
            raise ValueError(f"{self.name}: a counter cannot go down ({amount})")
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0) + amount

    def value(self, **labels: Any) -> float:
        with self._lock:
            return self._values.get(self._key(labels), 0)

    def samples(self) -> Iterator[str]:
        with self._lock:
            items = sorted(self._values.items())
        for key, value in items:
            yield f"{self.name}{_series(self.label_names, key)} {format_value(value)}"


class Gauge(_Metric):
    """A value that goes up and down; or a function read at each scrape (:meth:`set_function`)."""

    kind = "gauge"

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()):
        super().__init__(name, help, labels)
        self._values: dict[Labels, float] = {}
        self._functions: dict[Labels, Callable[[], float]] = {}

    def set(self, value: float, **labels: Any) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = value

    def inc(self, amount: float = 1, **labels: Any) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0) + amount

    def dec(self, amount: float = 1, **labels: Any) -> None:
        self.inc(-amount, **labels)

    def set_function(self, fn: Callable[[], float], **labels: Any) -> None:
        """Read ``fn()`` at every scrape (a series whose function fails is left out of that scrape)."""
        key = self._key(labels)
        with self._lock:
            self._functions[key] = fn

    def value(self, **labels: Any) -> float:
        key = self._key(labels)
        with self._lock:
            fn = self._functions.get(key)
            value = self._values.get(key, 0)
        return fn() if fn is not None else value

    def samples(self) -> Iterator[str]:
        with self._lock:
            values = dict(self._values)
            functions = dict(self._functions)
        for key, fn in functions.items():
            try:
                values[key] = fn()
            except Exception:  # a broken reading must not break the scrape
                values.pop(key, None)
        for key, value in sorted(values.items()):
            yield f"{self.name}{_series(self.label_names, key)} {format_value(value)}"


class Histogram(_Metric):
    """Observations counted into buckets (``le``: upper bound, cumulative as rendered), with
    their sum and count."""

    kind = "histogram"

    def __init__(self, name: str, help: str, labels: Sequence[str] = (), buckets: Iterable[float] = DEFAULT_BUCKETS):
        super().__init__(name, help, labels)
        if "le" in self.label_names:
            raise ValueError(f"{name}: 'le' is the bucket label of a histogram")
        bounds = sorted(float(b) for b in buckets if not math.isinf(b))
        if not bounds or len(set(bounds)) != len(bounds):
            raise ValueError(f"{name}: buckets must be distinct, at least one finite bound")
        self.buckets: tuple[float, ...] = tuple(bounds)
        # per series: a count per bucket (the last one: above every bound), then the sum
        self._series: dict[Labels, tuple[list[int], list[float]]] = {}

    def observe(self, value: float, **labels: Any) -> None:
        key = self._key(labels)
        i = bisect_left(self.buckets, value)  # the first bound >= value (le is inclusive)
        with self._lock:
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = ([0] * (len(self.buckets) + 1), [0.0])
            series[0][i] += 1
            series[1][0] += value

    def count(self, **labels: Any) -> int:
        with self._lock:
            series = self._series.get(self._key(labels))
            return sum(series[0]) if series else 0

    def samples(self) -> Iterator[str]:
        with self._lock:
            items = sorted((k, (list(c), s[0])) for k, (c, s) in self._series.items())
        bounds = [format_value(b) for b in self.buckets] + ["+Inf"]
        for key, (counts, total) in items:
            cumulative = 0
            for bound, n in zip(bounds, counts, strict=True):
                cumulative += n
                le = 'le="' + bound + '"'
                yield f"{self.name}_bucket{_series(self.label_names, key, le)} {cumulative}"
            yield f"{self.name}_sum{_series(self.label_names, key)} {format_value(total)}"
            yield f"{self.name}_count{_series(self.label_names, key)} {cumulative}"


M = TypeVar("M", bound=_Metric)


class Registry:
    """The metrics one process exposes, rendered in the order they were registered."""

    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}
        self._lock = threading.Lock()

    def register(self, metric: M) -> M:
        with self._lock:
            if metric.name in self._metrics:
                raise ValueError(f"metric {metric.name} is already registered")
            self._metrics[metric.name] = metric
        return metric

    def counter(self, name: str, help: str, labels: Sequence[str] = ()) -> Counter:
        return self.register(Counter(name, help, labels))

    def gauge(self, name: str, help: str, labels: Sequence[str] = ()) -> Gauge:
        return self.register(Gauge(name, help, labels))

    def histogram(
        self, name: str, help: str, labels: Sequence[str] = (), buckets: Iterable[float] = DEFAULT_BUCKETS
    ) -> Histogram:
        return self.register(Histogram(name, help, labels, buckets))

    def render(self) -> str:
        with self._lock:
            metrics = list(self._metrics.values())
        lines: list[str] = []
        for metric in metrics:
            lines += metric.render()
        return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------
# The operator's metrics (docs/metrics.md)
# ------------------------------------------------------------------------------------------

REGISTRY = Registry()

RECONCILE_DURATION = REGISTRY.histogram(
    "ecs_operator_reconcile_duration_seconds",
    "Time a handler took, per kind of object, handler and outcome (error: it raised, kopf retries).",
    ("kind", "handler", "outcome"),
)
RECONCILE_IN_PROGRESS = REGISTRY.gauge(
    "ecs_operator_reconcile_in_progress", "Handlers running now, per kind of object.", ("kind",)
)
REFRESH_QUEUE_DEPTH = REGISTRY.gauge(
    "ecs_operator_refresh_queue_depth", "ECSService status refreshes waiting to run (coalesced, one per service)."
)
HANDLER_QUEUE_DEPTH = REGISTRY.gauge(
    "ecs_operator_handler_queue_depth", "Handler calls waiting for a thread of kopf's executor."
)
API_REQUESTS = REGISTRY.counter(
    "ecs_operator_api_requests_total",
    "Kubernetes API requests the operator made, per verb and HTTP status code (<error>: no answer).",
    ("verb", "code"),
)
API_DURATION = REGISTRY.histogram(
    "ecs_operator_api_request_duration_seconds", "Kubernetes API request latency per verb.", ("verb",)
)
LEADER = REGISTRY.gauge(
    "ecs_operator_leader",
    "1 while this process reconciles (it holds the leader Lease, or runs without leader election), 0 while standby.",
)

F = TypeVar("F", bound=Callable[..., Any])


def reconciled(kind: str, handler: str | None = None) -> Callable[[F], F]:
    """Time each call of the decorated handler into ``ecs_operator_reconcile_duration_seconds``
    (``handler``: its function's name unless given). Apply it below kopf's decorators, so kopf
    registers the timed function (kopf keeps the handler's id: it follows ``__wrapped__``)."""

    def decorate(fn: F) -> F:
        name = handler or fn.__name__

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            RECONCILE_IN_PROGRESS.inc(kind=kind)
            outcome = "error"
            start = time.perf_counter()
            try:
                result = fn(*args, **kwargs)
                outcome = "success"
                return result
            finally:
                RECONCILE_DURATION.observe(time.perf_counter() - start, kind=kind, handler=name, outcome=outcome)
                RECONCILE_IN_PROGRESS.dec(kind=kind)

        return timed  # type: ignore[return-value]

    return decorate


def api_request(verb: str, code: str, seconds: float) -> None:
    """Count one Kubernetes API request (k8s/ calls this for every request it sends)."""
    API_REQUESTS.inc(verb=verb, code=code)
    API_DURATION.observe(seconds, verb=verb)


# ------------------------------------------------------------------------------------------
# Serving
# ------------------------------------------------------------------------------------------


class MetricsServer:
    """``GET /metrics`` (the registry's text) on ``address:port``, from a daemon thread."""

    def __init__(self, port: int, address: str = "0.0.0.0", registry: Registry = REGISTRY):
        self._server = ThreadingHTTPServer((address, port), _handler(registry))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics-http", daemon=True)

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def __enter__(self) -> MetricsServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()


def _handler(registry: Registry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/metrics":
                self.send_error(404)
                return
            body = registry.render().encode()
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # scrapes are not worth a log line
            pass

    return Handler
