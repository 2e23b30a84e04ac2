"""Coalesce bursts of "something changed" into one run per key, off kopf's worker pool.

A service's pods and workloads change many times within a second while tasks start (pod added,
scheduled, running, ready; Deployment status several times). Each change pokes the service;
the refresh runs once ``delay`` seconds after the first poke, on a small thread pool of its
own, and sees everything that happened meanwhile (it recomputes from the current state). A
poke that arrives while the refresh runs schedules one more, so no change is missed.
"""

from __future__ import annotations

import contextvars
import heapq
import logging
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)


class Coalescer:
    def __init__(
        self, fn: Callable[[Hashable], None], *, delay: float = 0.25, workers: int = 8, name: str = "coalesce"
    ):
        self._fn = fn
        self.delay = delay
        self._due: dict[Hashable, contextvars.Context] = {}
        self._heap: list[tuple[float, int, Hashable]] = []
        self._seq = 0
        self._cv = threading.Condition()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._thread: threading.Thread | None = None
        self._name = name

    def poke(self, key: Hashable, delay: float | None = None) -> None:
        """Run ``fn(key)`` once, ``delay`` (default: the coalescer's) from now, unless a run for
        ``key`` is already pending. The run sees the poker's context variables (kopf's event
        posting needs them)."""
        with self._cv:
            if key in self._due:
                return
            due = time.monotonic() + (self.delay if delay is None else delay)
            self._due[key] = contextvars.copy_context()
            self._seq += 1
            heapq.heappush(self._heap, (due, self._seq, key))
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=f"{self._name}-timer", daemon=True)
                self._thread.start()
            self._cv.notify()

    def pending(self) -> int:
        with self._cv:
            return len(self._due)

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    self._cv.wait(timeout=None if not self._heap else self._heap[0][0] - time.monotonic())
                _, _, key = heapq.heappop(self._heap)
                ctx = self._due.pop(key)  # a poke from now on schedules another run
            self._pool.submit(self._run, key, ctx)

    def _run(self, key: Hashable, ctx: contextvars.Context) -> None:
        try:
            ctx.run(self._fn, key)
        except Exception:
            log.exception("%s: run for %s failed", self._name, key)
