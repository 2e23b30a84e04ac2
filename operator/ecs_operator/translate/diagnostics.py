"""What a translation reports: warnings for ECS fields Kubernetes cannot express exactly, and the
error for input that ECS would accept but that is inconsistent (pure)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TranslationWarning", "TranslationError"]


@dataclass(frozen=True)
class TranslationWarning:
    """An ECS field that Kubernetes cannot express exactly."""

    field: str  # ECS path, e.g. "containerDefinitions[web].ulimits" or "ipcMode"
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class TranslationError(ValueError):
    """Input that ECS would accept but that is inconsistent; ``str()`` names the field."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")
