"""Clusters: CreateCluster, DescribeClusters, ListClusters, UpdateCluster,
UpdateClusterSettings, PutClusterCapacityProviders and DeleteCluster, on ECSCluster objects.

The ECSCluster's ``spec`` is CreateCluster's input; the counters come from the status the
operator writes. ECS behaviours kept: a call that names no cluster means ``default``, which the
API does not create on its own (it is ClusterNotFoundException until someone creates it);
CreateCluster of an existing name answers the existing cluster; Describe lists missing names
as ``failures`` with reason MISSING; tags and settings are answered only with ``include``;
a cluster with active services, tasks or registered container instances cannot be deleted; a deleted cluster (its object gone
or going: the operator's finalizer may hold it a moment) is INACTIVE in Describe, not listed,
and ClusterNotFoundException for everything else.
"""

from __future__ import annotations

from typing import Any

from ... import API_VERSION
from ...k8s import ApiError
from .. import arns, names
from ..context import RequestContext
from ..errors import EcsApiError, client_error, cluster_not_found, invalid_parameter
from . import operation, paginate

KIND = "ECSCluster"
DEFAULT = "default"
FARGATE_PROVIDERS = ("FARGATE", "FARGATE_SPOT")
#: CreateCluster's input members an ECSCluster's spec keeps
SPEC_FIELDS = (
    "clusterName",
    "tags",
    "settings",
    "configuration",
    "capacityProviders",
    "defaultCapacityProviderStrategy",
    "serviceConnectDefaults",
)


def ecs_name(obj: dict[str, Any]) -> str:
    """An ECSCluster's ECS name: ``spec.clusterName``, else the object's name."""
    return (obj.get("spec") or {}).get("clusterName") or obj["metadata"]["name"]


def cluster_ref(ref: str | None) -> str:
    """The cluster name a ``cluster`` parameter names (a name or an ARN; none: ``default``)."""
    return arns.name_of(ref, "cluster") if ref else DEFAULT


def find(ctx: RequestContext, name: str) -> dict[str, Any] | None:
    """The ECSCluster whose ECS name is ``name`` (by its derived object name, else any object
    whose spec.clusterName is ``name``: objects made with kubectl may be named otherwise)."""
    if not names.is_ecs_name(name):
        return None
    obj = ctx.kube.get(API_VERSION, KIND, ctx.namespace, names.object_name(name))
    if obj is not None and ecs_name(obj) == name:
        return obj
    return next((o for o in ctx.kube.list_(API_VERSION, KIND, ctx.namespace) if ecs_name(o) == name), None)


def deleting(obj: dict[str, Any]) -> bool:
    return bool(obj["metadata"].get("deletionTimestamp"))


def require(ctx: RequestContext, ref: str | None) -> dict[str, Any]:
    """The ACTIVE cluster a request names (``default`` when none), or ClusterNotFoundException."""
    obj = find(ctx, cluster_ref(ref))
    if obj is None or deleting(obj):
        raise cluster_not_found()
    return obj


def view(ctx: RequestContext, obj: dict[str, Any], include: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The ECS Cluster an ECSCluster is (counters from the operator's status)."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    name = ecs_name(obj)
    out: dict[str, Any] = {
        "clusterArn": arns.cluster(ctx.region, ctx.account, name),
        "clusterName": name,
        "status": "INACTIVE" if deleting(obj) else status.get("status") or "ACTIVE",
        "registeredContainerInstancesCount": status.get("registeredContainerInstancesCount", 0),
        "runningTasksCount": status.get("runningTasksCount", 0),
        "pendingTasksCount": status.get("pendingTasksCount", 0),
        "activeServicesCount": status.get("activeServicesCount", 0),
        "capacityProviders": spec.get("capacityProviders") or [],
        "defaultCapacityProviderStrategy": spec.get("defaultCapacityProviderStrategy") or [],
        "serviceConnectDefaults": spec.get("serviceConnectDefaults"),
    }
    if "TAGS" in include:
        out["tags"] = spec.get("tags") or []
    if "SETTINGS" in include:
        out["settings"] = spec.get("settings") or [{"name": "containerInsights", "value": "disabled"}]
    if "CONFIGURATIONS" in include:
        out["configuration"] = spec.get("configuration")
    if "STATISTICS" in include:
        out["statistics"] = []
    return out


def _provider_names(ctx: RequestContext) -> set[str]:
    found = {
        (o.get("spec") or {}).get("name") or o["metadata"]["name"]
        for o in ctx.kube.list_(API_VERSION, "CapacityProvider", ctx.namespace)
    }
    return found | set(FARGATE_PROVIDERS)


def check_providers(ctx: RequestContext, providers: list[str], strategy: list[dict[str, Any]]) -> None:
    """ECS's rules for a cluster's capacity providers and default strategy."""
    if providers:
        known = _provider_names(ctx)
        for p in providers:
            if p not in known:
                raise invalid_parameter(
                    f"The specified capacity provider '{p}' is not in an ACTIVE state. "
                    "Specify a valid capacity provider and try again."
                )
    for item in strategy:
        if item.get("capacityProvider") not in providers:
            raise invalid_parameter(
                "The specified capacity provider strategy cannot contain a capacity provider that is not "
                "associated with the cluster. Associate the capacity provider with the cluster or specify "
                "a valid capacity provider and try again."
            )


@operation("CreateCluster")
def create_cluster(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params.get("clusterName") or DEFAULT
    if not names.is_ecs_name(name):
        raise invalid_parameter(f"Cluster name is invalid. {names.ECS_NAME_RULE}")
    existing = find(ctx, name)
    if existing is not None:
        return {"cluster": view(ctx, existing)}
    spec = {k: params[k] for k in SPEC_FIELDS if params.get(k) is not None}
    spec["clusterName"] = name
    check_providers(ctx, spec.get("capacityProviders") or [], spec.get("defaultCapacityProviderStrategy") or [])
    obj: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": names.object_name(name), "namespace": ctx.namespace},
        "spec": spec,
    }
    try:
        created = ctx.kube.create(obj)
    except ApiError as e:
        if e.status != 409:
            raise
        raced = find(ctx, name)  # created concurrently
        if raced is None:
            raise client_error(f"The Kubernetes object {names.object_name(name)} holds another cluster.") from e
        created = raced
    return {"cluster": view(ctx, created)}


@operation("DescribeClusters")
def describe_clusters(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    include = frozenset(params.get("include") or ())
    clusters, failures = [], []
    for ref in params.get("clusters") or [DEFAULT]:
        name = cluster_ref(ref)
        obj = find(ctx, name)
        if obj is None:
            failures.append({"arn": arns.cluster(ctx.region, ctx.account, name), "reason": "MISSING"})
        else:
            clusters.append(view(ctx, obj, include))
    return {"clusters": clusters, "failures": failures}


@operation("ListClusters")
def list_clusters(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    all_names = sorted({ecs_name(o) for o in ctx.kube.list_(API_VERSION, KIND, ctx.namespace) if not deleting(o)})
    page, token = paginate(all_names, lambda n: n, params)
    return {"clusterArns": [arns.cluster(ctx.region, ctx.account, n) for n in page], "nextToken": token}


def _patch_spec(ctx: RequestContext, obj: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    return ctx.kube.merge_patch(API_VERSION, KIND, ctx.namespace, obj["metadata"]["name"], {"spec": spec})


@operation("UpdateCluster")
def update_cluster(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    obj = require(ctx, params["cluster"])
    patch: dict[str, Any] = {
        k: params[k] for k in ("settings", "configuration", "serviceConnectDefaults") if k in params
    }
    updated = _patch_spec(ctx, obj, patch) if patch else obj
    return {"cluster": view(ctx, updated, frozenset({"SETTINGS", "CONFIGURATIONS"}))}


@operation("UpdateClusterSettings")
def update_cluster_settings(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    obj = require(ctx, params["cluster"])
    settings = {s["name"]: s for s in (obj.get("spec") or {}).get("settings") or []}
    settings.update({s["name"]: s for s in params["settings"]})
    updated = _patch_spec(ctx, obj, {"settings": list(settings.values())})
    return {"cluster": view(ctx, updated, frozenset({"SETTINGS"}))}


@operation("PutClusterCapacityProviders")
def put_cluster_capacity_providers(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    obj = require(ctx, params["cluster"])
    providers, strategy = params["capacityProviders"], params["defaultCapacityProviderStrategy"]
    check_providers(ctx, providers, strategy)
    updated = _patch_spec(ctx, obj, {"capacityProviders": providers, "defaultCapacityProviderStrategy": strategy})
    return {"cluster": view(ctx, updated)}


def _in_cluster(ref: str | None, name: str) -> bool:
    return cluster_ref(ref) == name


def _check_empty(ctx: RequestContext, obj: dict[str, Any]) -> None:
    """ECS refuses to delete a cluster with active services, unstopped tasks or registered
    container instances. Container instances are the nodes the operator counts as the cluster's
    (``status.registeredContainerInstancesCount``: its capacity providers' node pools, else the
    nodes labelled with it, and for ``default`` every unclaimed node; DRAINING ones included,
    FARGATE's virtual nodes never, as Fargate capacity is no container instance in ECS)."""
    name = ecs_name(obj)
    services = [
        s
        for s in ctx.kube.list_(API_VERSION, "ECSService", ctx.namespace)
        if _in_cluster((s.get("spec") or {}).get("cluster"), name) and not s["metadata"].get("deletionTimestamp")
    ]
    if services:
        raise EcsApiError(
            "ClusterContainsServicesException", "The Cluster cannot be deleted while Services are active."
        )
    tasks = [
        t
        for t in ctx.kube.list_(API_VERSION, "ECSTask", ctx.namespace)
        if _in_cluster((t.get("spec") or {}).get("cluster"), name)
        and (t.get("status") or {}).get("lastStatus") != "STOPPED"
        and not t["metadata"].get("deletionTimestamp")
    ]
    if tasks:
        raise EcsApiError("ClusterContainsTasksException", "The Cluster cannot be deleted while Tasks are active.")
    if (obj.get("status") or {}).get("registeredContainerInstancesCount", 0) > 0:
        raise EcsApiError(
            "ClusterContainsContainerInstancesException",
            "The Cluster cannot be deleted while Container Instances are active or draining.",
        )


@operation("DeleteCluster")
def delete_cluster(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    obj = require(ctx, params["cluster"])
    _check_empty(ctx, obj)
    ctx.kube.delete(API_VERSION, KIND, ctx.namespace, obj["metadata"]["name"])
    out = view(ctx, obj)
    out["status"] = "INACTIVE"
    return {"cluster": out}
