"""The extender's ``/metrics``: call latencies, the cache's state and the bind counters, as
Prometheus text."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .verbs import Extender


@dataclass
class Latency:
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


def _summary(metric: str, label: str, latency: Latency) -> list[str]:
    """The samples of a Prometheus summary, one series per verb / call (``label``)."""
    out = []
    for key, m in sorted(latency.summary().items()):
        for q, v in m["quantiles"].items():
            out.append(f'{metric}{{{label}="{key}",quantile="{q}"}} {v:.6f}')
        out.append(f'{metric}_sum{{{label}="{key}"}} {m["sum"]:.6f}')
        out.append(f'{metric}_count{{{label}="{key}"}} {m["count"]}')
    return out


def _cache(status: dict) -> list[str]:
    """The watch cache's state per resource (its ``status()``)."""
    out = []
    for metric, key in (
        ("synced", "synced"),
        ("events_total", "events"),
        ("relists_total", "relists"),
        ("objects", "objects"),
    ):
        out.append(f"# TYPE ecs_extender_cache_{metric} {'counter' if metric.endswith('total') else 'gauge'}")
        for res, info in sorted(status.items()):
            out.append(f'ecs_extender_cache_{metric}{{resource="{res}"}} {int(info.get(key) or 0)}')
    return out


def _counters(c: dict[str, float]) -> list[str]:
    """The bind and in-flight counters of :class:`~.verbs.Extender`."""
    return [
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


def render(requests: Latency, extender: Extender) -> str:
    """Prometheus text: call latencies per verb (a summary; ``requests``: the HTTP calls), the
    binder's API calls, the cache (when the view has a ``status()``) and the bind counters."""
    out = [
        "# HELP ecs_extender_request_duration_seconds Extender call latency (handling, JSON included); "
        "quantiles over the last 10000 calls of each verb.",
        "# TYPE ecs_extender_request_duration_seconds summary",
        *_summary("ecs_extender_request_duration_seconds", "verb", requests),
    ]
    api = _summary("ecs_extender_api_duration_seconds", "call", extender.api_latency)
    if api:
        out.append("# TYPE ecs_extender_api_duration_seconds summary")
    out += api
    status = getattr(extender.view, "status", None)
    if status is not None:
        out += _cache(status())
    out += _counters(extender.counters)
    return "\n".join(out) + "\n"
