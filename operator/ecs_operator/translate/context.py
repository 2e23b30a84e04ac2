"""The state one task definition's translation shares between its steps (pure)."""

from __future__ import annotations

from typing import Any

from ..models.generated import ContainerDefinition, RegisterTaskDefinitionRequest
from . import names
from .diagnostics import TranslationError, TranslationWarning


class TaskContext:
    """The task definition, its containers by ECS name with their Kubernetes names, the
    network mode, and what the steps have reported so far: warnings and companion objects
    (ServiceAccount, PersistentVolumeClaims) the pod template references."""

    def __init__(self, td: RegisterTaskDefinitionRequest) -> None:
        self.td = td
        self.containers = list(td.containerDefinitions)
        self.by_name: dict[str, ContainerDefinition] = {}  # ECS name -> container, in ECS order
        self.k8s_names: dict[str, str] = {}  # ECS name -> Kubernetes container name
        self.warnings: list[TranslationWarning] = []
        self.objects: list[dict[str, Any]] = []
        self.os_family = (td.runtimePlatform.operatingSystemFamily if td.runtimePlatform else None) or "LINUX"
        self.network_mode = ""  # set by the translator before the containers are translated
        self.host_network = False
        self.first_essential = ""  # the ECS name of the first essential container

    @property
    def windows(self) -> bool:
        return self.os_family.startswith("WINDOWS")

    def warn(self, field: str, message: str) -> None:
        w = TranslationWarning(field, message)
        if w not in self.warnings:
            self.warnings.append(w)

    @staticmethod
    def cpath(cd: ContainerDefinition, field: str = "") -> str:
        base = f"containerDefinitions[{cd.name}]"
        return f"{base}.{field}" if field else base

    def name_containers(self) -> None:
        """Check each container's name and image; give it a unique DNS-1123 label."""
        taken: set[str] = set()
        for i, cd in enumerate(self.containers):
            if not cd.name:
                raise TranslationError(f"containerDefinitions[{i}].name", "a container needs a name")
            if cd.name in self.by_name:
                raise TranslationError(f"containerDefinitions[{cd.name}].name", f"two containers are named {cd.name!r}")
            if not cd.image or not cd.image.strip():
                raise TranslationError(self.cpath(cd, "image"), "a container needs an image")
            if cd.image != cd.image.strip():
                raise TranslationError(self.cpath(cd, "image"), "leading or trailing whitespace")
            self.by_name[cd.name] = cd
            base = names.dns_label(cd.name.replace("_", "-"), fallback="container")
            self.k8s_names[cd.name] = names.unique_label(base, cd.name, taken)
