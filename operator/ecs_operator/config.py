"""The operator's settings from its environment, read and validated once at start.

Every environment variable the operator and the extender read is listed here, with its default.
``load()`` validates them all and names the variable that is wrong, so a bad value stops the
process at start (``ConfigError``) instead of surfacing later in a handler. ``get()`` returns the
loaded settings (loading them on first use, e.g. in tests and offline tools).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

SCHEDULER_NAME_ENV = "ECS_OPERATOR_SCHEDULER_NAME"
REFRESH_DELAY_ENV = "ECS_OPERATOR_REFRESH_DELAY_SECONDS"
STOPPED_TASK_TTL_ENV = "ECS_OPERATOR_STOPPED_TASK_TTL_SECONDS"
EXTENDER_INFLIGHT_TIMEOUT_ENV = "ECS_OPERATOR_EXTENDER_INFLIGHT_TIMEOUT"
#: test/dev knob: how many seconds one ECS "minute" lasts (bake times, hook timeouts); default 60
MINUTE_SECONDS_ENV = "ECS_OPERATOR_MINUTE_SECONDS"
LOST_INSTANCE_ENV = "ECS_OPERATOR_LOST_INSTANCE_SECONDS"
INSECURE_REGISTRIES_ENV = "ECS_OPERATOR_INSECURE_REGISTRIES"
HEAP_TRIM_ENV = "ECS_OPERATOR_HEAP_TRIM_SECONDS"

DEFAULT_REFRESH_DELAY = 0.25
DEFAULT_STOPPED_TASK_TTL = 3600.0
DEFAULT_EXTENDER_INFLIGHT_TIMEOUT = 1.0
DEFAULT_MINUTE_SECONDS = 60.0
DEFAULT_LOST_INSTANCE = 30.0
DEFAULT_HEAP_TRIM = 60.0


class ConfigError(ValueError):
    """An environment variable has a value the operator cannot use."""


@dataclass(frozen=True)
class Config:
    #: the scheduler ECS task pods name (empty: the cluster's default scheduler)
    scheduler_name: str | None = None
    #: seconds a service status refresh waits for more changes of the same service
    refresh_delay: float = DEFAULT_REFRESH_DELAY
    #: seconds a stopped ECSTask is kept before it is deleted
    stopped_task_ttl: float = DEFAULT_STOPPED_TASK_TTL
    #: seconds the extender waits for an earlier pod that passed its filter to be bound
    #: (None: no waiting)
    extender_inflight_timeout: float | None = DEFAULT_EXTENDER_INFLIGHT_TIMEOUT
    #: seconds in one of ECS's minutes (bakeTimeInMinutes, hook timeouts): 60; tests and demos
    #: shorten it (a test/dev knob only)
    minute_seconds: float = DEFAULT_MINUTE_SECONDS
    #: seconds a node stays not Ready before its tasks are stopped as a lost container instance's
    lost_instance_after: float = DEFAULT_LOST_INSTANCE
    #: registries (host:port) spoken to over plain HTTP when resolving image digests
    #: (versionConsistency), like Docker's insecure-registries
    insecure_registries: tuple[str, ...] = ()
    #: seconds between two returns of the heap's free memory to the system (heap.py; None: never)
    heap_trim: float | None = DEFAULT_HEAP_TRIM

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        env = os.environ if env is None else env
        inflight = _seconds(env, EXTENDER_INFLIGHT_TIMEOUT_ENV, DEFAULT_EXTENDER_INFLIGHT_TIMEOUT, allow_zero=True)
        trim = _seconds(env, HEAP_TRIM_ENV, DEFAULT_HEAP_TRIM, allow_zero=True)
        return cls(
            scheduler_name=(env.get(SCHEDULER_NAME_ENV) or "").strip() or None,
            refresh_delay=_seconds(env, REFRESH_DELAY_ENV, DEFAULT_REFRESH_DELAY, allow_zero=True),
            stopped_task_ttl=_seconds(env, STOPPED_TASK_TTL_ENV, DEFAULT_STOPPED_TASK_TTL, allow_zero=True),
            extender_inflight_timeout=inflight if inflight > 0 else None,
            minute_seconds=_seconds(env, MINUTE_SECONDS_ENV, DEFAULT_MINUTE_SECONDS, allow_zero=False),
            lost_instance_after=_seconds(env, LOST_INSTANCE_ENV, DEFAULT_LOST_INSTANCE, allow_zero=False),
            insecure_registries=_hosts(env, INSECURE_REGISTRIES_ENV),
            heap_trim=trim if trim > 0 else None,
        )


def _seconds(env: Mapping[str, str], name: str, default: float, *, allow_zero: bool) -> float:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: not a number of seconds") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{name}={raw!r}: must be a finite number of seconds >= 0")
    return value


def _hosts(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = env.get(name) or ""
    hosts = tuple(h.strip() for h in raw.split(",") if h.strip())
    for h in hosts:
        if "/" in h or " " in h:
            raise ConfigError(f"{name}={raw!r}: a comma-separated list of host[:port], got {h!r}")
    return hosts


_loaded: Config | None = None


def load(env: Mapping[str, str] | None = None) -> Config:
    """Read and validate the environment (at start); the result is what :func:`get` returns."""
    global _loaded
    _loaded = Config.from_env(env)
    return _loaded


def get() -> Config:
    return _loaded if _loaded is not None else load()
