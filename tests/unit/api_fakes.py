"""Fakes for the ECS API's unit tests: an in-memory Kubernetes (the KubeAccess protocol) with
generations, resourceVersions and preconditions, a stand-in for the operator's TaskDefinition
handler, a signer (botocore's own SigV4Auth) and a check that an answer fits its output shape."""

from __future__ import annotations

import copy
import json
import threading
from datetime import UTC, datetime
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from ecs_operator import API_VERSION
from ecs_operator.api import model, sigv4
from ecs_operator.api.context import RequestContext
from ecs_operator.api.operations import taskdefinitions
from ecs_operator.domain import revisions
from ecs_operator.k8s import ApiError

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
TARGET = "AmazonEC2ContainerServiceV20141113"


def _key(api_version: str, kind: str, namespace: str | None, name: str) -> tuple:
    return (api_version, kind, namespace, name)


class FakeKube:
    """An in-memory API server: create (409 when present), replace (409 on a stale
    resourceVersion), merge_patch, delete, get and list_ by labels. A spec change bumps
    ``metadata.generation``. ``deny``: (verb, kind) pairs answered 403, as RBAC would.
    ``hooks``: called after every write with (verb, object)."""

    def __init__(self) -> None:
        self.objects: dict[tuple, dict] = {}
        self.rv = 0
        self.deny: set[tuple[str, str]] = set()
        self.hooks: list = []
        self.lock = threading.RLock()

    def _check(self, verb: str, kind: str) -> None:
        if (verb, kind) in self.deny or ("*", kind) in self.deny:
            raise ApiError(403, "Forbidden", f'{kind.lower()}s is forbidden: User "u" cannot {verb}')

    def _stamp(self, obj: dict, generation: int) -> dict:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        obj["metadata"]["generation"] = generation
        return obj

    def _fire(self, verb: str, obj: dict) -> None:
        for hook in list(self.hooks):
            hook(verb, copy.deepcopy(obj))

    def get(self, api_version, kind, namespace, name):
        self._check("get", kind)
        with self.lock:
            obj = self.objects.get(_key(api_version, kind, namespace, name))
            return copy.deepcopy(obj) if obj else None

    def list_(self, api_version, kind, namespace, *, labels=None, label_selector=None, field_selector=None):
        self._check("list", kind)
        with self.lock:
            out = []
            for (av, k, ns, _), obj in sorted(self.objects.items()):
                if av == api_version and k == kind and ns == namespace:
                    have = obj["metadata"].get("labels") or {}
                    if all(have.get(lk) == lv for lk, lv in (labels or {}).items()):
                        out.append(copy.deepcopy(obj))
            return out

    def create(self, obj, *, canonical=False):
        self._check("create", obj["kind"])
        with self.lock:
            md = obj["metadata"]
            key = _key(obj["apiVersion"], obj["kind"], md.get("namespace"), md["name"])
            if key in self.objects:
                raise ApiError(409, "AlreadyExists", f"{md['name']} already exists")
            stored = self._stamp(copy.deepcopy(obj), 1)
            stored["metadata"].setdefault("uid", f"uid-{self.rv}")
            self.objects[key] = stored
            out = copy.deepcopy(stored)
        self._fire("create", out)
        return out

    def replace(self, obj):
        self._check("update", obj["kind"])
        with self.lock:
            md = obj["metadata"]
            key = _key(obj["apiVersion"], obj["kind"], md.get("namespace"), md["name"])
            current = self.objects.get(key)
            if current is None:
                raise ApiError(404, "NotFound", "not found")
            if md.get("resourceVersion") and md["resourceVersion"] != current["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict", "the object has been modified")
            gen = current["metadata"]["generation"] + (obj.get("spec") != current.get("spec"))
            stored = copy.deepcopy(obj)
            stored["status"] = current.get("status")
            stored["metadata"]["uid"] = current["metadata"].get("uid")
            self.objects[key] = self._stamp(stored, gen)
            out = copy.deepcopy(stored)
        self._fire("update", out)
        return out

    def apply(self, obj, *, force=True, subresource=None):
        raise NotImplementedError

    def merge_patch(self, api_version, kind, namespace, name, patch, subresource=None):
        self._check("patch", kind)
        with self.lock:
            key = _key(api_version, kind, namespace, name)
            current = self.objects.get(key)
            if current is None:
                raise ApiError(404, "NotFound", "not found")
            merged = _merge(copy.deepcopy(current), patch)
            gen = current["metadata"]["generation"] + (merged.get("spec") != current.get("spec"))
            self.objects[key] = self._stamp(merged, gen)
            out = copy.deepcopy(merged)
        self._fire("patch", out)
        return out

    def delete(self, api_version, kind, namespace, name, propagation="Background"):
        self._check("delete", kind)
        with self.lock:
            self.objects.pop(_key(api_version, kind, namespace, name), None)


def _merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return patch
    if not isinstance(target, dict):
        target = {}
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        else:
            target[k] = _merge(target.get(k), v)
    return target


class FakeOperator:
    """The operator's TaskDefinition handler in miniature: a TaskDefinition's new spec becomes
    revision n+1 (a ControllerRevision), and so does a new RegisterTaskDefinition request id
    (the revision records it), its status shows it; a container image named
    ``refused`` is refused (Ready=False), as the API server's dry run refuses a bad pod template.
    ``paused``: leave new generations unobserved."""

    def __init__(self, kube: FakeKube):
        self.kube = kube
        self.paused = False
        kube.hooks.append(self.on_write)

    def on_write(self, verb: str, obj: dict) -> None:
        if obj["kind"] == "TaskDefinition" and verb in ("create", "update") and not self.paused:
            self.reconcile(obj)

    def reconcile(self, obj: dict) -> None:
        md = obj["metadata"]
        status = obj.get("status") or {}
        spec = obj["spec"]
        family = spec["family"]
        request = (md.get("annotations") or {}).get(revisions.ANNOTATION_REQUEST)
        existing = revisions.revisions_from(
            self.kube.list_("apps/v1", "ControllerRevision", md["namespace"], labels=revisions.family_selector(family))
        )
        handled = request is None or any(r.request == request for r in existing)
        if status.get("observedGeneration") == md["generation"] and handled:
            return
        if any(c.get("image") == "refused" for c in spec.get("containerDefinitions") or []):
            ready = {"type": "Ready", "status": "False", "reason": "InvalidTaskDefinition", "message": "refused image"}
            self._status(obj, {**status, "observedGeneration": md["generation"], "conditions": [ready]})
            return
        canonical = taskdefinitions.canonical(spec)
        plan = revisions.plan_registration(existing, canonical, request)
        if plan.create:
            self.kube.create(
                revisions.controller_revision(
                    namespace=md["namespace"],
                    family=family,
                    revision=plan.revision,
                    canonical_spec=canonical,
                    registered_at="2025-03-01T12:00:00Z",
                    owner=None,
                    request=request,
                )
            )
        ready = {"type": "Ready", "status": "True", "reason": "Registered", "message": "ok"}
        self._status(obj, {"observedGeneration": md["generation"], "revision": plan.revision, "conditions": [ready]})

    def _status(self, obj: dict, status: dict) -> None:
        md = obj["metadata"]
        with self.kube.lock:
            stored = self.kube.objects[_key(API_VERSION, "TaskDefinition", md["namespace"], md["name"])]
            stored["status"] = status


def context(kube: FakeKube, namespace: str = "team-a", region: str = "eu-west-1") -> RequestContext:
    return RequestContext(
        region=region, account="123456789012", namespace=namespace, kube=kube, now=NOW, wait_timeout=0.5
    )


def signed_request(
    operation: str | None,
    body: Any,
    *,
    key_id: str = "AKIDEXAMPLE",
    secret: str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    region: str = "eu-west-1",
    host: str = "ecs.example.test:8443",
    content_type: str = "application/x-amz-json-1.1",
    extra_headers: dict[str, str] | None = None,
    sign: bool = True,
) -> sigv4.Request:
    """A request as a real client sends it, signed by botocore's own SigV4 signer."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": content_type, **(extra_headers or {})}
    if operation is not None:
        headers["X-Amz-Target"] = f"{TARGET}.{operation}"
    req = AWSRequest(method="POST", url=f"https://{host}/", data=data, headers=headers)
    if sign:
        SigV4Auth(Credentials(key_id, secret), "ecs", region).add_auth(req)
    lines = [("Host", host), *req.headers.items()]
    return sigv4.Request(method="POST", path="/", query="", headers=tuple(lines), body=data)


def conforms(shape, value, path: str = "") -> list[str]:
    """The ways ``value`` does not fit ``shape`` (empty: it fits)."""
    kind = shape.type_name
    problems: list[str] = []
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{path}: not an object"]
        for k, v in value.items():
            if k not in shape.members:
                problems.append(f"{path}.{k}: not in {shape.name}")
            else:
                problems += conforms(shape.members[k], v, f"{path}.{k}")
    elif kind == "list":
        if not isinstance(value, list):
            return [f"{path}: not a list"]
        for i, v in enumerate(value):
            problems += conforms(shape.member, v, f"{path}[{i}]")
    elif kind == "map":
        if not isinstance(value, dict):
            return [f"{path}: not a map"]
        for k, v in value.items():
            problems += conforms(shape.value, v, f"{path}.{k}")
    elif kind == "timestamp":
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(f"{path}: timestamp {value!r} is not epoch seconds")
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"{path}: {value!r} is not an integer")
    elif kind == "boolean":
        if not isinstance(value, bool):
            problems.append(f"{path}: {value!r} is not a boolean")
    elif kind == "string":
        if not isinstance(value, str):
            problems.append(f"{path}: {value!r} is not a string")
        elif shape.enum and value not in shape.enum:
            problems.append(f"{path}: {value!r} not in the enum")
    return problems


def assert_output_conforms(operation: str, body: dict) -> None:
    op = model.operation(operation)
    assert op is not None and op.output_shape is not None
    problems = conforms(op.output_shape, body, operation)
    assert not problems, problems


def kube_with_operator() -> FakeKube:
    """A FakeKube with the stand-in operator registering task definitions (``kube.operator``)."""
    kube = FakeKube()
    kube.operator = FakeOperator(kube)  # type: ignore[attr-defined]
    return kube
