"""Tags: TagResource, UntagResource and ListTagsForResource for clusters, services, task
definition revisions, tasks and capacity providers, named by their ECS ARNs.

Where each kind keeps its tags, and ECS's rules for them (50 per resource, key and value
lengths and characters, the reserved ``aws:`` prefix), are in :mod:`ecs_operator.api.tagging`.

ECS behaviours kept: TagResource overwrites the value of a key present already; UntagResource
ignores keys the resource does not have; an ARN of an unknown cluster is
ClusterNotFoundException, of another missing resource ResourceNotFoundException; the built-in
FARGATE and FARGATE_SPOT providers have no tags and take none; an ARN that is not an ECS ARN of
one of these kinds, or not of this account and region, is InvalidParameterException.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ... import API_VERSION
from ...domain.capacity import FARGATE_PROVIDERS
from ...translate.task import task_id
from .. import arns, tagging
from ..context import RequestContext
from ..errors import EcsApiError, invalid_parameter
from . import capacityproviders, clusters, operation, taskdefinitions

Tags = list[dict[str, Any]]


@dataclass(frozen=True)
class Tagged:
    """A resource's tags: ``read`` them, ``write`` the full new list."""

    read: Callable[[], Tags]
    write: Callable[[Tags], None]


def _not_found(arn: str) -> EcsApiError:
    return EcsApiError("ResourceNotFoundException", f"The specified resource {arn} could not be found.")


def _spec_tags(ctx: RequestContext, kind: str, obj: dict[str, Any]) -> Tagged:
    def write(tags: Tags) -> None:
        ctx.kube.merge_patch(API_VERSION, kind, ctx.namespace, obj["metadata"]["name"], {"spec": {"tags": tags}})

    return Tagged(lambda: tagging.tags_of(obj), write)


def _annotation_tags(
    ctx: RequestContext, api_version: str, kind: str, obj: dict[str, Any], annotation: str, fallback: Tags
) -> Tagged:
    def read() -> Tags:
        found = tagging.annotated(obj, annotation)
        return fallback if found is None else found

    def write(tags: Tags) -> None:
        patch = tagging.annotation_patch(annotation, tags)
        ctx.kube.merge_patch(api_version, kind, ctx.namespace, obj["metadata"]["name"], patch)

    return Tagged(read, write)


def _cluster(ctx: RequestContext, arn: arns.Arn) -> Tagged:
    obj = clusters.require(ctx, arn.path[0])
    return _spec_tags(ctx, clusters.KIND, obj)


def _capacity_provider(ctx: RequestContext, arn: arns.Arn) -> Tagged:
    name = arn.path[0]
    if name in FARGATE_PROVIDERS:

        def refuse(_: Tags) -> None:
            raise invalid_parameter(f"The {name} capacity provider is managed by Amazon ECS and cannot be tagged.")

        return Tagged(list, refuse)
    obj = capacityproviders.find(ctx, name)
    if obj is None:
        raise _not_found(str(arn))
    return _spec_tags(ctx, capacityproviders.KIND, obj)


def _split(arn: arns.Arn) -> tuple[str, str]:
    """(cluster, name) of a ``service/`` or ``task/`` ARN; the old short form names no cluster
    (``default``)."""
    if len(arn.path) == 1:
        return clusters.DEFAULT, arn.path[0]
    if len(arn.path) == 2:
        return arn.path[0], arn.path[1]
    raise invalid_parameter(f"Invalid ARN: {arn}")


def _service(ctx: RequestContext, arn: arns.Arn) -> Tagged:
    cluster, name = _split(arn)
    clusters.require(ctx, cluster)
    for obj in ctx.kube.list_(API_VERSION, "ECSService", ctx.namespace):
        spec = obj.get("spec") or {}
        if (spec.get("serviceName") or obj["metadata"]["name"]) == name and clusters.cluster_ref(
            spec.get("cluster")
        ) == cluster:
            if obj["metadata"].get("deletionTimestamp"):
                break
            fallback = list(spec.get("tags") or [])
            return _annotation_tags(ctx, API_VERSION, "ECSService", obj, tagging.ANNOTATION, fallback)
    raise _not_found(str(arn))


def _task_ids(obj: dict[str, Any]) -> set[str]:
    """The ids of an ECSTask's tasks: those its status records, and those its count gives."""
    recorded = {str(t.get("taskArn") or "").rsplit("/", 1)[-1] for t in (obj.get("status") or {}).get("tasks") or []}
    uid = obj["metadata"].get("uid") or ""
    count = (obj.get("spec") or {}).get("count") or 1
    return (recorded | {task_id(uid, i) for i in range(count)}) - {""}


def _task(ctx: RequestContext, arn: arns.Arn) -> Tagged:
    cluster, tid = _split(arn)
    clusters.require(ctx, cluster)
    for obj in ctx.kube.list_(API_VERSION, "ECSTask", ctx.namespace):
        spec = obj.get("spec") or {}
        if clusters.cluster_ref(spec.get("cluster")) == cluster and tid in _task_ids(obj):
            fallback = list(spec.get("tags") or [])
            return _annotation_tags(ctx, API_VERSION, "ECSTask", obj, tagging.task_annotation(tid), fallback)
    raise _not_found(str(arn))


def _task_definition(ctx: RequestContext, arn: arns.Arn) -> Tagged:
    ref = taskdefinitions.parse_ref("/".join(arn.path), need_revision=True)
    rev = taskdefinitions.find_revision(ctx, ref)
    obj = None if rev is None else ctx.kube.get("apps/v1", "ControllerRevision", ctx.namespace, rev.name)
    if rev is None or obj is None or rev.status == taskdefinitions.DELETE_IN_PROGRESS:
        raise _not_found(str(arn))
    fallback = list(rev.spec.get("tags") or [])
    return _annotation_tags(ctx, "apps/v1", "ControllerRevision", obj, tagging.ANNOTATION, fallback)


_KINDS: dict[str, Callable[[RequestContext, arns.Arn], Tagged]] = {
    "cluster": _cluster,
    "capacity-provider": _capacity_provider,
    "service": _service,
    "task": _task,
    "task-definition": _task_definition,
}


def resource(ctx: RequestContext, value: str) -> Tagged:
    """The resource an ARN names, or ECS's error for it."""
    arn = arns.parse(value)
    if arn is None or arn.kind not in _KINDS or not arn.path or not all(arn.path):
        raise invalid_parameter(
            f"Invalid resource ARN {value!r}: expected the ARN of a cluster, service, task definition, "
            "task or capacity provider."
        )
    if (arn.region, arn.account) != (ctx.region, ctx.account):
        raise invalid_parameter(f"The resource ARN {value} is not of account {ctx.account} in {ctx.region}.")
    if arn.kind == "task-definition" and len(arn.path) != 1:
        raise invalid_parameter(f"Invalid task definition ARN: {value}")
    return _KINDS[arn.kind](ctx, arn)


@operation("TagResource")
def tag_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    target = resource(ctx, params["resourceArn"])
    target.write(tagging.tagged(target.read(), params["tags"]))
    return {}


@operation("UntagResource")
def untag_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    keys = params["tagKeys"]
    tagging.check_keys(keys)
    target = resource(ctx, params["resourceArn"])
    current = target.read()
    remaining = tagging.untagged(current, keys)
    if remaining != current:
        target.write(remaining)
    return {}


@operation("ListTagsForResource")
def list_tags_for_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"tags": resource(ctx, params["resourceArn"]).read()}
