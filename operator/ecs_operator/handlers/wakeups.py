"""Cross-kind wake-ups: a registry of which kinds depend on which.

ECS objects depend on each other: a service runs in a cluster, follows a task definition family
and has tasks on container instances; a standalone task runs in a cluster. When an object of
one kind changes, the objects that depend on it are reconciled again. Each handler module says
once, at import, what it depends on (:func:`depends`); a handler whose object changed announces
it (:func:`changed`) without knowing who listens. No handler imports or calls another kind's
handlers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import kopf

from .. import k8s


@dataclass(frozen=True)
class Dependency:
    dependent: str  # the kind that is woken up, e.g. "ECSService"
    on: str  # the kind whose change wakes it, e.g. "ECSCluster"
    find: Callable[[dict], Iterable[Any]]  # the changed object -> what depends on it
    run: Callable[[Any, logging.Logger | logging.LoggerAdapter], None]  # reconcile one dependent


_registry: list[Dependency] = []


def depends(dependent: str, *, on: str, find: Callable[[dict], Iterable[Any]], run: Callable[..., None]) -> None:
    """``dependent`` objects found by ``find(changed object)`` are reconciled by ``run(obj,
    logger)`` whenever an object of kind ``on`` changes."""
    _registry.append(Dependency(dependent, on, find, run))


def dependencies() -> list[Dependency]:
    return list(_registry)


def changed(kind: str, body: dict, logger: logging.Logger | logging.LoggerAdapter) -> None:
    """An object of ``kind`` changed: reconcile what depends on it, now, in this thread. A
    dependent that cannot be reconciled now catches up on its own next event."""
    for dep in _registry:
        if dep.on != kind:
            continue
        for obj in dep.find(body):
            try:
                dep.run(obj, logger)
            except (k8s.ApiError, kopf.TemporaryError) as e:
                logger.warning(f"{dep.dependent} {_name(obj)} will catch up on its next event: {e}")


def _name(obj: Any) -> str:
    if isinstance(obj, dict):
        return str(obj.get("metadata", {}).get("name"))
    if isinstance(obj, tuple):
        return "/".join(str(x) for x in obj)
    return str(obj)
