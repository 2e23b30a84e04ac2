"""Translation of ECS API objects into Kubernetes objects (pure functions, no API calls).

:mod:`.taskdef` turns a task definition into a PodTemplateSpec (its steps: :mod:`.containers`,
:mod:`.dependencies`, :mod:`.ports`, :mod:`.resources`, :mod:`.volumes`, :mod:`.health`,
:mod:`.security`, :mod:`.network`); :mod:`.diagnostics` holds the warning and error every
translator reports; :mod:`.names` holds the naming rules (Secrets, ConfigMaps, ServiceAccounts,
PersistentVolumeClaims) shared with the CLI.
"""

from __future__ import annotations

from .diagnostics import TranslationError, TranslationWarning
from .taskdef import TaskTranslation, register_input_from_ecs_json, translate_task_definition

__all__ = [
    "TaskTranslation",
    "TranslationError",
    "TranslationWarning",
    "register_input_from_ecs_json",
    "translate_task_definition",
]
