"""Calling an ECS API operation in unit tests as the server does: the input validated by
botocore's model, the answer checked against the operation's output shape."""

from __future__ import annotations

from typing import Any

import pytest
from ecs_operator.api import model
from ecs_operator.api.errors import EcsApiError
from ecs_operator.api.operations import OPERATIONS, load

from .api_fakes import assert_output_conforms

load()


def drop_none(value: Any) -> Any:
    """``value`` without None members (the server drops them before answering)."""
    if isinstance(value, dict):
        return {k: drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_none(v) for v in value]
    return value


def _dropped(raw: Any, shaped: Any, path: str) -> list[str]:
    """Members of ``raw`` the output shape has no place for (shaping would drop them)."""
    if isinstance(raw, dict) and isinstance(shaped, dict):
        out = [f"{path}.{k}" for k, v in raw.items() if v is not None and k not in shaped]
        return out + [p for k in shaped if k in raw for p in _dropped(raw[k], shaped[k], f"{path}.{k}")]
    if isinstance(raw, list) and isinstance(shaped, list) and len(raw) == len(shaped):
        return [p for i, (r, s) in enumerate(zip(raw, shaped, strict=True)) for p in _dropped(r, s, f"{path}[{i}]")]
    return []


def call(ctx, name: str, /, **params) -> dict:
    """Run operation ``name`` and answer what the client gets (the answer shaped by the model);
    the answer must fit the output shape with nothing of it dropped."""
    op = model.operation(name)
    assert op is not None
    model.validate_input(op, params)
    raw = OPERATIONS[name](ctx, params)
    shaped = model.serialize_output(op, raw)
    assert_output_conforms(name, shaped)
    assert not _dropped(drop_none(raw), shaped, name), _dropped(drop_none(raw), shaped, name)
    return shaped


def fails(ctx, name: str, code: str, /, **params) -> EcsApiError:
    """Run operation ``name``; it must fail with ECS's error ``code`` (a 4xx)."""
    with pytest.raises(EcsApiError) as e:
        call(ctx, name, **params)
    assert e.value.code == code, e.value.message
    assert 400 <= e.value.status < 500
    return e.value
