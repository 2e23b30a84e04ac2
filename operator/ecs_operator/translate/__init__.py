"""Translation of ECS API objects into Kubernetes objects (pure functions, no API calls).

:mod:`.taskdef` turns a task definition into a PodTemplateSpec; :mod:`.names` holds the naming
rules (Secrets, ConfigMaps, ServiceAccounts, PersistentVolumeClaims) shared with the CLI.
"""

from __future__ import annotations

from .taskdef import (
    TaskTranslation,
    TranslationError,
    TranslationWarning,
    register_input_from_ecs_json,
    translate_task_definition,
)

__all__ = [
    "TaskTranslation",
    "TranslationError",
    "TranslationWarning",
    "register_input_from_ecs_json",
    "translate_task_definition",
]
