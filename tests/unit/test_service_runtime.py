"""ServiceRuntime: task announcements survive a status write that failed, in order."""

from __future__ import annotations

import pytest
from ecs_operator.state.services import MAX_ANNOUNCED, ServiceRuntime


@pytest.mark.parametrize(
    ("taken", "since", "expected"),
    [
        pytest.param(([], []), [], ([], []), id="nothing"),
        pytest.param((["a"], ["b"]), [], (["a"], ["b"]), id="given-back"),
        pytest.param((["a"], []), [("c", True), ("d", False)], (["a", "c"], ["d"]), id="before-newer"),
        pytest.param(
            ([str(i) for i in range(MAX_ANNOUNCED)], []),
            [("new", True)],
            ([str(i) for i in range(1, MAX_ANNOUNCED)] + ["new"], []),
            id="bounded",
        ),
    ],
)
def test_give_back_keeps_order_and_bound(taken, since, expected) -> None:
    rt = ServiceRuntime()
    for task in taken[0]:
        rt.announce("k", task, started=True)
    for task in taken[1]:
        rt.announce("k", task, started=False)
    started, stopped = rt.take_announcements("k")
    assert (started, stopped) == taken
    for task, is_start in since:  # announced while the write ran
        rt.announce("k", task, started=is_start)
    rt.give_back("k", started, stopped)
    assert rt.take_announcements("k") == expected
    assert len(rt) == 0
