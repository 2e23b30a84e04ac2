"""Container health checks -> readiness, liveness and startup probes (pure).

ECS derives a task's health from its essential containers only, so only they get readiness and
liveness probes; a container others wait for to become HEALTHY gets a startup probe, which is
what gates a native sidecar's dependents.
"""

from __future__ import annotations

import math
from typing import Any

from ..models.generated import ContainerDefinition, HealthCheck
from .context import TaskContext
from .dependencies import ROLE_INIT, ROLE_SIDECAR, conditions_on
from .diagnostics import TranslationError

HEALTH_DEFAULTS = {"interval": 30, "timeout": 5, "retries": 3, "startPeriod": 0}


def probe(ctx: TaskContext, hc: HealthCheck, cd: ContainerDefinition) -> dict[str, Any] | None:
    """The exec probe of a health check (None: ``NONE``)."""
    cmd = list(hc.command or [])
    field = ctx.cpath(cd, "healthCheck.command")
    if not cmd:
        raise TranslationError(field, "empty health check command")
    kind = cmd[0]
    if kind == "NONE":
        return None
    if kind == "CMD":
        if len(cmd) < 2:
            raise TranslationError(field, "CMD needs a command")
        exec_cmd = cmd[1:]
    elif kind == "CMD-SHELL":
        script = " ".join(cmd[1:])
        if not script.strip():
            raise TranslationError(field, "CMD-SHELL needs a command")
        shell = ["cmd", "/S", "/C"] if ctx.windows else ["/bin/sh", "-c"]
        exec_cmd = shell + [script]
    else:
        raise TranslationError(field, f"must start with CMD, CMD-SHELL or NONE, not {kind!r}")
    interval = max(hc.interval if hc.interval is not None else HEALTH_DEFAULTS["interval"], 1)
    timeout = max(hc.timeout if hc.timeout is not None else HEALTH_DEFAULTS["timeout"], 1)
    retries = max(hc.retries if hc.retries is not None else HEALTH_DEFAULTS["retries"], 1)
    return {
        "exec": {"command": exec_cmd},
        "periodSeconds": interval,
        "timeoutSeconds": timeout,
        "failureThreshold": retries,
    }


def add_probes(ctx: TaskContext, name: str, cd: ContainerDefinition, role: str, k: dict[str, Any]) -> None:
    """Set the probes of the built container ``k`` from its health check."""
    hc = cd.healthCheck
    if hc is None:
        return
    p = probe(ctx, hc, cd)
    if p is None:
        return
    if role == ROLE_INIT:
        ctx.warn(
            ctx.cpath(cd, "healthCheck"),
            "runs as an init container, which Kubernetes does not probe: health check not used",
        )
        return
    essential = cd.essential is not False
    start_period = max(hc.startPeriod or 0, 0)
    healthy_target = role == ROLE_SIDECAR and "HEALTHY" in conditions_on(ctx, name)
    if healthy_target or (essential and start_period > 0):
        startup = dict(p)
        startup["failureThreshold"] = math.ceil(start_period / p["periodSeconds"]) + p["failureThreshold"]
        k["startupProbe"] = startup
    if essential:
        k["readinessProbe"] = dict(p)
        k["livenessProbe"] = dict(p)
    else:
        # ECS derives a task's health from its essential containers only; a readiness probe
        # here would make the whole pod (and the service's healthy count) depend on it.
        ctx.warn(
            ctx.cpath(cd, "healthCheck"),
            "a non-essential container's health does not count toward the task's health (as in ECS), "
            "so it gets no readiness probe; its health status is not reported"
            + (" (the startup probe still gates containers that depend on it being HEALTHY)" if healthy_target else ""),
        )
