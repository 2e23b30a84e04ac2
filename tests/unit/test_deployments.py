"""The BLUE_GREEN / LINEAR / CANARY deployment state machine (ecs_operator.domain.deployments): the
checkpoint programs, whole runs against tasks that follow the desired counts, rollbacks, hooks,
stops. Table-driven; time is a number passed in."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from ecs_operator.domain import deployments as dep
from ecs_operator.models.generated import DeploymentConfiguration


def dc(**kw: Any) -> DeploymentConfiguration:
    return DeploymentConfiguration.model_validate(kw)


def shifts(cfg: DeploymentConfiguration) -> list[tuple[str, float]]:
    return [(c.kind, c.arg) for c in dep.program(cfg) if c.stage == "PRODUCTION_TRAFFIC_SHIFT"]


@pytest.mark.parametrize(
    ("cfg", "expected"),
    [
        (dc(strategy="BLUE_GREEN", bakeTimeInMinutes=5), [("shift", 100.0)]),
        (
            dc(strategy="CANARY", canaryConfiguration={"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 3}),
            [("shift", 10.0), ("wait", 3.0), ("shift", 100.0)],
        ),
        (dc(strategy="CANARY"), [("shift", 5.0), ("wait", 10.0), ("shift", 100.0)]),
        (dc(strategy="CANARY", canaryConfiguration={"canaryPercent": 100.0}), [("shift", 100.0)]),
        (
            dc(strategy="LINEAR", linearConfiguration={"stepPercent": 30.0, "stepBakeTimeInMinutes": 2}),
            [("shift", 30.0), ("wait", 2.0), ("shift", 60.0), ("wait", 2.0), ("shift", 90.0), ("wait", 2.0)]
            + [("shift", 100.0)],
        ),
        (
            dc(strategy="LINEAR", linearConfiguration={"stepPercent": 50.0, "stepBakeTimeInMinutes": 0}),
            [("shift", 50.0), ("wait", 0.0), ("shift", 100.0)],
        ),
        (
            dc(strategy="LINEAR"),
            [x for i in range(1, 10) for x in (("shift", 10.0 * i), ("wait", 6.0))] + [("shift", 100.0)],
        ),
    ],
    ids=["blue-green", "canary", "canary-defaults", "canary-100", "linear-30", "linear-50", "linear-defaults"],
)
def test_production_shifts(cfg, expected):
    assert shifts(cfg) == expected


def test_program_stages_in_ecs_order_with_hooks():
    cfg = dc(
        strategy="BLUE_GREEN",
        lifecycleHooks=[
            {"targetType": "PAUSE", "lifecycleStages": ["POST_SCALE_UP", "PRE_PRODUCTION_TRAFFIC_SHIFT"]},
            {"targetType": "PAUSE", "lifecycleStages": ["RECONCILE_SERVICE"]},
        ],
    )
    got = [(c.stage, c.kind, c.hook_stage) for c in dep.program(cfg)]
    assert got == [
        ("RECONCILE_SERVICE", "hook", "RECONCILE_SERVICE"),
        ("SCALE_UP", "scale", ""),
        ("POST_SCALE_UP", "hook", "POST_SCALE_UP"),
        ("TEST_TRAFFIC_SHIFT", "test", ""),
        ("PRODUCTION_TRAFFIC_SHIFT", "hook", "PRE_PRODUCTION_TRAFFIC_SHIFT"),
        ("PRODUCTION_TRAFFIC_SHIFT", "shift", ""),
        ("BAKE_TIME", "wait", ""),
        ("CLEAN_UP", "cleanup", ""),
    ]
    stages = [c.stage for c in dep.program(cfg)]
    assert [s for s in dep.STAGES if s in stages] == list(dict.fromkeys(stages))


MINUTE = dep.Settings(minute_seconds=60.0)


def simulate(
    cfg: DeploymentConfiguration,
    *,
    desired: int = 3,
    tick: float = 30.0,
    requests: dict[int, dep.Requests] | None = None,
    failing_green: bool = False,
    has_source: bool = True,
    settings: dep.Settings = MINUTE,
    max_steps: int = 200,
) -> list[dep.Step]:
    """Run the machine: every step, the tasks are what the previous step asked for (instantly
    ready, or green failing); ``requests`` by step index (kept from then on)."""
    state = dep.State()
    blue = desired if has_source else 0
    green = 0
    now = 1000.0
    req = dep.Requests()
    out = []
    for i in range(max_steps):
        req = (requests or {}).get(i, req)
        health = dep.Health(
            desired=desired,
            green_running=0 if failing_green else green,
            green_pending=green if failing_green else 0,
            green_failed=green * 2 if failing_green else 0,
            blue_running=blue,
            has_source=has_source,
        )
        step = dep.advance(state, cfg, health, req, now, settings)
        out.append(step)
        state = step.state
        green = step.green_count
        blue = blue if step.blue_count is None else step.blue_count
        if state.status in dep.FINAL and i > 0 and out[-2].state.status == state.status:
            break
        now += tick
    return out


def trace(steps: list[dep.Step]) -> list[tuple[str, str, int, int]]:
    """(status, stage, production, test), consecutive duplicates dropped."""
    out: list[tuple[str, str, int, int]] = []
    for s in steps:
        row = (s.state.status, s.state.stage, s.production, s.test)
        if not out or out[-1] != row:
            out.append(row)
    return out


@pytest.mark.parametrize(
    ("cfg", "expected"),
    [
        (
            dc(strategy="BLUE_GREEN", bakeTimeInMinutes=1),
            [
                ("IN_PROGRESS", "SCALE_UP", 0, 0),
                ("IN_PROGRESS", "BAKE_TIME", 100, 100),
                ("IN_PROGRESS", "CLEAN_UP", 100, 100),
                ("SUCCESSFUL", "CLEAN_UP", 100, 100),
            ],
        ),
        (
            dc(
                strategy="CANARY",
                bakeTimeInMinutes=0,
                canaryConfiguration={"canaryPercent": 20.0, "canaryBakeTimeInMinutes": 2},
            ),
            [
                ("IN_PROGRESS", "SCALE_UP", 0, 0),
                ("IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT", 20, 100),
                ("IN_PROGRESS", "CLEAN_UP", 100, 100),
                ("SUCCESSFUL", "CLEAN_UP", 100, 100),
            ],
        ),
        (
            dc(strategy="LINEAR", linearConfiguration={"stepPercent": 40.0, "stepBakeTimeInMinutes": 1}),
            [
                ("IN_PROGRESS", "SCALE_UP", 0, 0),
                ("IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT", 40, 100),
                ("IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT", 80, 100),
                ("IN_PROGRESS", "CLEAN_UP", 100, 100),
                ("SUCCESSFUL", "CLEAN_UP", 100, 100),
            ],
        ),
    ],
    ids=["blue-green", "canary", "linear"],
)
def test_whole_runs(cfg, expected):
    steps = simulate(cfg)
    assert trace(steps) == expected
    # green is at full size from SCALE_UP on; blue keeps its size until CLEAN_UP
    for s in steps:
        if s.state.stage not in ("RECONCILE_SERVICE", "PRE_SCALE_UP"):
            assert s.green_count == 3
        if s.state.stage != "CLEAN_UP":
            assert s.blue_count is None
    assert steps[-1].blue_count == 0
    assert "deployment completed" in [e for s in steps for e in s.events]


def test_bake_time_wakes_up_when_it_ends():
    steps = simulate(dc(strategy="BLUE_GREEN", bakeTimeInMinutes=2), tick=45.0)
    baking = [s for s in steps if s.state.stage == "BAKE_TIME"]
    assert baking and all(s.wake_at == baking[0].state.entered_at + 120 for s in baking)


def test_minute_seconds_scales_bake_times():
    fast = simulate(
        dc(strategy="BLUE_GREEN", bakeTimeInMinutes=10), tick=1.0, settings=dep.Settings(minute_seconds=0.5)
    )
    assert fast[-1].state.status == "SUCCESSFUL"
    assert len(fast) < 20


@pytest.mark.parametrize("at", [0, 2, 3], ids=["at-once", "during-canary", "later"])
def test_stop_rollback_part_way(at):
    cfg = dc(strategy="CANARY", canaryConfiguration={"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 5})
    steps = simulate(cfg, requests={at: dep.Requests(stop="ROLLBACK")})
    statuses = [s.state.status for s in steps]
    assert "ROLLBACK_IN_PROGRESS" in statuses or at == 0  # nothing of green ran yet: rolled back at once
    last = steps[-1]
    assert last.state.status == "ROLLBACK_SUCCESSFUL"
    assert (last.green_count, last.blue_count, last.production, last.test) == (0, 3, 0, 0)


def test_stop_abort_keeps_what_runs():
    cfg = dc(strategy="CANARY", canaryConfiguration={"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 5})
    steps = simulate(cfg, requests={3: dep.Requests(stop="ABORT")})
    last = steps[-1]
    assert last.state.status == "STOPPED"
    assert (last.green_count, last.blue_count) == (3, None)
    assert last.state.stage == "PRODUCTION_TRAFFIC_SHIFT"


def test_rollback_of_a_first_deployment_fails():
    steps = simulate(dc(strategy="BLUE_GREEN"), has_source=False, requests={0: dep.Requests(stop="ROLLBACK")})
    assert steps[-1].state.status == "ROLLBACK_FAILED"
    assert "no earlier service revision" in steps[-1].state.reason


def test_first_deployment_without_source_succeeds_without_bake_times():
    cfg = dc(strategy="CANARY", bakeTimeInMinutes=60, canaryConfiguration={"canaryBakeTimeInMinutes": 600})
    steps = simulate(cfg, has_source=False, tick=1.0)
    assert steps[-1].state.status == "SUCCESSFUL"
    assert len(steps) <= 4  # no wait: nothing to compare with or to return to


@pytest.mark.parametrize(
    ("rollback", "status"), [(True, "ROLLBACK_SUCCESSFUL"), (False, "STOPPED")], ids=["rollback", "no-rollback"]
)
def test_circuit_breaker(rollback, status):
    steps = simulate(
        dc(strategy="BLUE_GREEN"),
        failing_green=True,
        settings=dep.Settings(circuit_breaker_threshold=3, circuit_breaker_rollback=rollback),
    )
    assert steps[-1].state.status == status
    assert "tasks failed to start" in steps[-1].state.reason or status == "ROLLBACK_SUCCESSFUL"
    assert "deployment failed: tasks failed to start" in [e for s in steps for e in s.events]


PAUSE_POST_SCALE_UP = {"targetType": "PAUSE", "lifecycleStages": ["POST_SCALE_UP"]}


def test_pause_waits_until_continued():
    cfg = dc(strategy="BLUE_GREEN", lifecycleHooks=[PAUSE_POST_SCALE_UP])
    waiting = simulate(cfg, max_steps=10)
    assert {s.state.stage for s in waiting[2:]} == {"POST_SCALE_UP"}
    hook = waiting[-1].state.hooks[0]
    assert (hook.hook_id, hook.status, hook.expires_at) == ("post-scale-up-0", "AWAITING_ACTION", None)
    assert "AWAITING_ACTION" in waiting[-1].waiting_for
    done = simulate(cfg, requests={5: dep.Requests(continue_hooks={"post-scale-up-0": "CONTINUE"})})
    assert done[-1].state.status == "SUCCESSFUL"
    assert done[-1].state.hooks[0].status == "SUCCEEDED"


def test_continue_with_rollback():
    cfg = dc(strategy="BLUE_GREEN", lifecycleHooks=[PAUSE_POST_SCALE_UP])
    steps = simulate(cfg, requests={5: dep.Requests(continue_hooks={"post-scale-up-0": "ROLLBACK"})})
    assert steps[-1].state.status == "ROLLBACK_SUCCESSFUL"
    assert steps[-1].state.hooks[0].status == "FAILED"


@pytest.mark.parametrize(
    ("action", "status"),
    [("CONTINUE", "SUCCESSFUL"), ("ROLLBACK", "ROLLBACK_SUCCESSFUL"), (None, "ROLLBACK_SUCCESSFUL")],
    ids=["continue", "rollback", "default"],
)
def test_pause_timeout_applies_its_action(action, status):
    timeout: dict[str, Any] = {"timeoutInMinutes": 2}
    if action:
        timeout["action"] = action
    hook = {**PAUSE_POST_SCALE_UP, "timeoutConfiguration": timeout}
    steps = simulate(dc(strategy="BLUE_GREEN", lifecycleHooks=[hook]))
    assert steps[-1].state.status == status
    assert steps[-1].state.hooks[0].status == "TIMED_OUT"
    pausing = [s for s in steps if s.state.stage == "POST_SCALE_UP" and s.state.status == "IN_PROGRESS"]
    assert pausing[0].wake_at == pausing[0].state.hooks[0].started_at + 120


def test_lambda_hook_waits_like_a_pause_and_says_so():
    hook = {
        "targetType": "AWS_LAMBDA",
        "hookTargetArn": "arn:aws:lambda:us-east-1:1:function:f",
        "lifecycleStages": ["PRE_SCALE_UP"],
    }
    steps = simulate(dc(strategy="BLUE_GREEN", lifecycleHooks=[hook]), max_steps=5)
    assert steps[-1].state.stage == "PRE_SCALE_UP"
    assert steps[-1].green_count == 0  # not scaled up yet
    assert "AWS_LAMBDA" in steps[-1].waiting_for


def test_a_finished_deployment_stays_finished():
    done = simulate(dc(strategy="BLUE_GREEN"))[-1]
    again = dep.advance(
        done.state, dc(strategy="BLUE_GREEN"), dep.Health(desired=3), dep.Requests(stop="ROLLBACK"), 9e9
    )
    assert again.state == done.state
    assert (again.green_count, again.blue_count, again.events) == (3, 0, ())


def test_waits_while_green_is_not_ready():
    step = dep.advance(
        dep.State(), dc(strategy="BLUE_GREEN"), dep.Health(desired=2, green_running=1), dep.Requests(), 5.0
    )
    assert (step.state.status, step.state.stage, step.green_count, step.blue_count) == (
        "IN_PROGRESS",
        "SCALE_UP",
        2,
        None,
    )
    assert step.waiting_for == "1/2 tasks of the target revision running"
    assert step.events == ("deployment in progress",)
    again = dep.advance(
        replace(step.state), dc(strategy="BLUE_GREEN"), dep.Health(desired=2, green_running=1), dep.Requests(), 6.0
    )
    assert again.events == ()


def test_no_rollback_once_clean_up_started():
    cfg = dc(strategy="BLUE_GREEN")
    steps = simulate(cfg, max_steps=3, tick=1.0)
    cleaning = next(s for s in steps if s.state.stage == "CLEAN_UP")
    health = dep.Health(desired=3, green_running=3, blue_running=2)
    again = dep.advance(cleaning.state, cfg, health, dep.Requests(stop="ROLLBACK"), 5000.0)
    assert (again.state.status, again.state.stage, again.blue_count) == ("IN_PROGRESS", "CLEAN_UP", 0)
