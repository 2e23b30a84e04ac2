"""ECS's service model (botocore's ``ecs/service-2``): operations, input validation and output
serialisation, so that what the endpoint accepts and answers is exactly what ECS's own model
describes.

- Input: every member of the operation's input shape is checked (required members, JSON types,
  enums, ``min``/``max`` lengths, counts and ranges); a violation is an
  ``InvalidParameterException`` naming the member's path (``containerDefinitions[0].name``).
  Members the model does not know are ignored, as ECS ignores them.
- Output: the answer is walked along the output shape: members the shape does not have and
  ``None`` values are dropped; timestamps become epoch seconds as JSON numbers (the Go SDK
  refuses strings).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from botocore.loaders import Loader
from botocore.model import OperationModel, ServiceModel, Shape

from .errors import invalid_parameter


@functools.cache
def service() -> ServiceModel:
    return ServiceModel(Loader().load_service_model("ecs", "service-2"), service_name="ecs")


def target_prefix() -> str:
    """``AmazonEC2ContainerServiceV20141113``: the X-Amz-Target prefix of every operation."""
    return str(service().metadata["targetPrefix"])


def operation(name: str) -> OperationModel | None:
    """The operation named ``name`` (``DescribeClusters``), or None when ECS has no such one."""
    if name not in service().operation_names:
        return None
    return service().operation_model(name)


# --- input validation -------------------------------------------------------------------------


def validate_input(op: OperationModel, params: Any) -> None:
    """Raise InvalidParameterException (naming the member) when ``params`` does not fit the
    operation's input shape."""
    shape = op.input_shape
    if shape is None:
        return
    if not isinstance(params, dict):
        raise invalid_parameter("The request body must be a JSON object.")
    _check(shape, params, "")


def _name(path: str, member: str) -> str:
    return f"{path}.{member}" if path else member


def _check(shape: Shape, value: Any, path: str) -> None:
    checker = _CHECKERS.get(shape.type_name)
    if checker is not None:
        checker(shape, value, path or "request")


def _check_structure(shape: Shape, value: Any, path: str) -> None:
    if not isinstance(value, dict):
        raise invalid_parameter(f"{path}: expected an object")
    for member in shape.required_members:
        if value.get(member) is None:
            where = _name("" if path == "request" else path, member)
            raise invalid_parameter(f"{where}: a required parameter is missing")
    for member, sub in shape.members.items():
        if value.get(member) is not None:
            _check(sub, value[member], _name("" if path == "request" else path, member))


def _check_list(shape: Shape, value: Any, path: str) -> None:
    if not isinstance(value, list):
        raise invalid_parameter(f"{path}: expected a list")
    _check_bounds(shape, len(value), path, "items")
    for i, item in enumerate(value):
        if item is not None:
            _check(shape.member, item, f"{path}[{i}]")


def _check_map(shape: Shape, value: Any, path: str) -> None:
    if not isinstance(value, dict):
        raise invalid_parameter(f"{path}: expected an object (map)")
    _check_bounds(shape, len(value), path, "entries")
    for key, item in value.items():
        _check(shape.key, key, f"{path} key")
        if item is not None:
            _check(shape.value, item, f"{path}.{key}")


def _check_string(shape: Shape, value: Any, path: str) -> None:
    if not isinstance(value, str):
        raise invalid_parameter(f"{path}: expected a string")
    enum = shape.enum
    if enum and value not in enum:
        raise invalid_parameter(f"{path}: {value!r} is not one of {', '.join(enum)}")
    _check_bounds(shape, len(value), path, "characters")


def _check_integer(shape: Shape, value: Any, path: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_parameter(f"{path}: expected an integer")
    _check_bounds(shape, value, path, "")


def _check_number(shape: Shape, value: Any, path: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise invalid_parameter(f"{path}: expected a number")


def _check_boolean(shape: Shape, value: Any, path: str) -> None:
    if not isinstance(value, bool):
        raise invalid_parameter(f"{path}: expected a boolean")


def _check_timestamp(shape: Shape, value: Any, path: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise invalid_parameter(f"{path}: expected a timestamp (epoch seconds)")


def _check_bounds(shape: Shape, n: int, path: str, unit: str) -> None:
    lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
    what = f"{n} {unit}".strip()
    if lo is not None and n < lo:
        raise invalid_parameter(f"{path}: {what} is below the minimum of {lo}")
    if hi is not None and n > hi:
        raise invalid_parameter(f"{path}: {what} is above the maximum of {hi}")


_CHECKERS: dict[str, Callable[[Shape, Any, str], None]] = {
    "structure": _check_structure,
    "list": _check_list,
    "map": _check_map,
    "string": _check_string,
    "integer": _check_integer,
    "long": _check_integer,
    "float": _check_number,
    "double": _check_number,
    "boolean": _check_boolean,
    "timestamp": _check_timestamp,
    "blob": _check_string,
}


# --- output serialisation ---------------------------------------------------------------------


def serialize_output(op: OperationModel, result: dict[str, Any]) -> dict[str, Any]:
    """``result`` shaped by the operation's output shape (see the module's docstring)."""
    shape = op.output_shape
    if shape is None:
        return {}
    out = _shape(shape, result)
    return out if isinstance(out, dict) else {}


def _shape(shape: Shape, value: Any) -> Any:
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return None
        out = {}
        for member, sub in shape.members.items():
            if value.get(member) is not None:
                shaped = _shape(sub, value[member])
                if shaped is not None:
                    out[member] = shaped
        return out
    if kind == "list":
        return [s for s in (_shape(shape.member, v) for v in value if v is not None) if s is not None]
    if kind == "map":
        return {k: _shape(shape.value, v) for k, v in value.items() if v is not None}
    if kind == "timestamp":
        return epoch_seconds(value)
    return value


def epoch_seconds(value: Any) -> float | None:
    """A timestamp as epoch seconds: datetimes, ISO-8601 strings (``2024-05-01T12:00:00Z``) and
    numbers are accepted; anything else is None (dropped)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return round(value.timestamp(), 3)
    return None
