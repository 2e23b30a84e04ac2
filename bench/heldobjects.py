"""Where the operator's memory went between two moments (``bench/soak.py --tracemalloc``).

Runs inside the operator process, from the soak's tracemalloc wrapper: :func:`note` at the end of
the warm-up, :func:`dump` after the settle. What it tells apart:

- Python objects: the count of live objects by type at both moments (gc-tracked ones), and the
  API object bodies (dicts with ``apiVersion``, ``kind``, ``metadata``) alive at the end by kind,
  with the chain of referrers that keeps the ones allocated since the warm-up;
- the allocator: glibc's ``mallinfo2`` at both moments -- ``uordblks`` is what is in use,
  ``fordblks`` what malloc holds free (fragmentation: RSS that no live object explains),
  ``arena`` and ``hblkhd`` the heap and the mmapped blocks -- and Python's allocated blocks.

The result is JSON written to a file (this runs in the operator, whose stdout is its log).
"""

from __future__ import annotations

import collections
import ctypes
import gc
import json
import os
import sys
import tracemalloc
import types
from typing import Any

DEPTH = 8
_start: dict[str, Any] = {}


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks")
    ] + [("keepcost", ctypes.c_size_t)]


def mallinfo() -> dict[str, float]:
    """glibc's view of the heap, in MiB (empty where the C library has no ``mallinfo2``)."""
    try:
        fn = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):
        return {}
    fn.restype = _MallInfo2
    info = fn()
    return {name: round(getattr(info, name) / 2**20, 2) for name in ("arena", "hblkhd", "uordblks", "fordblks")}


def _types() -> collections.Counter[str]:
    return collections.Counter(type(o).__name__ for o in gc.get_objects())


def note() -> None:
    """The first moment (the end of the warm-up)."""
    gc.collect()
    _start.update(types=_types(), malloc=mallinfo(), blocks=sys.getallocatedblocks())


def _is_body(o: object) -> bool:
    return type(o) is dict and "metadata" in o and "apiVersion" in o and "kind" in o


def describe(o: object) -> str:
    """One referrer, in a few words."""
    if isinstance(o, dict):
        if "__name__" in o and "__builtins__" in o:
            return f"module-dict {o['__name__']}"
        return "dict keys=" + ",".join(repr(k)[:40] for k in list(o)[:6]) + ("..." if len(o) > 6 else "")
    if isinstance(o, types.FrameType):
        return f"frame {o.f_code.co_name} {o.f_code.co_filename.rsplit('/', 2)[-1]}:{o.f_lineno}"
    if isinstance(o, types.FunctionType):
        return f"function {o.__module__}.{o.__qualname__}"
    if isinstance(o, (list, tuple, set, frozenset, collections.deque)):
        return f"{type(o).__name__} len={len(o)}"
    if isinstance(o, (types.ModuleType, type)):
        return f"{type(o).__name__} {getattr(o, '__qualname__', o.__name__)}"
    return f"{type(o).__module__}.{type(o).__qualname__}"


def chain(o: object, ignore: set[int]) -> list[str]:
    """Referrers from ``o`` upwards, the scan's own containers and frames left out."""
    out: list[str] = []
    seen = {id(o)}
    cur = o
    for _ in range(DEPTH):
        found = gc.get_referrers(cur)
        refs = [r for r in found if id(r) not in ignore and id(r) not in seen]
        ignore.update((id(found), id(refs)))  # the scan's own lists hold what it looks at
        if not refs:
            out.append("<no referrer>")
            break
        refs.sort(key=lambda r: isinstance(r, types.FrameType))
        nxt = refs[0]
        out.append(describe(nxt) + (f" (+{len(refs) - 1})" if len(refs) > 1 else ""))
        if isinstance(nxt, (types.ModuleType, type, types.FrameType)):
            break
        seen.add(id(nxt))
        cur = nxt
    return out


def analyse(max_chains: int = 200) -> dict[str, Any]:
    gc.collect()
    objects = gc.get_objects()
    bodies = [o for o in objects if _is_body(o)]
    tracing = tracemalloc.is_tracing()
    suspects = [b for b in bodies if tracing and tracemalloc.get_object_traceback(b) is not None]
    sample = suspects[:: max(1, len(suspects) // max_chains)][:max_chains]
    ignore = {id(objects), id(bodies), id(suspects), id(sample)}
    frame: types.FrameType | None = sys._getframe()
    while frame is not None:
        ignore.add(id(frame))
        frame = frame.f_back
    groups: collections.Counter[str] = collections.Counter()
    for b in sample:
        groups[" <- ".join(chain(b, ignore)[:5])] += 1
    now = _types()
    before = _start.get("types", collections.Counter())
    grew = {k: (before.get(k, 0), n) for k, n in now.items() if n - before.get(k, 0) > 0}
    top = sorted(grew.items(), key=lambda kv: kv[1][0] - kv[1][1])[:25]
    return {
        "malloc_mib": {"warm-up": _start.get("malloc"), "end": mallinfo()},
        "python_blocks": {"warm-up": _start.get("blocks"), "end": sys.getallocatedblocks()},
        "traced_mib": round(tracemalloc.get_traced_memory()[0] / 2**20, 2) if tracing else None,
        "objects_that_grew": {k: {"warm-up": a, "end": b} for k, (a, b) in top},
        "bodies": len(bodies),
        "bodies_by_kind": dict(collections.Counter(str(b.get("kind")) for b in bodies).most_common()),
        "bodies_since_warmup": len(suspects),
        "what_holds_them": dict(groups.most_common(15)),
    }


def dump(path: str) -> None:
    with open(path + ".tmp", "w") as f:
        json.dump(analyse(), f, indent=1, default=str)
    os.rename(path + ".tmp", path)
