"""ServiceRuntime: task announcements survive a status write that failed, in order."""

from __future__ import annotations

import pytest
from ecs_operator.state.services import MAX_ANNOUNCED, KnownBodies, ServiceRuntime


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


def body(rv: str, events: int = 0) -> dict:
    return {"metadata": {"namespace": "ns", "name": "web", "resourceVersion": rv}, "status": {"events": [0] * events}}


@pytest.mark.parametrize(
    ("remembered", "watched", "current"),
    [
        pytest.param(None, "5", None, id="never-read"),
        pytest.param("5", None, None, id="watch-not-there-yet"),
        pytest.param("5", "5", "5", id="nobody-changed-it"),
        pytest.param("5", "4", None, id="watch-behind-our-write"),
        pytest.param("5", "6", None, id="someone-wrote-since"),
    ],
)
def test_known_body_serves_only_the_watched_version(remembered, watched, current) -> None:
    known = KnownBodies()
    if remembered:
        known.remember(body(remembered, events=1))
    if watched:
        known.watched("ns", "web", watched)
    got = known.current("ns", "web")
    assert (got and got["metadata"]["resourceVersion"]) == current
    if got:
        got["status"]["events"].append(1)  # a copy: the caller may change it
        assert known.current("ns", "web")["status"]["events"] == [0]
    known.forget("ns", "web")
    assert known.current("ns", "web") is None and len(known) == 0
