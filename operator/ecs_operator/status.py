"""Status conventions shared by every kind (pure).

Kubernetes side: ``observedGeneration`` and ``conditions`` (``Ready`` first), so
``kubectl wait --for=condition=Ready`` and kstatus-based GitOps tools understand every object.
ECS side: each kind adds ECS's own fields; service events are worded as ECS words them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

MAX_EVENTS = 100  # ECS keeps the 100 most recent service events


def now_iso(clock: datetime | None = None) -> str:
    return (clock or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


# A Kubernetes status condition: type, status, reason, message, lastTransitionTime[, observedGeneration].
Condition = dict[str, Any]


class _Warning(Protocol):
    """A translation warning (:class:`ecs_operator.translate.diagnostics.TranslationWarning`)."""

    @property
    def field(self) -> str: ...
    @property
    def message(self) -> str: ...


def condition(type_: str, ok: bool | str, reason: str, message: str, generation: int | None, now: str) -> Condition:
    status = ok if isinstance(ok, str) else ("True" if ok else "False")
    c: Condition = {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message[:32768],
        "lastTransitionTime": now,
    }
    if generation is not None:
        c["observedGeneration"] = generation
    return c


def merge_conditions(old: list[Condition] | None, new: list[Condition]) -> list[Condition]:
    """Replace conditions by type, keeping ``lastTransitionTime`` when the status did not change.
    Order: Ready first, then the rest as given, then untouched old ones."""
    by_type = {c["type"]: c for c in (old or [])}
    merged = []
    for c in new:
        prev = by_type.pop(c["type"], None)
        if prev is not None and prev.get("status") == c["status"]:
            c = {**c, "lastTransitionTime": prev.get("lastTransitionTime", c["lastTransitionTime"])}
        merged.append(c)
    merged.extend(by_type.values())
    merged.sort(key=lambda c: c["type"] != "Ready")
    return merged


def is_true(conditions: list[Condition] | None, type_: str) -> bool:
    return any(c.get("type") == type_ and c.get("status") == "True" for c in conditions or [])


def format_warnings(warnings: Iterable[_Warning]) -> list[str]:
    return [f"{w.field}: {w.message}" for w in warnings]
