"""Giving the heap's free memory back to the system, every ``heap_trim`` seconds.

The operator decodes a stream of watch events (whole objects, a few KiB each) in one thread and
makes API calls from kopf's handler threads. glibc's malloc keeps what Python frees in the arena
of the thread that allocated it and returns pages to the system only from the top of a heap, so
under churn the process's RSS creeps up while its live objects stay flat: the soak benchmark
(bench/soak.py) measured RSS growing for an hour with no growth in objects. ``malloc_trim(0)``
releases every free page of every arena (``madvise``), which is cheap next to the interval.

On a C library without ``malloc_trim`` (musl, macOS) this does nothing.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from collections.abc import Callable

logger = logging.getLogger("ecs_operator.heap")


def _libc_trim() -> Callable[[int], int] | None:
    try:
        fn = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    fn.argtypes, fn.restype = [ctypes.c_size_t], ctypes.c_int
    return fn


def trim() -> bool:
    """Return the heap's free pages now; True when the C library released some."""
    fn = _libc_trim()
    return bool(fn(0)) if fn is not None else False


class HeapTrimmer:
    """A daemon thread that calls :func:`trim` every ``interval`` seconds while in the block."""

    def __init__(self, interval: float, release: Callable[[], bool] = trim):
        self.interval, self.release = interval, release
        self.rounds = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heap-trim", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.release()
            except Exception:  # never stops the operator: at worst RSS is what it would be without
                logger.exception("returning free heap memory failed")
            self.rounds += 1

    def __enter__(self) -> HeapTrimmer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
