"""Availability Zone rebalancing: the pure step (domain.rebalancing), which zones a task could be
placed in, and the plan with ECS's events (plans.rebalance), table-driven."""

from __future__ import annotations

from typing import Any

import pytest
from ecs_operator.domain.rebalancing import (
    Task,
    available_zones,
    healthy_floor,
    is_balanced,
    node_fits,
    plan_step,
    spreads_by_zone,
)
from ecs_operator.models.generated import CreateServiceRequest
from ecs_operator.plans.rebalance import (
    completed_message,
    in_progress,
    plan_rebalance,
    started_message,
    stopped_message,
    with_events,
)

NOW = "2026-01-01T00:00:00Z"


def tasks(**per_zone: int) -> list[Task]:
    out = []
    for zone, n in per_zone.items():
        for i in range(n):
            out.append(Task(f"{zone}{i}", f"pod-{zone}-{i}", zone.replace("_", "-"), True, f"2026-01-01T00:00:0{i}Z"))
    return out


# -- the step ---------------------------------------------------------------------------------

# (tasks per zone, available zones, desired, minimumHealthyPercent, starting) ->
# (balanced, zone of the stopped task or None, words of the blocked reason or None)
STEPS: dict[str, tuple[dict[str, int], set[str], int, int | None, int, tuple[bool, str | None, str | None]]] = {
    "balanced 2/2": ({"a": 2, "b": 2}, {"a", "b"}, 4, 50, 0, (True, None, None)),
    "balanced 2/1": ({"a": 2, "b": 1}, {"a", "b"}, 3, 50, 0, (True, None, None)),
    "one zone only": ({"a": 4}, {"a"}, 4, 50, 0, (True, None, None)),
    "no zone": ({"a": 4}, set(), 4, 50, 0, (True, None, None)),
    "zone back: stop one in the busy zone": ({"a": 4}, {"a", "b"}, 4, 50, 0, (False, "a", None)),
    "three zones: the busiest": ({"a": 1, "b": 3}, {"a", "b", "c"}, 4, 50, 0, (False, "b", None)),
    "ties: the first zone by name": ({"a": 2, "b": 2}, {"a", "b", "c", "d"}, 4, 50, 0, (False, "a", None)),
    "tasks in a zone that is gone are not counted": ({"a": 2, "x": 3}, {"a", "b"}, 5, 0, 0, (False, "a", None)),
    "100% floor: nothing can stop": (
        {"a": 4},
        {"a", "b"},
        4,
        None,
        0,
        (False, None, "below the minimumHealthyPercent"),
    ),
    "floor with room": ({"a": 4}, {"a", "b"}, 4, 75, 0, (False, "a", None)),
    "a replacement is starting": ({"a": 3}, {"a", "b"}, 4, 50, 1, (False, None, "starting")),
}


@pytest.mark.parametrize("case", sorted(STEPS))
def test_plan_step(case: str) -> None:
    per_zone, zones, desired, percent, starting, (balanced, zone, blocked) = STEPS[case]
    step = plan_step(tasks(**per_zone), zones, desired=desired, minimum_healthy_percent=percent, starting=starting)
    assert step.balanced is balanced
    assert (step.stop.zone if step.stop else None) == zone
    if blocked:
        assert blocked in (step.blocked or ""), step.blocked
    else:
        assert step.blocked is None


def test_the_newest_task_of_the_zone_is_stopped() -> None:
    step = plan_step(tasks(a=3), {"a", "b"}, desired=3, minimum_healthy_percent=0)
    assert step.stop is not None and step.stop.id == "a2"


def test_an_unhealthy_task_makes_it_wait() -> None:
    ts = tasks(a=3)
    ts[0] = Task("x", "pod-x", "a", False)
    assert "starting" in (plan_step(ts, {"a", "b"}, desired=3, minimum_healthy_percent=0).blocked or "")


@pytest.mark.parametrize(
    ("desired", "percent", "floor"), [(4, None, 4), (4, 50, 2), (3, 50, 2), (4, 75, 3), (0, 100, 0), (5, 0, 0)]
)
def test_healthy_floor_rounds_up(desired: int, percent: int | None, floor: int) -> None:
    assert healthy_floor(desired, percent) == floor


@pytest.mark.parametrize(
    ("counts", "balanced"), [({}, True), ({"a": 9}, True), ({"a": 1, "b": 0}, True), ({"a": 2, "b": 0}, False)]
)
def test_is_balanced(counts: dict[str, int], balanced: bool) -> None:
    assert is_balanced(counts) is balanced


# -- zones a task could be placed in -------------------------------------------------------


def node(name: str, zone: str | None = "a", *, ready: bool = True, labels: dict | None = None, **spec: Any) -> dict:
    lbl = dict(labels or {})
    if zone:
        lbl["topology.kubernetes.io/zone"] = zone
    return {
        "metadata": {"name": name, "labels": lbl},
        "spec": spec,
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


AFFINITY = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": "ecs.seed.dev/cluster", "operator": "In", "values": ["c1"]}]}
            ]
        }
    }
}
TAINT = {"key": "virtual-kubelet.io/provider", "value": "fargate", "effect": "NoSchedule"}

FITS: dict[str, tuple[dict, dict, bool]] = {
    "plain": (node("n"), {}, True),
    "not ready": (node("n", ready=False), {}, False),
    "cordoned": (node("n", unschedulable=True), {}, False),
    "nodeSelector matches": (node("n", labels={"pool": "x"}), {"nodeSelector": {"pool": "x"}}, True),
    "nodeSelector does not match": (node("n"), {"nodeSelector": {"pool": "x"}}, False),
    "affinity matches": (node("n", labels={"ecs.seed.dev/cluster": "c1"}), {"affinity": AFFINITY}, True),
    "affinity does not match": (node("n", labels={"ecs.seed.dev/cluster": "c2"}), {"affinity": AFFINITY}, False),
    "untolerated taint": (node("n", taints=[TAINT]), {}, False),
    "tolerated by key": (
        node("n", taints=[TAINT]),
        {"tolerations": [{"key": TAINT["key"], "operator": "Exists"}]},
        True,
    ),
    "tolerated by value": (
        node("n", taints=[TAINT]),
        {"tolerations": [{"key": TAINT["key"], "operator": "Equal", "value": "fargate", "effect": "NoSchedule"}]},
        True,
    ),
    "a PreferNoSchedule taint does not count": (node("n", taints=[{**TAINT, "effect": "PreferNoSchedule"}]), {}, True),
}


@pytest.mark.parametrize("case", sorted(FITS))
def test_node_fits(case: str) -> None:
    n, spec, fits = FITS[case]
    assert node_fits(n, spec) is fits


def test_available_zones() -> None:
    nodes = [node("a1", "a"), node("b1", "b", unschedulable=True), node("c1", "c"), node("z", None)]
    assert available_zones(nodes, {}) == {"a", "c"}


@pytest.mark.parametrize(
    ("strategies", "spreads"),
    [
        (None, True),
        ([], True),
        ([{"type": "spread", "field": "attribute:ecs.availability-zone"}], True),
        ([{"type": "spread", "field": "instanceId"}], False),
        (
            [{"type": "binpack", "field": "memory"}, {"type": "spread", "field": "attribute:ecs.availability-zone"}],
            False,
        ),
    ],
)
def test_spreads_by_zone(strategies: list | None, spreads: bool) -> None:
    assert spreads_by_zone(strategies) is spreads


# -- the plan and ECS's events ------------------------------------------------------------


def test_messages_are_worded_as_ecs_words_them() -> None:
    assert (
        started_message("web", {"us-east-1a": 4, "us-east-1b": 0})
        == "service (web) is not AZ balanced with 4 tasks in us-east-1a and 0 in us-east-1b. AZ Rebalancing in progress."
    )
    assert (
        completed_message("web", {"a": 2, "b": 1, "c": 1})
        == "service (web) is AZ balanced with 2 tasks in a, 1 tasks in b, and 1 tasks in c."
    )
    assert (
        stopped_message("web", Task("0123abcd", "p", "us-east-1a", True))
        == "web has stopped 1 running tasks in us-east-1a due to AZ rebalancing: 0123abcd."
    )


def svc(**spec: Any) -> CreateServiceRequest:
    return CreateServiceRequest.model_validate({"taskDefinition": "td", "desiredCount": 4, **spec})


HALF = {"deploymentConfiguration": {"minimumHealthyPercent": 50}}
STARTED = {"message": started_message("web", {"a": 4, "b": 0})}
COMPLETED = {"message": completed_message("web", {"a": 2, "b": 2})}
OTHER = {"message": "(service web) has reached a steady state."}

# (service spec, status, tasks per zone, zones) -> (stops a task, event kinds posted, why-not words)
PLANS: dict[str, tuple[dict, dict, dict[str, int], set[str], tuple[bool, list[str], str | None]]] = {
    "zone back: started and a task stopped": (HALF, {}, {"a": 4}, {"a", "b"}, (True, ["started", "stopped"], None)),
    "in progress: only the stop": (
        HALF,
        {"events": [OTHER, STARTED]},
        {"a": 3, "b": 1},
        {"a", "b"},
        (True, ["stopped"], None),
    ),
    "balanced after a rebalancing: completed": (
        HALF,
        {"events": [STARTED, OTHER]},
        {"a": 2, "b": 2},
        {"a", "b"},
        (False, ["completed"], None),
    ),
    "balanced, nothing in progress: nothing": (
        HALF,
        {"events": [COMPLETED, STARTED]},
        {"a": 2, "b": 2},
        {"a", "b"},
        (False, [], None),
    ),
    "disabled": (
        {**HALF, "availabilityZoneRebalancing": "DISABLED"},
        {},
        {"a": 4},
        {"a", "b"},
        (False, [], "DISABLED"),
    ),
    "daemon": ({"schedulingStrategy": "DAEMON"}, {}, {"a": 4}, {"a", "b"}, (False, [], "DAEMON")),
    "binpack": (
        {**HALF, "placementStrategy": [{"type": "binpack", "field": "memory"}]},
        {},
        {"a": 4},
        {"a", "b"},
        (False, [], "placement strategy"),
    ),
    "deploying": (HALF, {"rolloutState": "IN_PROGRESS"}, {"a": 4}, {"a", "b"}, (False, [], "deployment")),
    "floor: no event": ({}, {}, {"a": 4}, {"a", "b"}, (False, [], "minimumHealthyPercent")),
}


def test_a_capacity_provider_split_is_left_alone() -> None:
    p = plan_rebalance(
        svc(**HALF), service="web", status={}, tasks=tasks(a=4), zones={"a", "b"}, starting=0, now=NOW, placements=2
    )
    assert p.stop is None and not p.events and "capacity provider" in (p.why_not or "")


@pytest.mark.parametrize("case", sorted(PLANS))
def test_plan_rebalance(case: str) -> None:
    spec, status, per_zone, zones, (stops, kinds, why) = PLANS[case]
    p = plan_rebalance(
        svc(**spec), service="web", status=status, tasks=tasks(**per_zone), zones=zones, starting=0, now=NOW
    )
    assert (p.stop is not None) is stops
    got = []
    for e in p.events:
        m = e["message"]
        got.append("started" if "is not AZ balanced" in m else "completed" if "is AZ balanced" in m else "stopped")
        assert e["createdAt"] == NOW and e["id"]
    assert got == kinds
    if why:
        assert why in (p.why_not or ""), p.why_not


def test_in_progress_reads_the_newest_rebalancing_event() -> None:
    assert in_progress([OTHER, STARTED, COMPLETED], "web")
    assert not in_progress([COMPLETED, STARTED], "web")
    assert not in_progress([STARTED], "other")
    assert not in_progress([], "web")


def test_with_events_prepends_newest_first_and_keeps_100() -> None:
    existing = [{"id": str(i), "message": "x"} for i in range(100)]
    out = with_events(existing, [{"id": "n1"}, {"id": "n2"}])
    assert [e["id"] for e in out[:3]] == ["n2", "n1", "0"] and len(out) == 100
