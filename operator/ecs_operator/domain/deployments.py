"""ECS service deployments with the BLUE_GREEN, LINEAR and CANARY strategies (pure).

A deployment moves a service from its source (blue) service revision(s) to a target (green) one
through ECS's lifecycle stages::

    RECONCILE_SERVICE -> PRE_SCALE_UP -> SCALE_UP -> POST_SCALE_UP -> TEST_TRAFFIC_SHIFT
    -> POST_TEST_TRAFFIC_SHIFT -> PRODUCTION_TRAFFIC_SHIFT -> POST_PRODUCTION_TRAFFIC_SHIFT
    -> BAKE_TIME -> CLEAN_UP

Green is scaled to the full desired count in SCALE_UP for every strategy (blue keeps its size);
production traffic then moves at once (BLUE_GREEN), canaryPercent first and the rest after
canaryBakeTimeInMinutes (CANARY), or stepPercent at a time every stepBakeTimeInMinutes (LINEAR).
BAKE_TIME keeps both revisions for bakeTimeInMinutes; CLEAN_UP scales blue to zero.

The deployment is a flat program of checkpoints derived from its configuration
(:func:`program`); :func:`advance` moves a :class:`State` along it as far as the tasks' health,
the clock and the user's requests allow, and says what Kubernetes should run (task counts per
revision, traffic weights), which events to post and when to look again. Pure: no client, no
clock (``now`` is seconds since the epoch, passed in), no randomness.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from ..models.generated import DeploymentConfiguration, DeploymentLifecycleHook

STRATEGIES = ("BLUE_GREEN", "LINEAR", "CANARY")
STAGES = (
    "RECONCILE_SERVICE",
    "PRE_SCALE_UP",
    "SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
    "BAKE_TIME",
    "CLEAN_UP",
)
#: ServiceDeployment statuses.
PENDING, IN_PROGRESS, SUCCESSFUL, STOPPED = "PENDING", "IN_PROGRESS", "SUCCESSFUL", "STOPPED"
STOP_REQUESTED, ROLLBACK_REQUESTED = "STOP_REQUESTED", "ROLLBACK_REQUESTED"
ROLLBACK_IN_PROGRESS, ROLLBACK_SUCCESSFUL, ROLLBACK_FAILED = (
    "ROLLBACK_IN_PROGRESS",
    "ROLLBACK_SUCCESSFUL",
    "ROLLBACK_FAILED",
)
FINAL = frozenset({SUCCESSFUL, STOPPED, ROLLBACK_SUCCESSFUL, ROLLBACK_FAILED})

#: ECS's defaults (API reference: CanaryConfiguration, LinearConfiguration).
DEFAULT_CANARY_PERCENT = 5.0
DEFAULT_CANARY_BAKE_MINUTES = 10
DEFAULT_STEP_PERCENT = 10.0
DEFAULT_STEP_BAKE_MINUTES = 6
#: A hook ECS lists in lifecycleStages that is no stage of the record: it runs at the start of
#: PRODUCTION_TRAFFIC_SHIFT, before any production traffic moves.
PRE_PRODUCTION = "PRE_PRODUCTION_TRAFFIC_SHIFT"

Kind = Literal["hook", "scale", "test", "shift", "wait", "cleanup"]


@dataclass(frozen=True)
class Checkpoint:
    """One step of a deployment: the record's lifecycle stage while it runs, what it does and
    its argument (the hook's index in lifecycleHooks, the production percent a shift reaches,
    the minutes a wait lasts)."""

    stage: str
    kind: Kind
    arg: float = 0.0
    hook_stage: str = ""  # the hook's lifecycle stage (kind "hook")


def _shifts(dc: DeploymentConfiguration, strategy: str) -> list[Checkpoint]:
    """The production traffic shifts of ``strategy`` with the bake waits between them."""
    stage = "PRODUCTION_TRAFFIC_SHIFT"
    if strategy == "CANARY":
        cc = dc.canaryConfiguration
        percent = DEFAULT_CANARY_PERCENT if cc is None or cc.canaryPercent is None else cc.canaryPercent
        bake = (
            DEFAULT_CANARY_BAKE_MINUTES
            if cc is None or cc.canaryBakeTimeInMinutes is None
            else cc.canaryBakeTimeInMinutes
        )
        if percent >= 100:
            return [Checkpoint(stage, "shift", 100.0)]
        return [Checkpoint(stage, "shift", percent), Checkpoint(stage, "wait", bake), Checkpoint(stage, "shift", 100.0)]
    if strategy == "LINEAR":
        lc = dc.linearConfiguration
        step = DEFAULT_STEP_PERCENT if lc is None or lc.stepPercent is None else lc.stepPercent
        bake = DEFAULT_STEP_BAKE_MINUTES if lc is None or lc.stepBakeTimeInMinutes is None else lc.stepBakeTimeInMinutes
        out: list[Checkpoint] = []
        steps = max(math.floor(100 / step + 1e-9), 1) if step > 0 else 1
        for i in range(1, steps + 1):
            percent = min(round(step * i, 1), 100.0)
            if percent >= 100:
                break
            out += [Checkpoint(stage, "shift", percent), Checkpoint(stage, "wait", bake)]
        return out + [Checkpoint(stage, "shift", 100.0)]
    return [Checkpoint(stage, "shift", 100.0)]


def _hooks(hooks: list[DeploymentLifecycleHook], hook_stage: str, stage: str) -> list[Checkpoint]:
    return [
        Checkpoint(stage, "hook", float(i), hook_stage)
        for i, h in enumerate(hooks)
        if hook_stage in (h.lifecycleStages or [])
    ]


def program(dc: DeploymentConfiguration | None) -> tuple[Checkpoint, ...]:
    """The checkpoints of a deployment with configuration ``dc`` (its strategy: BLUE_GREEN,
    LINEAR or CANARY), in order."""
    dc = dc or DeploymentConfiguration()
    strategy = dc.strategy or "BLUE_GREEN"
    hooks = list(dc.lifecycleHooks or [])
    out: list[Checkpoint] = []
    out += _hooks(hooks, "RECONCILE_SERVICE", "RECONCILE_SERVICE")
    out += _hooks(hooks, "PRE_SCALE_UP", "PRE_SCALE_UP")
    out.append(Checkpoint("SCALE_UP", "scale"))
    out += _hooks(hooks, "POST_SCALE_UP", "POST_SCALE_UP")
    out.append(Checkpoint("TEST_TRAFFIC_SHIFT", "test"))
    out += _hooks(hooks, "TEST_TRAFFIC_SHIFT", "TEST_TRAFFIC_SHIFT")
    out += _hooks(hooks, "POST_TEST_TRAFFIC_SHIFT", "POST_TEST_TRAFFIC_SHIFT")
    out += _hooks(hooks, PRE_PRODUCTION, "PRODUCTION_TRAFFIC_SHIFT")
    out += _shifts(dc, strategy)
    out += _hooks(hooks, "PRODUCTION_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT")
    out += _hooks(hooks, "POST_PRODUCTION_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT")
    out.append(Checkpoint("BAKE_TIME", "wait", float(dc.bakeTimeInMinutes or 0)))
    out.append(Checkpoint("CLEAN_UP", "cleanup"))
    return tuple(out)


@dataclass(frozen=True)
class HookState:
    """A lifecycle hook the deployment has reached (DeploymentLifecycleHookDetail)."""

    hook_id: str
    index: int  # in lifecycleHooks
    stage: str
    status: str  # AWAITING_ACTION | SUCCEEDED | FAILED | TIMED_OUT
    started_at: float
    expires_at: float | None = None


@dataclass(frozen=True)
class State:
    """Where a deployment is: what the record's status keeps between two steps."""

    status: str = PENDING
    stage: str = "RECONCILE_SERVICE"
    position: int = 0  # the checkpoint being worked on
    entered_at: float = 0.0  # when that checkpoint started
    production: float = 0.0  # percent of production traffic on green
    test: float = 0.0  # percent of test traffic on green
    reason: str = ""
    hooks: tuple[HookState, ...] = ()
    started_at: float | None = None
    finished_at: float | None = None
    rollback_started_at: float | None = None


@dataclass(frozen=True)
class Health:
    """The tasks of each side now."""

    desired: int  # the service's desiredCount
    green_running: int = 0
    green_pending: int = 0
    green_failed: int = 0  # green tasks that stopped (restarts included)
    blue_running: int = 0
    blue_pending: int = 0
    has_source: bool = True  # a blue revision exists (False: the service's first deployment)


@dataclass(frozen=True)
class Requests:
    """What the user asked for (the record's spec / the ECS API)."""

    stop: str | None = None  # ABORT | ROLLBACK
    #: hook id -> CONTINUE | ROLLBACK (ContinueServiceDeployment)
    continue_hooks: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Settings:
    minute_seconds: float = 60.0
    circuit_breaker_threshold: int | None = None  # None: no circuit breaker
    circuit_breaker_rollback: bool = False


@dataclass(frozen=True)
class Step:
    """The outcome of :func:`advance`."""

    state: State
    green_count: int  # desired tasks of the target revision
    blue_count: int | None  # desired tasks of every source revision (None: leave as they are)
    production: int  # percent of production traffic to green (the rest: blue)
    test: int  # percent of test traffic to green
    events: tuple[str, ...] = ()
    wake_at: float | None = None  # look again then (a bake time or a hook's timeout ends)
    waiting_for: str = ""  # what the deployment waits for now (hooks: AWAITING_ACTION)


@dataclass
class _Run:
    """The mutable scratch of one :func:`advance`."""

    state: State
    events: list[str] = field(default_factory=list)
    wake_at: float | None = None
    waiting_for: str = ""


def hook_id(index: int, stage: str) -> str:
    """A hook's id within its deployment (stable across steps)."""
    return f"{stage.lower().replace('_', '-')}-{index}"


def _hook(
    run: _Run, cp: Checkpoint, hooks: list[DeploymentLifecycleHook], req: Requests, now: float, s: Settings
) -> str:
    """A hook checkpoint: "done", "wait" or "rollback"."""
    idx = int(cp.arg)
    hid = hook_id(idx, cp.hook_stage)
    hook = hooks[idx] if idx < len(hooks) else DeploymentLifecycleHook()
    current = next((h for h in run.state.hooks if h.hook_id == hid), None)
    if current is None:
        tc = hook.timeoutConfiguration
        expires = now + tc.timeoutInMinutes * s.minute_seconds if tc and tc.timeoutInMinutes else None
        current = HookState(hid, idx, cp.hook_stage, "AWAITING_ACTION", now, expires)
        run.state = replace(run.state, hooks=run.state.hooks + (current,))
    if current.status != "AWAITING_ACTION":
        return "done"
    verdict, status = "", ""
    if hid in req.continue_hooks:
        verdict = "rollback" if req.continue_hooks[hid] == "ROLLBACK" else "done"
        status = "FAILED" if verdict == "rollback" else "SUCCEEDED"
    elif current.expires_at is not None and now >= current.expires_at:
        action = (hook.timeoutConfiguration.action if hook.timeoutConfiguration else None) or "ROLLBACK"
        verdict, status = ("rollback" if action == "ROLLBACK" else "done"), "TIMED_OUT"
    if not verdict:
        run.wake_at = current.expires_at
        run.waiting_for = f"lifecycle hook {hid} ({hook.targetType or 'PAUSE'}) at {cp.hook_stage}: AWAITING_ACTION"
        return "wait"
    hooks_now = tuple(replace(h, status=status) if h.hook_id == hid else h for h in run.state.hooks)
    run.state = replace(run.state, hooks=hooks_now)
    return verdict


def _scale(run: _Run, h: Health, s: Settings) -> str:
    if s.circuit_breaker_threshold is not None and h.green_failed >= s.circuit_breaker_threshold:
        return "failed"
    if h.green_running >= h.desired and h.green_pending == 0:
        return "done"
    run.waiting_for = f"{h.green_running}/{h.desired} tasks of the target revision running"
    return "wait"


def _wait(run: _Run, minutes: float, h: Health, now: float, s: Settings) -> str:
    """A bake time. A service's first deployment (no source revision: nothing to compare with or
    to return to) does not wait."""
    until = run.state.entered_at + minutes * s.minute_seconds
    if now >= until or not h.has_source:
        return "done"
    run.wake_at = until
    run.waiting_for = f"bake time until {until:.0f}"
    return "wait"


def _checkpoint(
    run: _Run, cp: Checkpoint, dc: DeploymentConfiguration, h: Health, req: Requests, now: float, s: Settings
) -> str:
    """Work on one checkpoint: "done" (move on), "wait", "rollback" or "failed"."""
    if cp.kind == "hook":
        return _hook(run, cp, list(dc.lifecycleHooks or []), req, now, s)
    if cp.kind == "scale":
        return _scale(run, h, s)
    if cp.kind == "test":
        run.state = replace(run.state, test=100.0)
        return "done"
    if cp.kind == "shift":
        run.state = replace(run.state, production=cp.arg)
        run.events.append(f"production traffic shifted: {cp.arg:g}% to the target revision")
        return "done"
    if cp.kind == "wait":
        return _wait(run, cp.arg, h, now, s)
    # cleanup: the source revisions stop
    if h.blue_running + h.blue_pending == 0:
        return "done"
    run.waiting_for = f"{h.blue_running + h.blue_pending} tasks of the source revision stopping"
    return "wait"


def _rollback_step(run: _Run, h: Health, now: float) -> Step:
    st = run.state
    if st.status in (ROLLBACK_REQUESTED, IN_PROGRESS, PENDING):
        if not h.has_source:
            reason = "rollback failed: the service has no earlier service revision to roll back to"
            run.state = replace(st, status=ROLLBACK_FAILED, reason=reason, finished_at=now)
            return _out(run, h, green=h.desired, blue=None)
        run.state = replace(st, status=ROLLBACK_IN_PROGRESS, production=0.0, test=0.0, rollback_started_at=now)
        run.events.append("rollback in progress: traffic returned to the source revision")
    st = run.state
    if h.green_running + h.green_pending == 0 and h.blue_running >= h.desired and h.blue_pending == 0:
        run.state = replace(st, status=ROLLBACK_SUCCESSFUL, finished_at=now, reason=st.reason or "rolled back")
        run.events.append("rollback successful")
        return _out(run, h, green=0, blue=h.desired)
    run.waiting_for = "the target revision stopping and the source revision running every task"
    return _out(run, h, green=0, blue=h.desired)


def _out(run: _Run, h: Health, *, green: int, blue: int | None) -> Step:
    st = run.state
    return Step(
        state=st,
        green_count=green,
        blue_count=blue,
        production=round(st.production),
        test=round(st.test),
        events=tuple(run.events),
        wake_at=run.wake_at,
        waiting_for=run.waiting_for,
    )


def _counts(st: State, h: Health) -> tuple[int, int | None]:
    """(green, blue) desired counts at the state's checkpoint: green at full size from
    SCALE_UP on, blue untouched until CLEAN_UP."""
    green = 0 if st.stage in ("RECONCILE_SERVICE", "PRE_SCALE_UP") else h.desired
    blue = 0 if st.stage == "CLEAN_UP" else None
    return green, blue


def _finish(run: _Run, h: Health) -> Step:
    green, blue = _final_counts(run.state, h)
    return _out(run, h, green=green, blue=blue)


def _final_counts(st: State, h: Health) -> tuple[int, int | None]:
    """The task counts a finished deployment keeps: green only (SUCCESSFUL), blue only
    (ROLLBACK_SUCCESSFUL), both where they were (STOPPED), green (ROLLBACK_FAILED: nothing to
    roll back to)."""
    if st.status == SUCCESSFUL:
        return h.desired, 0
    if st.status == ROLLBACK_SUCCESSFUL:
        return 0, h.desired
    if st.status == STOPPED:
        return _counts(st, h)
    return h.desired, None


def _fail(run: _Run, h: Health, now: float, outcome: str, s: Settings) -> Step:
    """A hook asked for a rollback, or the circuit breaker tripped: roll back (a circuit breaker
    without rollback stops the deployment where it is)."""
    why = "a lifecycle hook asked for a rollback" if outcome == "rollback" else "tasks failed to start"
    run.events.append(f"deployment failed: {why}")
    if outcome == "failed" and not s.circuit_breaker_rollback:
        run.state = replace(run.state, status=STOPPED, reason=f"deployment failed: {why}", finished_at=now)
        return _finish(run, h)
    run.state = replace(run.state, status=ROLLBACK_REQUESTED, reason=f"rolling back: {why}")
    return _rollback_step(run, h, now)


def _stop(run: _Run, req: Requests, now: float) -> bool:
    """A stop request: ROLLBACK starts a rollback, ABORT stops where the deployment is."""
    st = run.state
    if req.stop == "ABORT":
        run.state = replace(st, status=STOPPED, reason="stopped by StopServiceDeployment (ABORT)", finished_at=now)
        run.events.append("deployment stopped")
        return True
    if req.stop == "ROLLBACK" and st.stage == "CLEAN_UP":
        return False  # the source revision is going away: too late to roll back
    if req.stop == "ROLLBACK" and st.status not in (ROLLBACK_IN_PROGRESS,):
        run.state = replace(st, status=ROLLBACK_REQUESTED, reason="rollback requested by StopServiceDeployment")
    return False


def advance(
    state: State,
    dc: DeploymentConfiguration | None,
    health: Health,
    requests: Requests,
    now: float,
    settings: Settings = Settings(),
) -> Step:
    """Move the deployment along its :func:`program` as far as it can go now."""
    dc = dc or DeploymentConfiguration()
    run = _Run(state)
    if state.status in FINAL:
        return _finish(run, health)
    if state.status == PENDING:
        run.state = replace(state, status=IN_PROGRESS, started_at=now, entered_at=now)
        run.events.append("deployment in progress")
    if requests.stop and _stop(run, requests, now):
        return _finish(run, health)
    if run.state.status in (ROLLBACK_REQUESTED, ROLLBACK_IN_PROGRESS):
        return _rollback_step(run, health, now)
    steps = program(dc)
    for _ in range(len(steps) + 1):
        st = run.state
        if st.position >= len(steps):
            run.state = replace(st, status=SUCCESSFUL, finished_at=now, reason="deployment completed")
            run.events.append("deployment completed")
            return _out(run, health, green=health.desired, blue=0)
        cp = steps[st.position]
        if st.stage != cp.stage:
            run.state = replace(st, stage=cp.stage)
        green, blue = _counts(run.state, health)
        outcome = _checkpoint(run, cp, dc, health, requests, now, settings)
        if outcome == "wait":
            return _out(run, health, green=green, blue=blue)
        if outcome in ("rollback", "failed"):
            return _fail(run, health, now, outcome, settings)
        run.state = replace(run.state, position=run.state.position + 1, entered_at=now)
    return _out(run, health, green=health.desired, blue=None)  # pragma: no cover - the loop returns
