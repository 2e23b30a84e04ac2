"""The ECS operations the endpoint serves: ``OPERATIONS[name](ctx, params) -> result``.

Each module registers its operations with ``@operation("Name")``; an operation reads and
writes only the custom resources (and what Kubernetes reports in their status) through
``ctx.kube``, raises ``EcsApiError`` for ECS's errors, and returns a dict the server shapes by
the operation's output shape.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ...errors import validation_message
from ..context import RequestContext
from ..errors import invalid_parameter

Operation = Callable[[RequestContext, dict[str, Any]], dict[str, Any]]
OPERATIONS: dict[str, Operation] = {}

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], spec: dict[str, Any], check: Callable[[M], None], error: type[ValueError]) -> M:
    """``spec`` as ``model``, checked by the operator's own rules (``check`` raising ``error``):
    what the operator would refuse is refused at the call, as InvalidParameterException."""
    try:
        value = model.model_validate(spec)
        check(value)
    except ValidationError as e:
        raise invalid_parameter(validation_message(e)) from e
    except error as e:
        raise invalid_parameter(str(e)) from e
    return value


def operation(name: str) -> Callable[[Operation], Operation]:
    def register(fn: Operation) -> Operation:
        OPERATIONS[name] = fn
        return fn

    return register


def encode_token(position: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": position}).encode()).decode()


def decode_token(token: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))["after"]
    except (binascii.Error, ValueError, KeyError, TypeError) as e:
        raise invalid_parameter("Invalid nextToken.") from e


def paginate(
    items: Sequence[T],
    key: Callable[[T], Any],
    params: dict[str, Any],
    default_max: int = 100,
    *,
    descending: bool = False,
) -> tuple[list[T], str | None]:
    """One page of ``items`` (sorted by ``key``, unique keys; ``descending``: sorted from the
    largest) after ``params["nextToken"]``,
    at most ``params["maxResults"]`` long; the token of the next page, or None after the last.
    The token is opaque to clients (base64 of the last key answered), so a page stays right when
    items are added or removed between calls."""
    start = 0
    token = params.get("nextToken")
    if token:
        after = decode_token(token)
        keys = [key(i) for i in items]
        try:
            start = next(i for i, k in enumerate(keys) if _after(k, after, descending))
        except StopIteration:
            return [], None
        except TypeError as e:
            raise invalid_parameter("Invalid nextToken.") from e
    limit = params.get("maxResults") or default_max
    page = list(items[start : start + limit])
    more = start + limit < len(items)
    return page, (encode_token(key(page[-1])) if more and page else None)


def _after(k: Any, after: Any, descending: bool) -> bool:
    if isinstance(after, list) and isinstance(k, tuple):
        after = tuple(after)
    return bool(k < after) if descending else bool(k > after)


def load() -> dict[str, Operation]:
    """The operations the endpoint serves: those of the modules named here (a module imported
    elsewhere, say by its tests, registers its operations but is not served until it is listed)."""
    from . import account, capacityproviders, clusters, deployments, services, tags, taskdefinitions, tasks

    modules = (account, capacityproviders, clusters, deployments, services, tags, taskdefinitions, tasks)
    served = {m.__name__ for m in modules}
    return {name: fn for name, fn in OPERATIONS.items() if fn.__module__ in served}
