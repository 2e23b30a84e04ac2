"""Reading kopf's index stores from handler threads while the event loop changes them."""

from __future__ import annotations

import threading

import pytest
from ecs_operator.state.services import ServiceIndexes, snapshot


class _Changing:
    """A store whose iteration fails ``fails`` times the way a dict changed mid-iteration does."""

    def __init__(self, items: list[dict], fails: int) -> None:
        self.items, self.fails = items, fails

    def __iter__(self):
        if self.fails:
            self.fails -= 1
            raise RuntimeError("dictionary changed size during iteration")
        return iter(self.items)


@pytest.mark.parametrize(("fails", "ok"), [(0, True), (1, True), (4, True), (5, False)])
def test_snapshot_retries_a_store_changed_while_copied(fails: int, ok: bool) -> None:
    store = _Changing([{"a": 1}], fails)
    if ok:
        assert snapshot(store) == [{"a": 1}]
    else:
        with pytest.raises(RuntimeError):
            snapshot(store)


def test_objects_of_a_store_changed_by_another_thread_all_the_time() -> None:
    size = 20_000  # copying one entry at a time spans the interpreter's thread switches: it failed 31 of 50
    store: dict[int, dict] = {i: {"metadata": {"name": str(i)}} for i in range(size)}
    indexes = ServiceIndexes()
    indexes.remember({"service_pods": {("ns", "web"): store.values()}})
    stop = threading.Event()

    def churn() -> None:
        i = size
        while not stop.is_set():
            store[i] = {"metadata": {"name": str(i)}}
            store.pop(i - size, None)
            i += 1

    t = threading.Thread(target=churn)
    t.start()
    try:
        for _ in range(20):
            got = indexes.objects("Pod", "ns", "web")
            assert all(o["kind"] == "Pod" for o in got)
    finally:
        stop.set()
        t.join()
