"""plans/nodes.py: a lost container instance's tasks (table-driven, pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from ecs_operator.plans import nodes as plan

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def iso(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).isoformat().replace("+00:00", "Z")


def node(ready: str | None, since: float = 0.0, instance: str | None = None) -> dict:
    labels = {"ecs.seed.dev/instance-id": instance} if instance else {}
    conds = [] if ready is None else [{"type": "Ready", "status": ready, "lastTransitionTime": iso(since)}]
    return {"metadata": {"name": "ip-10-0-1-1", "labels": labels}, "status": {"conditions": conds}}


def pod(name: str, *, kind: str = "service", phase: str = "Running", deleting: float | None = None) -> dict:
    labels = {"ecs.seed.dev/service": "web"} if kind == "service" else {}
    if kind == "task":
        labels = {"ecs.seed.dev/task": "t"}
    md: dict = {"name": name, "namespace": "ns", "uid": f"uid-{name}", "labels": labels}
    if deleting is not None:
        md["deletionTimestamp"] = iso(-deleting)  # seconds from now (negative: in the past)
    return {"metadata": md, "status": {"phase": phase}}


REASON = "Host EC2 (instance ip-10-0-1-1) stopped/terminated"


@pytest.mark.parametrize(
    ("case", "the_node", "pods", "lost", "stop", "remove", "recheck"),
    [
        ("ready node: nothing", node("True", 999), [pod("a")], False, [], [], None),
        ("new node without Ready condition", node(None), [pod("a")], False, [], [], None),
        ("not ready for 10 s: wait 20 s more", node("False", 10), [pod("a")], False, [], [], 20.0),
        ("unknown for 29 s: wait", node("Unknown", 29), [pod("a")], False, [], [], 1.0),
        (
            "not ready 30 s: lost, tasks stop",
            node("Unknown", 30),
            [pod("a"), pod("b", kind="task")],
            True,
            ["a", "b"],
            [],
            2.0,
        ),
        (
            "only ECS task pods, not terminated ones",
            node("False", 60),
            [pod("a", kind="other"), pod("b", phase="Succeeded"), pod("c", phase="Pending")],
            True,
            ["c"],
            [],
            2.0,
        ),
        ("deleting, grace not over: wait", node("False", 60), [pod("a", deleting=1.5)], True, [], [], 2.0),
        ("deleting, grace over: removed", node("False", 60), [pod("a", deleting=-0.1)], True, [], ["a"], None),
        ("lost, nothing left", node("False", 600), [], True, [], [], None),
        ("deleted node: every task stops", None, [pod("a"), pod("b", deleting=-1)], True, ["a"], ["b"], 2.0),
        # a deleted node is never looked at again: a pod already stopping goes at once, whatever its grace
        ("deleted node: a stopping pod goes now", None, [pod("a", deleting=25)], True, [], ["a"], None),
    ],
)
def test_plan_node(case, the_node, pods, lost, stop, remove, recheck):
    got = plan.plan_node(the_node, pods, NOW, gone_instance="ip-10-0-1-1")
    assert got.lost == lost, case
    assert [r.name for r in got.stop] == stop, case
    assert [r.name for r in got.remove] == remove, case
    assert got.recheck_after == pytest.approx(recheck) if recheck is not None else got.recheck_after is None, case
    assert got.reason == (REASON if lost else None), case


def test_the_reason_names_the_instance_id_label():
    got = plan.plan_node(node("False", 31, instance="i-0abc"), [pod("a")], NOW)
    assert got.reason == "Host EC2 (instance i-0abc) stopped/terminated"
    assert got.stop == [plan.PodRef("ns", "a", "uid-a")]


def test_the_condition_carries_the_reason():
    cond = plan.disruption_condition(REASON, NOW.replace(microsecond=123))
    assert cond == {
        "type": "DisruptionTarget",
        "status": "True",
        "reason": "ContainerInstanceLost",
        "message": REASON,
        "lastTransitionTime": "2026-01-01T12:00:00Z",
    }


def test_an_unparseable_transition_time_counts_from_now():
    n = node("False")
    n["status"]["conditions"][0]["lastTransitionTime"] = "yesterday"
    assert plan.not_ready_since(n, NOW) == NOW
    assert plan.plan_node(n, [pod("a")], NOW).recheck_after == pytest.approx(30.0)


@pytest.mark.parametrize(
    ("case", "finalizers", "deleting", "left"),
    [
        ("not ours", ["other"], -1.0, None),
        ("ours, not deleting", [plan.FINALIZER], None, None),
        ("ours, grace running", [plan.FINALIZER], 1.5, 1.5),
        ("ours, grace over", ["other", plan.FINALIZER], -3.0, 0.0),
    ],
)
def test_release_in(case, finalizers, deleting, left):
    p = pod("a", deleting=deleting)
    p["metadata"]["finalizers"] = finalizers
    assert plan.release_in(p, NOW) == (pytest.approx(left) if left is not None else None), case


@pytest.mark.parametrize(
    ("case", "readiness", "disrupted"),
    [
        ("another node of the zone is Ready", {"a": ("z1", False), "b": ("z1", True)}, False),
        ("every node of the zone is down", {"a": ("z1", False), "b": ("z1", False), "c": ("z2", True)}, True),
        ("only the node itself is known", {"a": ("z1", False)}, True),
    ],
)
def test_zone_disrupted(case, readiness, disrupted):
    assert plan.zone_disrupted("z1", readiness) == disrupted, case


def test_zone_of():
    assert plan.zone_of({"metadata": {"labels": {"topology.kubernetes.io/zone": "us-east-1a"}}}) == "us-east-1a"
    assert plan.zone_of({"metadata": {}}) == ""
