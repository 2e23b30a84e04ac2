"""How the operator refuses input (pure): one exception for "this object cannot be acted on",
reported in its status as ``Ready=False`` with ECS's exception name as the reason."""

from __future__ import annotations

from pydantic import ValidationError


class NotReady(Exception):
    """The object cannot be acted on: reported as Ready=False with ``reason`` (ECS's exception
    name where ECS has one) and ``message`` (starting with the ECS field it is about)."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


def validation_message(e: ValidationError) -> str:
    """The first few problems of a pydantic validation error, each as ``field.path: message``."""
    parts = []
    for err in e.errors()[:5]:
        loc = ".".join(str(x) for x in err["loc"])
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)
