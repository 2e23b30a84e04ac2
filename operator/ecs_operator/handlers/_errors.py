"""What the service and task handlers share about refusing input (glue, no API calls)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from ..domain import policy
from .taskdefinition import validation_message

M = TypeVar("M", bound=BaseModel)


class NotReady(Exception):
    """The object cannot be acted on: reported as Ready=False with ``reason`` (ECS's exception
    name where ECS has one) and ``message`` (starting with the ECS field it is about)."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


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


def existing_cluster(namespace: str, cluster: str) -> dict | None:
    """The ECSCluster a service or task names: ``default`` is created on first use, as ECS's
    default cluster exists without anyone creating it; any other must exist."""
    from . import ecscluster  # late import: ecscluster reconciles services and tasks

    found = ecscluster.find_cluster(namespace, cluster)
    if found is None and cluster == "default":
        ecscluster.ensure_default_cluster(namespace, cluster)
        found = ecscluster.find_cluster(namespace, cluster)
    if found is None and cluster != "default":
        raise NotReady(
            "ClusterNotFoundException",
            f"cluster: Cluster not found: no ECSCluster {cluster!r} in namespace {namespace}.",
        )
    return found


def enforce_policy(template: dict, cluster_obj: dict | None, cluster: str) -> None:
    """Refuse (before anything is applied) what the cluster's security policy does not allow."""
    denied = policy.violations(template, policy.cluster_policy(cluster_obj), cluster=cluster)
    if denied:
        raise NotReady("SecurityPolicyViolation", "; ".join(denied))
