"""CapacityProvider status (pure)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from ..domain.capacity import is_virtual
from ..domain.membership import selected
from ..errors import validation_message
from ..models.generated import CapacityProviderSpec
from ..status import condition, merge_conditions

_RESERVED = re.compile(r"^(aws|ecs|fargate)", re.IGNORECASE)


def provider_error(name: str, spec: dict[str, Any] | None) -> str | None:
    """Why CreateCapacityProvider would refuse this spec (None: it would not)."""
    try:
        CapacityProviderSpec.model_validate(dict(spec or {}))
    except ValidationError as e:
        return validation_message(e)
    if _RESERVED.match(name):
        return (
            f"name: The capacity provider name '{name}' is invalid: it cannot be prefixed with "
            "'aws', 'ecs' or 'fargate'."
        )
    return None


def provider_status(
    body: dict[str, Any], name: str, selector: dict[str, str], nodes: list[dict[str, Any]], now: str
) -> dict[str, Any]:
    """The status of the CapacityProvider ``body`` (ECS name ``name``, node pool ``selector``)
    given every node of the cluster."""
    generation = body["metadata"].get("generation")
    previous = (body.get("status") or {}).get("conditions")
    error = provider_error(name, body.get("spec"))
    if error is not None:
        return {
            "observedGeneration": generation,
            "status": "INACTIVE",
            "conditions": merge_conditions(
                previous, [condition("Ready", False, "InvalidParameterException", error, generation, now)]
            ),
        }
    pool = [n for n in nodes if not is_virtual(n) and selected(n, selector)]
    message = f"capacity provider {name}: {len(pool)} nodes in the pool"
    return {
        "observedGeneration": generation,
        "status": "ACTIVE",
        "nodes": len(pool),
        "conditions": merge_conditions(previous, [condition("Ready", True, "Active", message, generation, now)]),
    }
