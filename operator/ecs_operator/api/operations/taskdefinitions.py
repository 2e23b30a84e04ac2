"""Task definitions: RegisterTaskDefinition, DescribeTaskDefinition, ListTaskDefinitions,
ListTaskDefinitionFamilies, DeregisterTaskDefinition and DeleteTaskDefinitions.

A family is one TaskDefinition object whose ``spec`` is RegisterTaskDefinition's input; the
operator registers each new spec as revision n+1, an immutable ControllerRevision labelled with
the family (``domain/revisions.py``). The API only writes the spec and reads what the operator
registered; revisions are read from the ControllerRevisions.

Revision numbers under concurrent registrations: a registration writes the family's spec only
while the operator has caught up with the object (``status.observedGeneration ==
metadata.generation``) and only if the object is unchanged since it was read (the
``resourceVersion`` precondition of a replace), then waits until the operator has observed its
generation. So at most one registration of a family is in flight at any time, every
registration gets its own revision, and concurrent callers get consecutive numbers. A spec the
operator refuses is rolled back (the previous spec restored, or the new object deleted) and
answered as ClientException.

ECS behaviours kept: ``family`` alone means the latest ACTIVE revision; DeregisterTaskDefinition
marks a revision INACTIVE (the ControllerRevision's ``ecs.seed.dev/status`` label);
DeleteTaskDefinitions takes only INACTIVE revisions and moves them to DELETE_IN_PROGRESS (kept,
so that the family's numbering goes on from the highest revision, as ECS's does).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from pydantic import ValidationError

from ... import API_VERSION
from ...domain import revisions
from ...errors import validation_message
from ...k8s import ApiError
from ...models.generated import RegisterTaskDefinitionRequest
from ...status import now_iso
from .. import arns, model, names, tagging
from ..context import RequestContext
from ..errors import EcsApiError, client_error, invalid_parameter, server_error
from . import operation, paginate

KIND = "TaskDefinition"
DELETE_IN_PROGRESS = "DELETE_IN_PROGRESS"
_POLL = 0.1


def spec_fields() -> tuple[str, ...]:
    """RegisterTaskDefinition's input members: the TaskDefinition spec's fields."""
    op = model.operation("RegisterTaskDefinition")
    assert op is not None and op.input_shape is not None
    return tuple(op.input_shape.members)


# --- reading revisions ------------------------------------------------------------------------


def family_revisions(ctx: RequestContext, family: str | None = None) -> list[revisions.Revision]:
    """The registered revisions (of ``family``, or all), oldest first."""
    if family is None:
        selector = {revisions.LABEL_KIND: revisions.KIND_VALUE}
    else:
        selector = revisions.family_selector(family)
    found = revisions.revisions_from(ctx.kube.list_("apps/v1", "ControllerRevision", ctx.namespace, labels=selector))
    return [r for r in found if family is None or r.family == family]


def families_revisions(ctx: RequestContext, families: set[str]) -> dict[str, list[revisions.Revision]]:
    """The registered revisions of each of ``families`` (oldest first), in one LIST (a set-based
    label selector on the family label)."""
    if not families:
        return {}
    values = ",".join(sorted({revisions.family_label(f) for f in families}))
    selector = f"{revisions.LABEL_KIND}={revisions.KIND_VALUE},{revisions.LABEL_FAMILY} in ({values})"
    found = revisions.revisions_from(
        ctx.kube.list_("apps/v1", "ControllerRevision", ctx.namespace, label_selector=selector)
    )
    out: dict[str, list[revisions.Revision]] = {f: [] for f in families}
    for r in found:
        if r.family in out:
            out[r.family].append(r)
    return out


def compatibilities(spec: dict[str, Any]) -> list[str]:
    """EC2 always; FARGATE too when the definition meets Fargate's requirements (awsvpc, task cpu
    and memory)."""
    fargate = spec.get("networkMode") == "awsvpc" and spec.get("cpu") and spec.get("memory")
    return ["EC2", "FARGATE"] if fargate else ["EC2"]


def view(ctx: RequestContext, rev: revisions.Revision) -> dict[str, Any]:
    """The ECS TaskDefinition a registered revision is."""
    out = {k: v for k, v in rev.spec.items() if k != "tags"}
    out.update(
        {
            "family": rev.family,
            "taskDefinitionArn": arns.task_definition(ctx.region, ctx.account, rev.family, rev.revision),
            "revision": rev.revision,
            "status": rev.status,
            "registeredAt": rev.registered_at,
            "deregisteredAt": rev.deregistered_at,
            "compatibilities": compatibilities(rev.spec),
        }
    )
    return out


def parse_ref(ref: str, *, need_revision: bool = False) -> revisions.TaskDefinitionRef:
    try:
        parsed = revisions.parse_reference(ref)
    except revisions.ReferenceError_ as e:
        raise client_error(str(e)) from e
    if need_revision and parsed.revision is None:
        raise client_error(f"Invalid revision number. Number: {ref}. A revision must be specified.")
    return parsed


def find_revision(ctx: RequestContext, ref: revisions.TaskDefinitionRef) -> revisions.Revision | None:
    return revisions.resolve(family_revisions(ctx, ref.family), ref)


# --- registration -----------------------------------------------------------------------------


def _family_of(obj: dict[str, Any]) -> str:
    return (obj.get("spec") or {}).get("family") or obj["metadata"]["name"]


def find_object(ctx: RequestContext, family: str) -> dict[str, Any] | None:
    """The family's TaskDefinition object (its derived name, else any object of the family)."""
    obj = ctx.kube.get(API_VERSION, KIND, ctx.namespace, names.object_name(family))
    if obj is not None and _family_of(obj) == family:
        return obj
    return next((o for o in ctx.kube.list_(API_VERSION, KIND, ctx.namespace) if _family_of(o) == family), None)


def _request_of(obj: dict[str, Any] | None) -> str | None:
    return ((obj or {}).get("metadata", {}).get("annotations") or {}).get(revisions.ANNOTATION_REQUEST)


def _settled(ctx: RequestContext, obj: dict[str, Any], family: str) -> bool:
    """The operator has acted on the object's current spec and registration request (or refused
    them: Ready=False at the current generation)."""
    if (obj.get("status") or {}).get("observedGeneration") != obj["metadata"].get("generation"):
        return False
    request = _request_of(obj)
    if request is None or _ready(obj).get("status") == "False":
        return True
    return any(r.request == request for r in family_revisions(ctx, family))


def _write(
    ctx: RequestContext, obj: dict[str, Any] | None, family: str, spec: dict[str, Any], request: str | None
) -> dict[str, Any] | None:
    """Create the family's object or replace its spec and request id (only if unchanged since
    read); None when someone else wrote first (409), to read again."""
    annotations = dict((obj or {}).get("metadata", {}).get("annotations") or {})
    annotations.pop(revisions.ANNOTATION_REQUEST, None)
    if request is not None:
        annotations[revisions.ANNOTATION_REQUEST] = request
    try:
        if obj is None:
            return ctx.kube.create(
                {
                    "apiVersion": API_VERSION,
                    "kind": KIND,
                    "metadata": {
                        "name": names.object_name(family),
                        "namespace": ctx.namespace,
                        "annotations": annotations,
                    },
                    "spec": spec,
                }
            )
        md = obj["metadata"]
        return ctx.kube.replace(
            {
                "apiVersion": API_VERSION,
                "kind": KIND,
                "metadata": {
                    "name": md["name"],
                    "namespace": ctx.namespace,
                    "resourceVersion": md["resourceVersion"],
                    "labels": md.get("labels") or {},
                    "annotations": annotations,
                    # a replace drops what it does not carry: keep others' finalizers and owners
                    **{k: md[k] for k in ("finalizers", "ownerReferences") if md.get(k)},
                },
                "spec": spec,
            }
        )
    except ApiError as e:
        if e.status == 409:
            return None
        raise


def _ready(obj: dict[str, Any]) -> dict[str, Any]:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), {})


def _rollback(ctx: RequestContext, written: dict[str, Any], previous: dict[str, Any] | None) -> None:
    """Undo a spec the operator refused: the object it created goes, an older spec (and its
    request id, which a revision has recorded) comes back."""
    md = written["metadata"]
    if previous is None:
        ctx.kube.delete(API_VERSION, KIND, ctx.namespace, md["name"])
        return
    current = ctx.kube.get(API_VERSION, KIND, ctx.namespace, md["name"])
    if current is not None and current["metadata"].get("generation") == md.get("generation"):
        _write(ctx, current, _family_of(previous), previous.get("spec") or {}, _request_of(previous))


def not_registered(family: str, timeout: float) -> EcsApiError:
    """The answer when the operator has not registered a revision in time: ServerException
    (HTTP 500), which SDKs retry; the family is then busy until the operator catches up, and the
    retry is another registration, as an ECS retry after a lost answer may be."""
    return server_error(
        f"The task definition {family} was submitted but not registered within {timeout:g} seconds "
        "(is the operator running?); ListTaskDefinitions shows it once the operator registers it."
    )


def _wait_registered(
    ctx: RequestContext, written: dict[str, Any], previous: dict[str, Any] | None, request: str, deadline: float
) -> revisions.Revision:
    """Wait until the operator has registered ``request`` (the revision recording it), or refused
    ``written``'s generation."""
    md = written["metadata"]
    family = _family_of(written)
    while True:
        obj = ctx.kube.get(API_VERSION, KIND, ctx.namespace, md["name"])
        if obj is None:
            raise client_error(f"The task definition family {family} was deleted while it was being registered.")
        observed = (obj.get("status") or {}).get("observedGeneration") or 0
        if observed >= md["generation"]:
            ready = _ready(obj)
            if observed == md["generation"] and ready.get("status") == "False":
                _rollback(ctx, written, previous)
                raise client_error(ready.get("message") or "The task definition was refused.")
            match = [r for r in family_revisions(ctx, family) if r.request == request]
            if match:
                return match[-1]
        if time.monotonic() > deadline:
            raise not_registered(family, ctx.wait_timeout)
        time.sleep(_POLL)


def register(ctx: RequestContext, family: str, spec: dict[str, Any]) -> revisions.Revision:
    """Write the spec with a new request id once the family's previous registration is done, then
    wait for the revision recording the id: every call registers a revision (an identical spec
    too, as in ECS)."""
    request = uuid.uuid4().hex
    deadline = time.monotonic() + ctx.wait_timeout
    while True:
        obj = find_object(ctx, family)
        written = None
        if obj is None or _settled(ctx, obj, family):
            written = _write(ctx, obj, family, spec, request)
        # else another registration is in flight: wait for the operator
        if written is not None:
            return _wait_registered(ctx, written, obj, request, deadline)
        if time.monotonic() > deadline:
            raise server_error(
                f"The task definition family {family} has a registration the operator has not finished within "
                f"{ctx.wait_timeout:g} seconds (is the operator running?); nothing was registered for this call."
            )
        time.sleep(_POLL)


def canonical(spec: dict[str, Any]) -> dict[str, Any]:
    """The revision content the operator stores for ``spec`` (as its handler computes it)."""
    try:
        out = RegisterTaskDefinitionRequest.model_validate(spec).model_dump(mode="json", exclude_none=True)
    except ValidationError as e:
        raise client_error(validation_message(e)) from e
    out["family"] = spec["family"]
    return out


@operation("RegisterTaskDefinition")
def register_task_definition(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    family = params["family"]
    if not names.is_ecs_name(family):
        raise client_error(f"Family contains invalid characters. {names.ECS_NAME_RULE}")
    spec = {k: params[k] for k in spec_fields() if params.get(k) is not None}
    canonical(spec)  # refuses what the operator would (ClientException) before anything is written
    rev = register(ctx, family, spec)
    return {"taskDefinition": view(ctx, rev), "tags": rev.spec.get("tags")}


@operation("DescribeTaskDefinition")
def describe_task_definition(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    rev = find_revision(ctx, parse_ref(params["taskDefinition"]))
    if rev is None:
        raise client_error("Unable to describe task definition.")
    out: dict[str, Any] = {"taskDefinition": view(ctx, rev)}
    if "TAGS" in (params.get("include") or ()):
        # TagResource keeps a revision's tags in an annotation of its ControllerRevision
        cr = ctx.kube.get("apps/v1", "ControllerRevision", ctx.namespace, rev.name) or {}
        found = tagging.annotated(cr, tagging.ANNOTATION)
        out["tags"] = found if found is not None else rev.spec.get("tags") or []
    return out


@operation("ListTaskDefinitions")
def list_task_definitions(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    status = params.get("status") or revisions.ACTIVE
    family = params.get("familyPrefix")  # ECS: the full family name, despite the parameter's name
    found = [r for r in family_revisions(ctx, family) if r.status == status]
    descending = params.get("sort") == "DESC"
    found.sort(key=lambda r: (r.family, r.revision), reverse=descending)
    page, token = paginate(found, lambda r: (r.family, r.revision), params, descending=descending)
    return {
        "taskDefinitionArns": [arns.task_definition(ctx.region, ctx.account, r.family, r.revision) for r in page],
        "nextToken": token,
    }


@operation("ListTaskDefinitionFamilies")
def list_task_definition_families(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    prefix = params.get("familyPrefix") or ""
    status = params.get("status") or "ALL"
    active: dict[str, bool] = {}
    for r in family_revisions(ctx):
        if r.family.startswith(prefix):
            active[r.family] = active.get(r.family, False) or r.status == revisions.ACTIVE
    wanted = sorted(f for f, a in active.items() if status == "ALL" or a == (status == revisions.ACTIVE))
    page, token = paginate(wanted, lambda f: f, params)
    return {"families": page, "nextToken": token}


def _label(ctx: RequestContext, rev: revisions.Revision, status: str, annotations: dict[str, str]) -> None:
    patch = {"metadata": {"labels": {revisions.LABEL_STATUS: status}, "annotations": annotations}}
    ctx.kube.merge_patch("apps/v1", "ControllerRevision", ctx.namespace, rev.name, patch)


@operation("DeregisterTaskDefinition")
def deregister_task_definition(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ref = parse_ref(params["taskDefinition"], need_revision=True)
    rev = find_revision(ctx, ref)
    if rev is None:
        raise client_error("The specified task definition does not exist.")
    if rev.status == revisions.ACTIVE:
        when = now_iso(ctx.now)
        _label(ctx, rev, revisions.INACTIVE, {revisions.ANNOTATION_DEREGISTERED_AT: when})
        rev = find_revision(ctx, ref) or rev
    return {"taskDefinition": view(ctx, rev)}


@operation("DeleteTaskDefinitions")
def delete_task_definitions(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    deleted, failures = [], []
    for value in params["taskDefinitions"]:
        ref = parse_ref(value, need_revision=True)
        arn = arns.task_definition(ctx.region, ctx.account, ref.family, ref.revision or 0)
        rev = find_revision(ctx, ref)
        if rev is None:
            failures.append({"arn": arn, "reason": "MISSING"})
        elif rev.status == revisions.ACTIVE:
            failures.append(
                {
                    "arn": arn,
                    "reason": "The specified task definition is still in ACTIVE status. "
                    "Please deregister the target and try again.",
                }
            )
        else:
            if rev.status != DELETE_IN_PROGRESS:
                _label(ctx, rev, DELETE_IN_PROGRESS, {})
            deleted.append({**view(ctx, rev), "status": DELETE_IN_PROGRESS})
    if not deleted and not failures:
        raise invalid_parameter("taskDefinitions: at least one task definition is required")
    return {"taskDefinitions": deleted, "failures": failures}
