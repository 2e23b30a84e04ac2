"""``ecs-operator convert`` and ``ecs-operator render``: offline tools for people migrating.

convert: ECS JSON (RegisterTaskDefinition / CreateService input, or describe-* output) ->
         CR YAML ready for ``kubectl apply``.
render:  a TaskDefinition/ECSService CR (or ECS JSON) -> the Kubernetes objects it becomes,
         without a cluster; warnings go to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml
from pydantic import ValidationError

from . import API_VERSION
from .domain.revisions import dns_name, parse_reference
from .models.generated import CreateServiceRequest, RegisterTaskDefinitionRequest
from .translate import service as svc_tr
from .translate.taskdef import TranslationError, register_input_from_ecs_json, translate_task_definition


class ConvertError(ValueError):
    pass


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    loc = ".".join(str(x) for x in err["loc"])
    return f"{loc}: {err['msg']}"


def _service_input(d: dict) -> dict:
    """A CreateService input from CreateService JSON or a DescribeServices service."""
    known = set(CreateServiceRequest.model_fields)
    if "serviceArn" in d or "clusterArn" in d:  # describe-services output: keep the input fields
        d = {k: v for k, v in d.items() if k in known}
    return d


def ecs_documents(data) -> list[tuple[str, dict]]:
    """Classify ECS JSON into (kind, spec) pairs."""
    if isinstance(data, list):
        return [doc for item in data for doc in ecs_documents(item)]
    if not isinstance(data, dict):
        raise ConvertError("input is not a JSON object")
    if "services" in data and isinstance(data["services"], list):
        return [("ECSService", _service_input(s)) for s in data["services"]]
    if "service" in data and isinstance(data["service"], dict):
        return [("ECSService", _service_input(data["service"]))]
    if "containerDefinitions" in data or isinstance(data.get("taskDefinition"), dict):
        return [("TaskDefinition", register_input_from_ecs_json(data))]
    if (
        "taskDefinition" in data
        or "serviceName" in data
        or "desiredCount" in data
        or (data and set(data) <= set(CreateServiceRequest.model_fields))
    ):
        return [("ECSService", _service_input(data))]
    raise ConvertError(
        "not an ECS task definition or service: expected containerDefinitions, taskDefinition or serviceName"
    )


def to_resource(kind: str, spec: dict, namespace: str | None = None) -> dict:
    if kind == "TaskDefinition":
        try:
            RegisterTaskDefinitionRequest.model_validate(spec)
        except ValidationError as e:
            raise ConvertError(_first_error(e)) from e
        name = spec.get("family") or ""
        if not name:
            raise ConvertError("family: a task definition needs a family")
    else:
        try:
            svc = CreateServiceRequest.model_validate(spec)
            svc_tr.validate(svc)
        except ValidationError as e:
            raise ConvertError(_first_error(e)) from e
        except svc_tr.ServiceError as e:
            raise ConvertError(str(e)) from e
        name = spec.get("serviceName") or ""
        if not name:
            raise ConvertError("serviceName: a service needs a name")
    md: dict = {"name": dns_name(name, 63)}
    if namespace:
        md["namespace"] = namespace
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": md, "spec": spec}


def load_documents(path: str) -> list[dict]:
    """Resources from a file: CR YAML/JSON (one or many) or ECS JSON."""
    text = sys.stdin.read() if path == "-" else Path(path).read_text()
    try:  # JSON first: valid JSON indented with tabs (as in the AWS docs) is not valid YAML
        docs = [json.loads(text)]
    except json.JSONDecodeError:
        try:
            docs = [d for d in yaml.safe_load_all(text) if d is not None]
        except yaml.YAMLError as e:
            raise ConvertError(f"cannot parse: {e}") from e
    out = []
    for d in docs:
        if isinstance(d, dict) and d.get("apiVersion") == API_VERSION:
            out.append(d)
        else:
            out.extend(to_resource(k, s) for k, s in ecs_documents(d))
    return out


def render(resources: list[dict]) -> tuple[list[dict], list[str]]:
    """Kubernetes objects for TaskDefinitions (a PodTemplate each, as revision 1) and ECSServices
    (a Deployment or DaemonSet, using a TaskDefinition from the same input)."""
    objects: list[dict] = []
    warnings: list[str] = []
    templates: dict[str, tuple[dict, str, list | None]] = {}
    for r in resources:
        if r.get("kind") != "TaskDefinition":
            continue
        spec = r.get("spec") or {}
        family = spec.get("family") or r["metadata"]["name"]
        try:
            model = RegisterTaskDefinitionRequest.model_validate(spec)
            t = translate_task_definition(model, family=family, revision=1)
        except ValidationError as e:
            raise ConvertError(_first_error(e)) from e
        except TranslationError as e:
            raise ConvertError(str(e)) from e
        templates[family] = (t.template, f"{family}:1", model.requiresCompatibilities)
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "PodTemplate",
                "metadata": {"name": dns_name(f"{family}-1", 253)},
                "template": t.template,
            }
        )
        objects.extend(t.objects)
        warnings += [f"TaskDefinition {family}: {w.field}: {w.message}" for w in t.warnings]
    for r in resources:
        if r.get("kind") != "ECSService":
            continue
        name = r["metadata"]["name"]
        try:
            svc = CreateServiceRequest.model_validate(r.get("spec") or {})
            family = parse_reference(svc.taskDefinition or "").family
        except ValidationError as e:
            raise ConvertError(_first_error(e)) from e
        except ValueError as e:
            raise ConvertError(str(e)) from e
        if family not in templates:
            raise ConvertError(f"taskDefinition: ECSService {name} uses {family!r}, which is not in the input")
        template, arn, compat = templates[family]
        owner = {
            "apiVersion": API_VERSION,
            "kind": "ECSService",
            "name": name,
            "uid": "00000000-0000-0000-0000-000000000000",
            "controller": True,
            "blockOwnerDeletion": True,
        }
        try:
            wl = svc_tr.workload(
                svc,
                name=name,
                namespace=r["metadata"].get("namespace", "default"),
                owner=owner,
                template=template,
                task_definition=arn,
                compatibilities=compat,
            )
        except svc_tr.ServiceError as e:
            raise ConvertError(str(e)) from e
        objects.append(wl.manifest)
        warnings += [f"ECSService {name}: {w.field}: {w.message}" for w in wl.warnings]
    return objects, warnings


def main_convert(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="ecs-operator convert", description="ECS JSON -> TaskDefinition / ECSService YAML for kubectl apply"
    )
    p.add_argument("files", nargs="+", help="ECS JSON files ('-' for stdin)")
    p.add_argument("-n", "--namespace")
    args = p.parse_args(argv)
    out: list[dict] = []
    for f in args.files:
        try:
            text = sys.stdin.read() if f == "-" else Path(f).read_text()
            data = json.loads(text)
            out.extend(to_resource(k, s, args.namespace) for k, s in ecs_documents(data))
        except (OSError, json.JSONDecodeError, ConvertError) as e:
            print(f"error: {f}: {e}", file=sys.stderr)
            return 1
    sys.stdout.write(yaml.safe_dump_all(out, sort_keys=False))
    return 0


def main_render(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="ecs-operator render", description="print the Kubernetes objects ECS resources translate to (offline)"
    )
    p.add_argument("files", nargs="+", help="CR YAML or ECS JSON files ('-' for stdin)")
    args = p.parse_args(argv)
    try:
        resources = [r for f in args.files for r in load_documents(f)]
        objects, warnings = render(resources)
    except (OSError, ConvertError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    sys.stdout.write(yaml.safe_dump_all(objects, sort_keys=False))
    return 0
