"""Per-object locks that do not outlive their use.

Writers of one object's status (its handler, events of its children, background refreshes)
are serialised by a re-entrant lock per object key. An entry exists only while someone holds or
waits for it, so the map does not grow with every object the operator has ever seen.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Hashable, Iterator


class KeyedLocks:
    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._entries: dict[Hashable, tuple[threading.RLock, list[int]]] = {}

    def _enter(self, key: Hashable) -> tuple[threading.RLock, list[int]]:
        with self._guard:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = (threading.RLock(), [0])
            entry[1][0] += 1
            return entry

    def _leave(self, key: Hashable, entry: tuple[threading.RLock, list[int]]) -> None:
        with self._guard:
            entry[1][0] -= 1
            if entry[1][0] == 0 and self._entries.get(key) is entry:
                del self._entries[key]

    @contextlib.contextmanager
    def hold(self, key: Hashable) -> Iterator[None]:
        """Hold ``key``'s lock for the block (waiting for it; re-entrant in one thread)."""
        entry = self._enter(key)
        try:
            with entry[0]:
                yield
        finally:
            self._leave(key, entry)

    @contextlib.contextmanager
    def try_hold(self, key: Hashable) -> Iterator[bool]:
        """Hold ``key``'s lock for the block if it is free now; yields whether it is held."""
        entry = self._enter(key)
        got = entry[0].acquire(blocking=False)
        try:
            yield got
        finally:
            if got:
                entry[0].release()
            self._leave(key, entry)

    def __len__(self) -> int:
        with self._guard:
            return len(self._entries)
