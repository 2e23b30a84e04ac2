"""ECS API models: pydantic classes generated from botocore (see :mod:`ecs_operator.models.gen`).

The five request models (one per CRD spec) are re-exported here; every other shape is in
:mod:`ecs_operator.models.generated`.  They are imported lazily so that the generator
(``python -m ecs_operator.models.gen``) still runs when generated.py is missing or stale.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .generated import (
        CapacityProviderSpec,
        CreateCapacityProviderRequest,
        CreateClusterRequest,
        CreateServiceRequest,
        RegisterTaskDefinitionRequest,
        RunTaskRequest,
    )

__all__ = [
    "CapacityProviderSpec",
    "CreateCapacityProviderRequest",
    "CreateClusterRequest",
    "CreateServiceRequest",
    "RegisterTaskDefinitionRequest",
    "RunTaskRequest",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import generated

        return getattr(generated, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
