"""Services: CreateService, DescribeServices, ListServices, UpdateService, DeleteService,
ListServiceDeployments, DescribeServiceDeployments and DescribeServiceRevisions, on ECSService
objects.

An ECSService's ``spec`` is CreateService's input (the operator runs it, docs/ecsservice-mapping.md);
counts, deployments, rollout state and events come from the status the operator writes.

ECS behaviours kept:

- service names are unique per cluster: the object of service ``web`` is ``web`` in ``default``
  and a hashed name (``prod-web-<hash>``) in any other cluster, so two clusters' ``web`` never
  collide; the ECS names are kept in the spec (``serviceName``, ``cluster``) and answered from there;
- CreateService and DescribeServices show a PRIMARY deployment at once: until the operator has
  acted on the spec, the view adds the deployment the spec asks for (the old ones become ACTIVE),
  so the ``services-stable`` waiter never mistakes an old steady state for the new one;
- DeleteService refuses a service scaled above 0 unless ``force``; the service is DRAINING while
  its tasks stop (the ECSService is being deleted, the operator drains it), then INACTIVE for
  :data:`INACTIVE_TTL`: a *tombstone* (an annotation on the ECSCluster, see :func:`bury`) keeps
  what DescribeServices shows of it, so no second database is needed and nothing blocks the
  cluster's deletion;
- ``forceNewDeployment`` restarts the service's tasks as ``kubectl rollout restart`` does (the
  ``kubectl.kubernetes.io/restartedAt`` annotation of the workloads' pod template, a field the
  operator's server-side apply does not own and so keeps).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from ... import API_VERSION, GROUP, constants
from ...domain import revisions
from ...k8s import ApiError
from ...k8s import records as _records_kinds  # noqa: F401 - registers the records' kinds
from ...models.generated import CreateServiceRequest
from ...plans.deployment import record_name
from ...status import now_iso
from ...translate import service as svc_tr
from ...translate.names import digest
from ...translate.service_status import deployment_id
from .. import arns, model, names, tagging
from ..context import RequestContext
from ..errors import EcsApiError, client_error, invalid_parameter
from . import clusters, operation, paginate, taskdefinitions, validated

KIND = "ECSService"
#: how long a deleted service stays describable as INACTIVE
INACTIVE_TTL = timedelta(hours=1)
#: at most this many tombstones per cluster (the oldest go first)
MAX_TOMBSTONES = 200
TOMBSTONE = f"{GROUP}/inactive-service-"
#: ECSService annotation: when UpdateService last forced a new deployment
FORCED_AT = f"{GROUP}/force-new-deployment-at"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
DEFAULT_DEPLOYMENT_CONFIGURATION = {
    "maximumPercent": 200,
    "minimumHealthyPercent": 100,
    "deploymentCircuitBreaker": {"enable": False, "rollback": False},
}
#: Service members copied from the spec as they are
_SPEC_ECHO = (
    "loadBalancers",
    "serviceRegistries",
    "platformVersion",
    "placementConstraints",
    "placementStrategy",
    "networkConfiguration",
    "healthCheckGracePeriodSeconds",
    "availabilityZoneRebalancing",
)


def create_fields() -> tuple[str, ...]:
    op = model.operation("CreateService")
    assert op is not None and op.input_shape is not None
    return tuple(op.input_shape.members)


def update_fields() -> tuple[str, ...]:
    """UpdateService's members that are CreateService's too (written into the spec)."""
    op = model.operation("UpdateService")
    assert op is not None and op.input_shape is not None
    create = set(create_fields())
    return tuple(m for m in op.input_shape.members if m in create and m not in ("cluster", "service"))


# --- names and lookups ------------------------------------------------------------------------


def service_name(obj: dict[str, Any]) -> str:
    return (obj.get("spec") or {}).get("serviceName") or obj["metadata"]["name"]


def cluster_of(obj: dict[str, Any]) -> str:
    return svc_tr.cluster_name((obj.get("spec") or {}).get("cluster"))


def object_name(cluster: str, service: str) -> str:
    """The ECSService's object name: the service's own in ``default``, else derived from both
    names (a dot never occurs in an ECS name, so the mapping is collision-free)."""
    return names.object_name(service if cluster == clusters.DEFAULT else f"{cluster}.{service}")


def service_arn(ctx: RequestContext, cluster: str, service: str) -> str:
    return arns.service(ctx.region, ctx.account, cluster, service)


def find(ctx: RequestContext, cluster: str, service: str) -> dict[str, Any] | None:
    """The ECSService of ``service`` in ``cluster`` (by its derived name, else any object whose
    spec names it: objects made with kubectl may be named otherwise)."""
    if not names.is_ecs_name(service):
        return None
    obj = ctx.kube.get(API_VERSION, KIND, ctx.namespace, object_name(cluster, service))
    if obj is not None and (cluster_of(obj), service_name(obj)) == (cluster, service):
        return obj
    return next((o for o in in_cluster(ctx, cluster) if service_name(o) == service), None)


def in_cluster(ctx: RequestContext, cluster: str) -> list[dict[str, Any]]:
    return [o for o in ctx.kube.list_(API_VERSION, KIND, ctx.namespace) if cluster_of(o) == cluster]


def _not_found() -> EcsApiError:
    return EcsApiError("ServiceNotFoundException", "Service not found.")


def _not_active() -> EcsApiError:
    return EcsApiError("ServiceNotActiveException", "Service was not ACTIVE.")


def require_live(ctx: RequestContext, cluster: str, ref: str) -> dict[str, Any]:
    """The ACTIVE service ``ref`` names, or ServiceNotFoundException / ServiceNotActiveException."""
    name = arns.name_of(ref, "service")
    obj = find(ctx, cluster, name)
    if obj is None:
        if tombstone(ctx, cluster, name) is not None:
            raise _not_active()
        raise _not_found()
    if obj["metadata"].get("deletionTimestamp"):
        raise _not_active()
    return obj


# --- tombstones: deleted services stay INACTIVE for a while -----------------------------------


def _tombstone_key(service: str) -> str:
    return TOMBSTONE + digest(service, 16)


def _parse_time(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat((value or "").replace("Z", "+00:00"))
    except ValueError:
        return None


def _live_tombstones(cluster_obj: dict[str, Any], now: datetime) -> dict[str, dict[str, Any]]:
    out = {}
    for key, value in (cluster_obj["metadata"].get("annotations") or {}).items():
        if not key.startswith(TOMBSTONE):
            continue
        try:
            stone = json.loads(value)
        except ValueError:
            continue
        deleted = _parse_time(stone.get("deletedAt"))
        if isinstance(stone, dict) and deleted is not None and now - deleted < INACTIVE_TTL:
            out[key] = stone
    return out


def tombstone(ctx: RequestContext, cluster: str, service: str) -> dict[str, Any] | None:
    """What a service deleted less than :data:`INACTIVE_TTL` ago left on its cluster."""
    cluster_obj = clusters.find(ctx, cluster)
    if cluster_obj is None:
        return None
    stone = _live_tombstones(cluster_obj, ctx.now).get(_tombstone_key(service))
    return stone if stone and stone.get("serviceName") == service else None


def bury(ctx: RequestContext, cluster_obj: dict[str, Any], stone: dict[str, Any]) -> None:
    """Keep a deleted service's tombstone on its ECSCluster (one annotation per service name,
    so concurrent deletions never overwrite each other), dropping expired ones."""
    annotations = cluster_obj["metadata"].get("annotations") or {}
    live = _live_tombstones(cluster_obj, ctx.now)
    patch: dict[str, Any] = {k: None for k in annotations if k.startswith(TOMBSTONE) and k not in live}
    oldest = sorted(live, key=lambda k: live[k].get("deletedAt") or "")
    for k in oldest[: max(0, len(live) - MAX_TOMBSTONES + 1)]:
        patch[k] = None
    patch[_tombstone_key(stone["serviceName"])] = json.dumps(stone, separators=(",", ":"))
    ctx.kube.merge_patch(
        API_VERSION, clusters.KIND, ctx.namespace, cluster_obj["metadata"]["name"], {"metadata": {"annotations": patch}}
    )


def _inactive_view(ctx: RequestContext, stone: dict[str, Any]) -> dict[str, Any]:
    cluster, name = stone["cluster"], stone["serviceName"]
    td = stone.get("taskDefinition")
    return {
        **{k: v for k, v in stone.items() if k not in ("cluster", "taskDefinition", "deletedAt")},
        "serviceArn": service_arn(ctx, cluster, name),
        "clusterArn": arns.cluster(ctx.region, ctx.account, cluster),
        "status": "INACTIVE",
        "desiredCount": 0,
        "runningCount": 0,
        "pendingCount": 0,
        "taskDefinition": _td_arn(ctx, td) if td else None,
        "deployments": [],
        "events": [],
    }


# --- the view ---------------------------------------------------------------------------------


def _td_arn(ctx: RequestContext, ref: str) -> str:
    """A task definition reference (``family:revision`` or an ARN) as an ARN; a bare family stays."""
    try:
        parsed = revisions.parse_reference(ref)
    except revisions.ReferenceError_:
        return ref
    if parsed.revision is None:
        return ref
    return arns.task_definition(ctx.region, ctx.account, parsed.family, parsed.revision)


#: revisions of task definition families, read once per request (DescribeServices)
Families = dict[str, list[revisions.Revision]]


def resolve(ctx: RequestContext, ref: str | None, families: Families | None = None) -> revisions.Revision | None:
    """The revision a service's ``taskDefinition`` names (from ``families`` when given)."""
    if not ref:
        return None
    try:
        parsed = revisions.parse_reference(ref)
    except revisions.ReferenceError_:
        return None
    if families is not None and parsed.family in families:
        return revisions.resolve(families[parsed.family], parsed)
    return taskdefinitions.find_revision(ctx, parsed)


def family_of(obj: dict[str, Any]) -> str | None:
    try:
        return revisions.parse_reference((obj.get("spec") or {}).get("taskDefinition") or "").family
    except revisions.ReferenceError_:
        return None


def _placement(spec: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    strategy = spec.get("capacityProviderStrategy") or status.get("capacityProviderStrategy")
    if strategy:
        return {"capacityProviderStrategy": strategy}
    return {"launchType": spec.get("launchType") or status.get("launchType") or "EC2"}


def _settled(obj: dict[str, Any]) -> bool:
    return (obj.get("status") or {}).get("observedGeneration") == obj["metadata"].get("generation")


def _deployment(ctx: RequestContext, d: dict[str, Any], placement: dict[str, Any]) -> dict[str, Any]:
    out = {k: d.get(k) for k in ("id", "status", "desiredCount", "pendingCount", "runningCount", "failedTasks")}
    out.update(
        taskDefinition=_td_arn(ctx, d.get("taskDefinition") or ""),
        createdAt=d.get("createdAt"),
        updatedAt=d.get("updatedAt"),
        rolloutState=d.get("rolloutState"),
        rolloutStateReason=d.get("rolloutStateReason"),
        **placement,
    )
    return out


#: Seconds a forced new deployment shows as a new PRIMARY when the operator's status has not
#: changed since (a restart that keeps every count the same leaves its deployments as they were).
FORCED_WINDOW = 15


def _forced_after(obj: dict[str, Any], deployments: list[dict[str, Any]], now: str) -> bool:
    """UpdateService forced a new deployment the status does not show yet (for FORCED_WINDOW
    seconds at most: after that the operator's status, whose counts follow the replaced tasks,
    is the answer)."""
    forced = (obj["metadata"].get("annotations") or {}).get(FORCED_AT)
    if not forced or not deployments:
        return False
    seen = max((d.get("updatedAt") or d.get("createdAt") or "") for d in deployments)
    try:
        age = (_parse_iso(now) - _parse_iso(forced)).total_seconds()
    except ValueError:
        age = 0.0
    return bool(seen < forced) and age < FORCED_WINDOW


def _parse_iso(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")


def deployments(
    ctx: RequestContext, obj: dict[str, Any], created: str, rev: revisions.Revision | None
) -> list[dict[str, Any]]:
    """The service's ECS deployments: the operator's, with a PRIMARY one for a spec (or a forced
    new deployment) it has not acted on yet. ``rev``: the revision the spec names now."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    placement = _placement(spec, status)
    current = [_deployment(ctx, d, placement) for d in status.get("deployments") or []]
    wanted = rev.arn if rev is not None else status.get("taskDefinition") or spec.get("taskDefinition") or ""
    stale = (not _settled(obj) and wanted != status.get("taskDefinition")) or (
        rev is not None and _primary_behind(obj, rev.arn)
    )
    if current and not stale and not _forced_after(obj, status.get("deployments") or [], now_iso(ctx.now)):
        return current
    primary = {
        "id": deployment_id(f"{obj['metadata']['name']}/{wanted}"),
        "status": "PRIMARY",
        "taskDefinition": wanted,
        "desiredCount": spec.get("desiredCount", 0),
        "pendingCount": 0,
        "runningCount": 0,
        "failedTasks": 0,
        "createdAt": created,
        "updatedAt": created,
        "rolloutState": "IN_PROGRESS",
        "rolloutStateReason": "ECS deployment in progress.",
    }
    return [_deployment(ctx, primary, placement)] + [{**d, "status": "ACTIVE"} for d in current]


def _primary_behind(obj: dict[str, Any], wanted: str) -> bool:
    """The operator already runs toward ``wanted`` (its status may say so) but its PRIMARY
    deployment still shows the former revision (the Deployment has no new ReplicaSet yet): ECS
    shows the new PRIMARY at once. Not after a circuit breaker's rollback, whose PRIMARY is the
    revision rolled back to."""
    status = obj.get("status") or {}
    if status.get("rolledBackGeneration") == obj["metadata"].get("generation"):
        return False
    primary = next((d for d in status.get("deployments") or [] if d.get("status") == "PRIMARY"), None)
    return primary is not None and primary.get("taskDefinition") != wanted


def _settings(spec: dict[str, Any]) -> dict[str, Any]:
    """The Service members that echo the spec, with ECS's defaults."""
    return {
        **{k: spec.get(k) for k in _SPEC_ECHO},
        "deploymentConfiguration": {**DEFAULT_DEPLOYMENT_CONFIGURATION, **(spec.get("deploymentConfiguration") or {})},
        "schedulingStrategy": spec.get("schedulingStrategy") or svc_tr.REPLICA,
        "deploymentController": spec.get("deploymentController") or {"type": "ECS"},
        "enableECSManagedTags": bool(spec.get("enableECSManagedTags")),
        "propagateTags": spec.get("propagateTags") or "NONE",
        "enableExecuteCommand": bool(spec.get("enableExecuteCommand")),
        # CreateService's default, which ECS shows for a service created without it
        "availabilityZoneRebalancing": spec.get("availabilityZoneRebalancing") or "ENABLED",
    }


def view(
    ctx: RequestContext, obj: dict[str, Any], include: frozenset[str] = frozenset(), families: Families | None = None
) -> dict[str, Any]:
    """The ECS Service an ECSService is (``families``: its task definition's revisions, read
    already)."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    md = obj["metadata"]
    cluster, name = cluster_of(obj), service_name(obj)
    deleting = bool(md.get("deletionTimestamp"))
    created = md.get("creationTimestamp") or now_iso(ctx.now)
    strategy = spec.get("schedulingStrategy") or svc_tr.REPLICA
    desired = spec.get("desiredCount") if strategy == svc_tr.REPLICA else status.get("desiredCount", 0)
    rev = resolve(ctx, spec.get("taskDefinition"), families)
    out: dict[str, Any] = {
        **_settings(spec),
        "serviceArn": service_arn(ctx, cluster, name),
        "serviceName": name,
        "clusterArn": arns.cluster(ctx.region, ctx.account, cluster),
        "status": "DRAINING" if deleting else "ACTIVE",
        "desiredCount": 0 if deleting else desired or 0,
        "runningCount": status.get("runningCount", 0),
        "pendingCount": status.get("pendingCount", 0),
        **_placement(spec, status),
        "deployments": [] if deleting else deployments(ctx, obj, created, rev),
        "events": status.get("events") or [],
        "createdAt": created,
    }
    primary = next((d for d in out["deployments"] if d["status"] == "PRIMARY"), None)
    wanted = rev.arn if rev else status.get("taskDefinition") or spec.get("taskDefinition") or ""
    out["taskDefinition"] = primary["taskDefinition"] if primary else _td_arn(ctx, wanted)
    if primary is not None:
        out["currentServiceDeployment"] = deployment_arn(ctx, cluster, name, primary["id"])
        out["currentServiceRevisions"] = [_revision_summary(ctx, cluster, name, d) for d in out["deployments"]]
    if "TAGS" in include:
        out["tags"] = tagging.tags_of(obj)
    return out


# --- CreateService ----------------------------------------------------------------------------


def check_spec(spec: dict[str, Any]) -> CreateServiceRequest:
    """ECS's rules for a service spec (the ones the operator applies), as ECS's errors."""
    return validated(CreateServiceRequest, spec, svc_tr.validate, svc_tr.ServiceError)


def check_task_definition(ctx: RequestContext, ref: str) -> revisions.Revision:
    try:
        parsed = revisions.parse_reference(ref)
    except revisions.ReferenceError_ as e:
        raise invalid_parameter(str(e)) from e
    rev = taskdefinitions.find_revision(ctx, parsed)
    if rev is None:
        raise invalid_parameter("TaskDefinition not found.")
    if rev.status != revisions.ACTIVE:
        raise invalid_parameter(f"TaskDefinition is inactive: {rev.arn}")
    return rev


@operation("CreateService")
def create_service(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    cluster_obj = clusters.require(ctx, params.get("cluster"))
    cluster = clusters.ecs_name(cluster_obj)
    name = params["serviceName"]
    if not names.is_ecs_name(name):
        raise invalid_parameter(f"Service name is invalid. {names.ECS_NAME_RULE}")
    spec = {k: params[k] for k in create_fields() if params.get(k) is not None}
    spec.update(cluster=cluster, serviceName=name)
    check_spec(spec)
    # ECS keeps the revision the reference names now (a family: its latest ACTIVE revision);
    # registering a newer one later does not change the service.
    spec["taskDefinition"] = check_task_definition(ctx, spec["taskDefinition"]).arn
    existing = find(ctx, cluster, name)
    if existing is not None:
        if existing["metadata"].get("deletionTimestamp"):
            raise invalid_parameter("Unable to Start a service that is still Draining.")
        raise invalid_parameter("Creation of service was not idempotent.")
    obj = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": object_name(cluster, name), "namespace": ctx.namespace},
        "spec": spec,
    }
    try:
        created = ctx.kube.create(obj)
    except ApiError as e:
        if e.status != 409:
            raise
        raise client_error(f"The Kubernetes object {object_name(cluster, name)} holds another service.") from e
    return {"service": view(ctx, created)}


# --- DescribeServices / ListServices ----------------------------------------------------------


@operation("DescribeServices")
def describe_services(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Three Kubernetes reads whatever the number of services: the cluster (its tombstones too),
    the namespace's ECSServices (one LIST), the revisions of their task definition families
    (one LIST)."""
    cluster_obj = clusters.require(ctx, params.get("cluster"))
    cluster = clusters.ecs_name(cluster_obj)
    include = frozenset(params.get("include") or ())
    wanted = [arns.name_of(ref, "service") for ref in params["services"]]
    by_name: dict[str, dict[str, Any]] = {}
    for o in in_cluster(ctx, cluster):
        name = service_name(o)
        # the object of the service's derived name wins over one made with kubectl (as find())
        if name in wanted and (name not in by_name or o["metadata"]["name"] == object_name(cluster, name)):
            by_name[name] = o
    families = taskdefinitions.families_revisions(
        ctx, {f for f in (family_of(o) for o in by_name.values()) if f is not None}
    )
    stones = _live_tombstones(cluster_obj, ctx.now)
    found, failures = [], []
    for name in wanted:
        obj = by_name.get(name)
        stone = stones.get(_tombstone_key(name)) if obj is None else None
        if obj is not None:
            found.append(view(ctx, obj, include, families))
        elif stone is not None and stone.get("serviceName") == name:
            found.append(_inactive_view(ctx, stone))
        else:
            failures.append({"arn": service_arn(ctx, cluster, name), "reason": "MISSING"})
    return {"services": found, "failures": failures}


@operation("ListServices")
def list_services(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    cluster = clusters.ecs_name(clusters.require(ctx, params.get("cluster")))
    launch_type, strategy = params.get("launchType"), params.get("schedulingStrategy")
    wanted = []
    for obj in in_cluster(ctx, cluster):
        spec = obj.get("spec") or {}
        if obj["metadata"].get("deletionTimestamp"):
            continue
        if strategy and (spec.get("schedulingStrategy") or svc_tr.REPLICA) != strategy:
            continue
        if launch_type and _placement(spec, obj.get("status") or {}).get("launchType") != launch_type:
            continue
        wanted.append(service_name(obj))
    page, token = paginate(sorted(wanted), lambda n: n, params, default_max=10)
    return {"serviceArns": [service_arn(ctx, cluster, n) for n in page], "nextToken": token}


# --- UpdateService ----------------------------------------------------------------------------


def _spec_patch(spec: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    patch = {k: params[k] for k in update_fields() if k in params and params[k] is not None}
    if patch.get("capacityProviderStrategy") and spec.get("launchType"):
        patch["launchType"] = None  # ECS moves a launch-type service onto the strategy
    return patch


def force_new_deployment(ctx: RequestContext, obj: dict[str, Any]) -> None:
    """Restart the service's tasks within its deployment limits, as ``kubectl rollout restart``
    does, and note when on the ECSService (the view shows a new PRIMARY deployment until the
    operator reports it)."""
    when = now_iso(ctx.now)
    md = obj["metadata"]
    ctx.kube.merge_patch(API_VERSION, KIND, ctx.namespace, md["name"], {"metadata": {"annotations": {FORCED_AT: when}}})
    restart = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: when}}}}}
    for ref in (obj.get("status") or {}).get("workloads") or []:
        kind, _, wl_name = ref.partition("/")
        try:
            ctx.kube.merge_patch("apps/v1", kind, ctx.namespace, wl_name, restart)
        except ApiError as e:
            if e.status != 404:  # not created yet: its first tasks are new anyway
                raise


@operation("UpdateService")
def update_service(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    cluster = clusters.ecs_name(clusters.require(ctx, params.get("cluster")))
    obj = require_live(ctx, cluster, params["service"])
    spec = obj.get("spec") or {}
    patch = _spec_patch(spec, params)
    merged = {k: v for k, v in {**spec, **patch}.items() if v is not None}
    check_spec(merged)
    if "taskDefinition" in patch:
        patch["taskDefinition"] = check_task_definition(ctx, patch["taskDefinition"]).arn
    if patch:
        obj = ctx.kube.merge_patch(API_VERSION, KIND, ctx.namespace, obj["metadata"]["name"], {"spec": patch})
    if params.get("forceNewDeployment"):
        force_new_deployment(ctx, obj)
        obj = ctx.kube.get(API_VERSION, KIND, ctx.namespace, obj["metadata"]["name"]) or obj
    return {"service": view(ctx, obj)}


# --- DeleteService ----------------------------------------------------------------------------


def _stone(ctx: RequestContext, obj: dict[str, Any]) -> dict[str, Any]:
    """What DescribeServices shows of the service once it is gone."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    rev = resolve(ctx, spec.get("taskDefinition"))
    return {
        "serviceName": service_name(obj),
        "cluster": cluster_of(obj),
        "taskDefinition": status.get("taskDefinition") or (rev.arn if rev else spec.get("taskDefinition")),
        "createdAt": obj["metadata"].get("creationTimestamp"),
        "deletedAt": now_iso(ctx.now),
        "schedulingStrategy": spec.get("schedulingStrategy") or svc_tr.REPLICA,
        **_placement(spec, status),
        **{k: spec[k] for k in ("loadBalancers", "serviceRegistries", "deploymentConfiguration") if spec.get(k)},
    }


@operation("DeleteService")
def delete_service(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    cluster_obj = clusters.require(ctx, params.get("cluster"))
    cluster = clusters.ecs_name(cluster_obj)
    name = arns.name_of(params["service"], "service")
    obj = find(ctx, cluster, name)
    if obj is None:
        raise _not_active() if tombstone(ctx, cluster, name) is not None else _not_found()
    if obj["metadata"].get("deletionTimestamp"):
        return {"service": view(ctx, obj)}
    spec = obj.get("spec") or {}
    replica = (spec.get("schedulingStrategy") or svc_tr.REPLICA) == svc_tr.REPLICA
    if replica and (spec.get("desiredCount") or 0) > 0 and not params.get("force"):
        raise invalid_parameter("The service cannot be stopped while it is scaled above 0.")
    bury(ctx, cluster_obj, _stone(ctx, obj))
    ctx.kube.delete(API_VERSION, KIND, ctx.namespace, obj["metadata"]["name"])
    gone = ctx.kube.get(API_VERSION, KIND, ctx.namespace, obj["metadata"]["name"])
    if gone is None or gone["metadata"].get("uid") != obj["metadata"].get("uid"):
        gone = {**obj, "metadata": {**obj["metadata"], "deletionTimestamp": now_iso(ctx.now)}}
    return {"service": view(ctx, gone)}


# --- service deployments and revisions --------------------------------------------------------


def _number(deployment_id: str) -> str:
    """The id part of ``ecs-svc/123``."""
    return deployment_id.rsplit("/", 1)[-1]


def deployment_arn(ctx: RequestContext, cluster: str, service: str, deployment_id: str) -> str:
    return arns.build(ctx.region, ctx.account, "service-deployment", cluster, service, _number(deployment_id))


def revision_arn(ctx: RequestContext, cluster: str, service: str, deployment_id: str) -> str:
    return arns.build(ctx.region, ctx.account, "service-revision", cluster, service, _number(deployment_id))


def _revision_summary(ctx: RequestContext, cluster: str, service: str, d: dict[str, Any]) -> dict[str, Any]:
    return {
        "arn": revision_arn(ctx, cluster, service, d["id"]),
        "requestedTaskCount": d.get("desiredCount") or 0,
        "runningTaskCount": d.get("runningCount") or 0,
        "pendingTaskCount": d.get("pendingCount") or 0,
    }


def _deployment_status(d: dict[str, Any]) -> str:
    """A deployment's ServiceDeploymentStatus: a PRIMARY one by its rollout; an ACTIVE one was
    superseded (SUCCESSFUL when it had completed)."""
    state = d.get("rolloutState")
    if d["status"] == "PRIMARY":
        return {"COMPLETED": "SUCCESSFUL", "FAILED": "ROLLBACK_IN_PROGRESS"}.get(state or "", "IN_PROGRESS")
    return "SUCCESSFUL" if state == "COMPLETED" else "STOPPED"


def _brief(ctx: RequestContext, svc: dict[str, Any], d: dict[str, Any]) -> dict[str, Any]:
    cluster, name = arns.name_of(svc["clusterArn"], "cluster"), svc["serviceName"]
    status = _deployment_status(d)
    return {
        "serviceDeploymentArn": deployment_arn(ctx, cluster, name, d["id"]),
        "serviceArn": svc["serviceArn"],
        "clusterArn": svc["clusterArn"],
        "createdAt": d.get("createdAt"),
        "startedAt": d.get("createdAt"),
        "finishedAt": d.get("updatedAt") if status in ("SUCCESSFUL", "STOPPED") else None,
        "targetServiceRevisionArn": revision_arn(ctx, cluster, name, d["id"]),
        "status": status,
        "statusReason": d.get("rolloutStateReason"),
    }


def _records(ctx: RequestContext, obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The status of the operator's ServiceDeployment records of a service, by deployment number
    (empty where the records' CRD is not installed): what ECS keeps of each deployment."""
    try:
        items = ctx.kube.list_(
            API_VERSION, "ServiceDeployment", ctx.namespace, labels={constants.SERVICE: obj["metadata"]["name"]}
        )
    except ApiError as e:
        if e.status == 404:
            return {}
        raise
    out = {}
    for r in items:
        st = r.get("status") or {}
        number = _number(str(st.get("id") or "")) or (r["metadata"].get("labels") or {}).get(constants.SERVICE_REVISION)
        if st and number:
            out[number] = st
    return out


_RECORD_BRIEF = ("status", "statusReason", "createdAt", "startedAt", "finishedAt")


def _with_record(brief: dict[str, Any], record: dict[str, Any] | None) -> dict[str, Any]:
    """A brief whose state comes from the deployment's record when there is one."""
    if not record:
        return brief
    return {**brief, **{k: record[k] for k in _RECORD_BRIEF if record.get(k) not in (None, "")}}


def _record_brief(ctx: RequestContext, svc: dict[str, Any], number: str, record: dict[str, Any]) -> dict[str, Any]:
    """The brief of a deployment only its record remembers (superseded, its workloads gone)."""
    cluster, name = arns.name_of(svc["clusterArn"], "cluster"), svc["serviceName"]
    brief = {
        "serviceDeploymentArn": deployment_arn(ctx, cluster, name, number),
        "serviceArn": svc["serviceArn"],
        "clusterArn": svc["clusterArn"],
        "targetServiceRevisionArn": revision_arn(ctx, cluster, name, number),
    }
    return _with_record(brief, record)


def _in_window(created: Any, window: dict[str, Any] | None) -> bool:
    if not window:
        return True
    at = model.epoch_seconds(created) or 0.0
    before, after = model.epoch_seconds(window.get("before")), model.epoch_seconds(window.get("after"))
    return (before is None or at <= before) and (after is None or at >= after)


@operation("ListServiceDeployments")
def list_service_deployments(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    cluster = clusters.ecs_name(clusters.require(ctx, params.get("cluster")))
    name = arns.name_of(params["service"], "service")
    obj = find(ctx, cluster, name)
    if obj is None:
        raise _not_found()
    svc = view(ctx, obj)
    records = _records(ctx, obj)
    wanted = set(params.get("status") or ())
    shown = {_number(d["id"]) for d in svc["deployments"]}
    all_briefs = [_with_record(_brief(ctx, svc, d), records.get(_number(d["id"]))) for d in svc["deployments"]]
    all_briefs += [
        _record_brief(ctx, svc, n, r)
        for n, r in sorted(records.items(), key=lambda x: str(x[1].get("createdAt") or ""), reverse=True)
        if n not in shown
    ]
    briefs = [
        b
        for b in all_briefs
        if (not wanted or b.get("status") in wanted) and _in_window(b.get("createdAt"), params.get("createdAt"))
    ]
    page, token = paginate(briefs, lambda b: b["serviceDeploymentArn"], params, default_max=20)
    return {"serviceDeployments": page, "nextToken": token}


def _named(ctx: RequestContext, arn: str, kind: str) -> tuple[dict[str, Any], str] | None:
    """(the ECSService, the deployment number) a service-deployment or service-revision ARN names."""
    parsed = arns.parse(arn)
    if parsed is None or parsed.kind != kind or len(parsed.path) != 3:
        return None
    cluster, name, number = parsed.path
    if clusters.find(ctx, cluster) is None:
        return None
    obj = find(ctx, cluster, name)
    return (obj, number) if obj is not None else None


def _deployment_numbered(svc: dict[str, Any], number: str) -> dict[str, Any] | None:
    return next((d for d in svc["deployments"] if _number(d["id"]) == number), None)


def _lookup(ctx: RequestContext, arn: str, kind: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(service view, deployment) a service-deployment or service-revision ARN names."""
    named = _named(ctx, arn, kind)
    if named is None:
        return None
    svc = view(ctx, named[0])
    d = _deployment_numbered(svc, named[1])
    return (svc, d) if d is not None else None


def _circuit_breaker(svc: dict[str, Any], d: dict[str, Any]) -> dict[str, Any]:
    cb = (svc.get("deploymentConfiguration") or {}).get("deploymentCircuitBreaker") or {}
    if not cb.get("enable"):
        return {"status": "DISABLED", "failureCount": 0, "threshold": 0}
    failed = d.get("rolloutState") == "FAILED"
    return {
        "status": "TRIGGERED" if failed else "MONITORING",
        "failureCount": d.get("failedTasks") or 0,
        "threshold": svc_tr.circuit_breaker_threshold(d.get("desiredCount") or 0),
    }


@operation("DescribeServiceDeployments")
def describe_service_deployments(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    found, failures = [], []
    for arn in params["serviceDeploymentArns"]:
        hit = _lookup_with_record(ctx, arn)
        if hit is None:
            failures.append({"arn": arn, "reason": "MISSING"})
            continue
        svc, d, record = hit
        cluster, name = arns.name_of(svc["clusterArn"], "cluster"), svc["serviceName"]
        if d is None:  # only the record remembers it
            found.append(_described_record(ctx, svc, record or {}))
            continue
        brief = _with_record(_brief(ctx, svc, d), record)
        sources = [x for x in svc["deployments"] if x["id"] != d["id"]] if d["status"] == "PRIMARY" else []
        described = {
            **{k: v for k, v in brief.items() if k != "targetServiceRevisionArn"},
            "updatedAt": d.get("updatedAt"),
            "stoppedAt": brief.get("finishedAt") if brief.get("status") == "STOPPED" else None,
            "sourceServiceRevisions": [_revision_summary(ctx, cluster, name, x) for x in sources],
            "targetServiceRevision": _revision_summary(ctx, cluster, name, d),
            "deploymentConfiguration": svc["deploymentConfiguration"],
            "deploymentCircuitBreaker": _circuit_breaker(svc, d),
        }
        found.append(_record_details(ctx, cluster, name, described, record))
    return {"serviceDeployments": found, "failures": failures}


def _lookup_with_record(
    ctx: RequestContext, arn: str
) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None] | None:
    """(service view, its deployment or None, the deployment's record or None) a
    service-deployment ARN names; None when neither the service's status nor a record has it."""
    named = _named(ctx, arn, "service-deployment")
    if named is None:
        return None
    obj, number = named
    svc = view(ctx, obj)
    d = _deployment_numbered(svc, number)
    record = _records(ctx, obj).get(number)
    return (svc, d, record) if d is not None or record is not None else None


def _revision_ref(ctx: RequestContext, cluster: str, name: str, summary: dict[str, Any]) -> dict[str, Any]:
    """A record's revision summary (``arn``: ``ecs-svc/<n>``) in ECS's shape."""
    return {**summary, "arn": revision_arn(ctx, cluster, name, str(summary.get("arn") or ""))}


def _record_details(
    ctx: RequestContext, cluster: str, name: str, described: dict[str, Any], record: dict[str, Any] | None
) -> dict[str, Any]:
    """What only the record knows: the lifecycle stage, hooks, rollback, traffic weights."""
    if not record:
        return described
    out = {**described}
    for k in ("lifecycleStage", "updatedAt", "stoppedAt", "lifecycleHookDetails", "deploymentCircuitBreaker"):
        if record.get(k) not in (None, "", []):
            out[k] = record[k]
    if record.get("rollback"):
        out["rollback"] = {**record["rollback"]}
        sources = record.get("sourceServiceRevisions") or []
        if sources:
            out["rollback"]["serviceRevisionArn"] = _revision_ref(ctx, cluster, name, sources[0])["arn"]
    if record.get("targetServiceRevision"):
        out["targetServiceRevision"] = _revision_ref(ctx, cluster, name, record["targetServiceRevision"])
    if record.get("sourceServiceRevisions") is not None:
        out["sourceServiceRevisions"] = [_revision_ref(ctx, cluster, name, x) for x in record["sourceServiceRevisions"]]
    return out


def _described_record(ctx: RequestContext, svc: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    cluster, name = arns.name_of(svc["clusterArn"], "cluster"), svc["serviceName"]
    number = _number(str(record.get("id") or ""))
    brief = _record_brief(ctx, svc, number, record)
    described = {
        **{k: v for k, v in brief.items() if k != "targetServiceRevisionArn"},
        "deploymentConfiguration": record.get("deploymentConfiguration") or svc["deploymentConfiguration"],
    }
    return _record_details(ctx, cluster, name, described, record)


def _container_images(ctx: RequestContext, td: str) -> list[dict[str, Any]]:
    rev = resolve(ctx, td)
    if rev is None:
        return []
    return [
        {"containerName": c.get("name"), "image": c.get("image")} for c in rev.spec.get("containerDefinitions") or []
    ]


def _recorded_images(ctx: RequestContext, arn: str) -> list[dict[str, Any]]:
    """The containerImages the revision's ServiceRevision record holds: the digests resolved for
    versionConsistency (empty: no record, or none recorded)."""
    parsed = arns.parse(arn)
    if parsed is None or len(parsed.path) != 3:
        return []
    cluster, name, number = parsed.path
    obj = find(ctx, cluster, name)
    if obj is None:
        return []
    try:
        record = ctx.kube.get(
            API_VERSION, "ServiceRevision", ctx.namespace, record_name(obj["metadata"]["name"], number)
        )
    except ApiError as e:
        if e.status == 404:
            return []
        raise
    return list(((record or {}).get("spec") or {}).get("containerImages") or [])


@operation("DescribeServiceRevisions")
def describe_service_revisions(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    found, failures = [], []
    for arn in params["serviceRevisionArns"]:
        hit = _lookup(ctx, arn, "service-revision")
        if hit is None:
            failures.append({"arn": arn, "reason": "MISSING"})
            continue
        svc, d = hit
        found.append(
            {
                **{k: svc.get(k) for k in ("serviceArn", "clusterArn", "platformVersion", "networkConfiguration")},
                **{k: svc.get(k) for k in ("loadBalancers", "serviceRegistries")},
                "serviceRevisionArn": arn,
                "taskDefinition": d["taskDefinition"],
                "launchType": d.get("launchType"),
                "capacityProviderStrategy": d.get("capacityProviderStrategy"),
                "containerImages": _recorded_images(ctx, arn) or _container_images(ctx, d["taskDefinition"]),
                "guardDutyEnabled": False,
                "createdAt": d.get("createdAt"),
            }
        )
    return {"serviceRevisions": found, "failures": failures}
