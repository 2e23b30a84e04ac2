"""Fuzzed ECS resources: hypothesis strategies for TaskDefinition, ECSService, ECSCluster and
ECSTask specs, valid and invalid, and the pure checks they must pass.

Each example is one of: a valid spec (the ECS shapes), a valid spec with one field broken (wrong
type, value out of its enum or range, too long; the broken field's name is known, so an admission
refusal can be checked to name it), or a spec drawn from the kind's CRD schema (the generated
shapes of botocore's model, crds/), within bounds that keep the cluster small (at most a few
tasks). Task definitions carry planted secrets: a Secrets Manager reference and environment
values that look like secrets, whose text must never appear in status, events or logs.

tests/integration/test_fuzz.py sends these through the real API server and the operator;
bench/fuzz.py runs more examples. Here, the pure half: every generated spec either validates into
its ECS model or is refused with pydantic's ValidationError, never another exception.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from ecs_operator.models.kinds import spec_model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from .test_translate_taskdef_hypothesis import task_definitions

CRDS = Path(__file__).resolve().parents[2] / "crds"
PLURALS = {
    "TaskDefinition": "taskdefinitions",
    "ECSService": "ecsservices",
    "ECSCluster": "ecsclusters",
    "ECSTask": "ecstasks",
}
KINDS = tuple(PLURALS)

#: Text planted in the fuzzed task definitions; none may appear in status, events or logs.
SECRET_ENV_VALUE = "fzpw-2f9c41d7e0b3"  # an environment value named like a password
SECRET_REF_NAME = "fzref-77ab31c9"  # inside a secrets[].valueFrom reference
SECRET_VALUE = "fzval-c3d19e5a40f2"  # the value of the Kubernetes Secret that reference names
PLANTED = (SECRET_ENV_VALUE, SECRET_REF_NAME, SECRET_VALUE)
SECRET_REF = f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{SECRET_REF_NAME}"

#: The task definition family the fuzzed services and tasks mostly name (registered by the test).
FAMILY = "fz-web"
#: Integer fields that start tasks: bounded so that a fuzz run starts a handful at most.
_BOUNDED_INTS = {"desiredCount": (0, 3), "count": (1, 3)}
_MAX_DEPTH = 4

_STRINGS = st.sampled_from(
    ["", "x", "web", "default", "ALL", "a b", "0", "-1", "arn:aws:ecs:us-east-1:123456789012:cluster/x", "ü", "a" * 300]
)
_WRONG = st.sampled_from([{"a": 1}, ["x"], "not-a-number", -1, 2**40, True, None, "BOGUS_ENUM", "a" * 2000, 1.5])


@cache
def spec_schema(kind: str) -> dict[str, Any]:
    """The ``spec`` schema of ``kind``'s CRD (as shipped in crds/)."""
    crd = yaml.safe_load((CRDS / f"{PLURALS[kind]}.yaml").read_text())
    version = next(v for v in crd["spec"]["versions"] if v.get("storage", True))
    return version["schema"]["openAPIV3Schema"]["properties"]["spec"]


def from_schema(schema: dict[str, Any], depth: int = 0, key: str = "") -> st.SearchStrategy[Any]:
    """Values shaped by an OpenAPI v3 schema (mostly valid: bounds and enums kept; CEL rules not)."""
    if key in _BOUNDED_INTS:
        return st.integers(*_BOUNDED_INTS[key])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if schema.get("x-kubernetes-int-or-string"):
        return st.one_of(st.integers(0, 4096), st.sampled_from(["256", "0.5", "1 vCPU", "2GB", "x"]))
    if kind == "string":
        limit = schema.get("maxLength", 300)
        return st.one_of(_STRINGS, st.text(max_size=12)).filter(lambda s: len(s) <= limit)
    if kind == "integer":
        return st.integers(schema.get("minimum", -5), schema.get("maximum", 100000))
    if kind == "number":
        return st.floats(schema.get("minimum", -1), schema.get("maximum", 1e6), allow_nan=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        if depth >= _MAX_DEPTH:
            return st.just([])
        return st.lists(
            from_schema(schema.get("items") or {"type": "string"}, depth + 1),
            max_size=min(schema.get("maxItems", 3), 3),
        )
    if kind == "object" or "properties" in schema:
        return _object(schema, depth)
    return st.sampled_from(["x", 1, {"k": "v"}])


def _object(schema: dict[str, Any], depth: int) -> st.SearchStrategy[dict[str, Any]]:
    props = schema.get("properties") or {}
    if not props:
        extra = schema.get("additionalProperties")
        values = from_schema(extra, depth + 1) if isinstance(extra, dict) else st.text(max_size=8)
        return st.dictionaries(st.text("abcdef", min_size=1, max_size=6), values, max_size=2)
    required = [k for k in schema.get("required") or [] if k in props]
    optional = sorted(k for k in props if k not in required)
    width = 6 if depth == 0 else 3
    if depth >= _MAX_DEPTH:
        width = 0

    @st.composite
    def build(draw):
        keys = (
            required + draw(st.lists(st.sampled_from(optional), max_size=width, unique=True)) if optional else required
        )
        return {k: draw(from_schema(props[k], depth + 1, k)) for k in keys}

    return build()


# ------------------------------------------------------------------------------------------
# Valid specs, and one broken field


def _with_secrets(td: dict[str, Any]) -> dict[str, Any]:
    td = copy.deepcopy(td)
    first = td["containerDefinitions"][0]
    first["secrets"] = [{"name": "DB_PASSWORD", "valueFrom": SECRET_REF}]
    first["environment"] = [
        *(e for e in first.get("environment") or [] if e.get("name") not in ("API_TOKEN", "DB_PASSWORD")),
        {"name": "API_TOKEN", "value": SECRET_ENV_VALUE},
    ]
    return td


def valid_task_definition() -> st.SearchStrategy[dict[str, Any]]:
    return task_definitions().map(_with_secrets)


_SERVICE = st.fixed_dictionaries(
    {"taskDefinition": st.sampled_from([FAMILY, f"{FAMILY}:1"]), "desiredCount": st.integers(0, 2)},
    optional={
        "launchType": st.sampled_from(["EC2", "FARGATE"]),
        "placementStrategy": st.just([{"type": "spread", "field": "attribute:ecs.availability-zone"}]),
        "deploymentConfiguration": st.fixed_dictionaries(
            {"maximumPercent": st.integers(100, 200), "minimumHealthyPercent": st.integers(0, 100)}
        ),
        "healthCheckGracePeriodSeconds": st.integers(0, 60),
        "propagateTags": st.sampled_from(["SERVICE", "NONE"]),
        "tags": st.just([{"key": "team", "value": "fuzz"}]),
    },
)
_CLUSTER = st.fixed_dictionaries(
    {},
    optional={
        "settings": st.just([{"name": "containerInsights", "value": "enabled"}]),
        "tags": st.just([{"key": "team", "value": "fuzz"}]),
    },
)
_TASK = st.fixed_dictionaries(
    {"taskDefinition": st.just(FAMILY), "count": st.integers(1, 2)},
    optional={
        "launchType": st.sampled_from(["EC2", "FARGATE"]),
        "startedBy": st.sampled_from(["fuzz", "ci"]),
        "overrides": st.just({"containerOverrides": [{"name": "c", "environment": [{"name": "A", "value": "b"}]}]}),
    },
)


def valid_spec(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    return {
        "TaskDefinition": valid_task_definition(),
        "ECSService": _SERVICE,
        "ECSCluster": _CLUSTER,
        "ECSTask": _TASK,
    }[kind]


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a leaf or container below ``value`` (dict keys and list indexes)."""
    out: list[tuple] = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for k, v in items:
        out.append((*prefix, k))
        out.extend(_paths(v, (*prefix, k)))
    return out


def _set(value: Any, path: tuple, new: Any) -> Any:
    value = copy.deepcopy(value)
    target = value
    for k in path[:-1]:
        target = target[k]
    target[path[-1]] = new
    return value


def field_of(path: tuple) -> str:
    """The name a refusal should mention: the last dict key of ``path``."""
    return next((str(k) for k in reversed(path) if isinstance(k, str)), "spec")


@st.composite
def broken_spec(draw, kind: str) -> tuple[dict[str, Any], str]:
    """A valid spec with one field replaced by a value of the wrong type, range, enum or size;
    returns (spec, the broken field's name)."""
    spec = draw(valid_spec(kind))
    paths = [p for p in _paths(spec) if isinstance(p[-1], str)]
    paths += [(k,) for k in sorted(spec_schema(kind)["properties"]) if k not in spec][:3]
    path = draw(st.sampled_from(paths))
    return _set(spec, path, draw(_WRONG)), field_of(path)


@st.composite
def fuzzed(draw, kinds: tuple[str, ...] = KINDS) -> dict[str, Any]:
    """One fuzzed resource: {"kind", "spec", "how" (valid / broken / schema), "field" (broken)}."""
    kind = draw(st.sampled_from(kinds))
    how = draw(st.sampled_from(["valid", "broken", "schema"]))
    field = None
    if how == "valid":
        spec = draw(valid_spec(kind))
    elif how == "broken":
        spec, field = draw(broken_spec(kind))
    else:
        spec = draw(from_schema(spec_schema(kind)))
        if kind in ("ECSService", "ECSTask") and draw(st.booleans()):
            spec["taskDefinition"] = FAMILY  # most name a family that exists, to go further
    return {"kind": kind, "spec": spec, "how": how, "field": field}


# ------------------------------------------------------------------------------------------
# The pure checks


@settings(max_examples=150, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(fuzzed())
def test_every_fuzzed_spec_validates_or_is_refused_as_a_validation_error(example):
    json.dumps(example["spec"])  # what is sent to the API server is JSON
    try:
        spec_model(example["kind"]).model_validate(example["spec"])
    except ValidationError:
        assert example["how"] != "valid", example


@settings(max_examples=60, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(KINDS).flatmap(valid_spec))
def test_valid_specs_are_valid_and_bounded(spec):
    assert spec.get("desiredCount", 0) <= 3 and spec.get("count", 1) <= 3
    if "containerDefinitions" in spec:
        assert SECRET_REF in json.dumps(spec) and SECRET_ENV_VALUE in json.dumps(spec)


@settings(max_examples=60, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(KINDS).flatmap(lambda k: from_schema(spec_schema(k))))
def test_schema_drawn_specs_keep_task_counts_small(spec):
    assert 0 <= spec.get("desiredCount", 0) <= 3 and 1 <= spec.get("count", 1) <= 3
    assert len(json.dumps(spec)) < 200_000


def test_a_broken_field_is_named():
    assert field_of(("containerDefinitions", 0, "portMappings", 1)) == "portMappings"
    assert field_of(("desiredCount",)) == "desiredCount"
    assert _set({"a": [{"b": 1}]}, ("a", 0, "b"), "x") == {"a": [{"b": "x"}]}
