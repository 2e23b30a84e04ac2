"""What the service and task handlers share about refusing input (glue, no API calls)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from ..domain import policy
from ..errors import NotReady, validation_message

M = TypeVar("M", bound=BaseModel)


def load_spec(model: type[M], spec: dict | None, check: Callable[[M], None], error: type[ValueError]) -> M:
    """Validate a spec as the ECS API would: the model's shape, then the API's own rules
    (``check`` raising ``error``); both become InvalidParameterException."""
    try:
        value = model.model_validate(dict(spec or {}))
    except ValidationError as e:
        raise NotReady("InvalidParameterException", validation_message(e)) from e
    try:
        check(value)
    except error as e:
        raise NotReady("InvalidParameterException", str(e)) from e
    return value


def enforce_policy(template: dict, cluster_obj: dict | None, cluster: str) -> None:
    """Refuse (before anything is applied) what the cluster's security policy does not allow."""
    denied = policy.violations(template, policy.cluster_policy(cluster_obj), cluster=cluster)
    if denied:
        raise NotReady("SecurityPolicyViolation", "; ".join(denied))
