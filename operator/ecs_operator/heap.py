"""How the operator's C heap behaves: few malloc arenas, big blocks mapped apart, and the heap's
free memory given back to the system every ``heap_trim`` seconds.

The operator decodes a stream of watch events (whole objects, a few KiB each) in one thread and
makes API calls from kopf's handler threads. glibc's malloc keeps what Python frees in the arena
of the thread that allocated it and returns pages to the system only from the top of a heap, so
under churn the process's RSS creeps up while its live objects stay flat: the soak benchmark
(bench/soak.py) measured RSS growing for an hour with no growth in objects. ``malloc_trim(0)``
releases every free page of every arena (``madvise``), which is cheap next to the interval.

:func:`configure` (at start, before kopf starts its threads) sets what the soak measured as the
difference (docs/failure.md, "Soak"): at most ``ARENA_MAX`` arenas (glibc's default is 8 per core,
each keeping its own free memory) and a fixed ``MMAP_THRESHOLD`` (by default glibc raises the
threshold to the size of the largest mapped block freed so far, so after the first big list
response every later one comes from the heap and leaves holes in it). The same as
``MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072`` in the environment, which wins when set.

On a C library without ``mallopt``/``malloc_trim`` (musl, macOS) this does nothing.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
from collections.abc import Callable, Mapping

logger = logging.getLogger("ecs_operator.heap")

ARENA_MAX = 2
MMAP_THRESHOLD = 128 * 1024
# mallopt's parameter numbers (glibc's malloc.h)
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
_ENV = {_M_ARENA_MAX: "MALLOC_ARENA_MAX", _M_MMAP_THRESHOLD: "MALLOC_MMAP_THRESHOLD_"}


def _libc(name: str, argtypes: list[type]) -> Callable[..., int] | None:
    """The C library's function ``name`` returning an int (None where it has none)."""
    try:
        fn = getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):
        return None
    fn.argtypes, fn.restype = argtypes, ctypes.c_int
    return fn


def configure(env: Mapping[str, str] | None = None) -> dict[str, int]:
    """Set the arena count and the mmap threshold (each unless its environment variable is set);
    what was set."""
    env = os.environ if env is None else env
    mallopt = _libc("mallopt", [ctypes.c_int, ctypes.c_int])
    if mallopt is None:
        return {}
    done = {}
    for param, value in ((_M_ARENA_MAX, ARENA_MAX), (_M_MMAP_THRESHOLD, MMAP_THRESHOLD)):
        if not env.get(_ENV[param]) and mallopt(param, value) == 1:
            done[_ENV[param]] = value
    return done


def trim() -> bool:
    """Return the heap's free pages now; True when the C library released some."""
    fn = _libc("malloc_trim", [ctypes.c_size_t])
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
