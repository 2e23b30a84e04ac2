"""Capacity providers: CreateCapacityProvider, DescribeCapacityProviders, UpdateCapacityProvider
and DeleteCapacityProvider, on CapacityProvider objects.

The CapacityProvider's ``spec`` is CreateCapacityProvider's input (``name`` keeps the ECS name
exactly as given) plus ``kubernetes``: the node pool (nodeSelector, tolerations), which only
kubectl sets; a provider created through the API pools every ordinary node until it does. The
operator writes ``status.status`` and a Ready condition (``plans/capacityprovider.py``).

ECS behaviours kept: FARGATE and FARGATE_SPOT exist in every account without being created and
cannot be created, updated, deleted or tagged; names beginning with ``aws``, ``ecs`` or
``fargate`` are refused (the operator's own rule, ``plans.capacityprovider.provider_error``);
Describe without names lists them all, ten per page (``maxResults`` 1..10, ``nextToken``), and
answers names it does not know as ``failures`` with reason MISSING; tags only with
``include=["TAGS"]``; a provider a cluster uses (in its capacity providers or a service's
strategy) cannot be deleted; DeleteCapacityProvider answers ``updateStatus: DELETE_IN_PROGRESS``.
"""

from __future__ import annotations

from typing import Any

from ... import API_VERSION
from ...domain.capacity import FARGATE_PROVIDERS
from ...k8s import ApiError
from ...plans.capacityprovider import provider_error
from ...state.clusters import provider_name
from .. import arns, names
from ..context import RequestContext
from ..errors import EcsApiError, client_error, invalid_parameter
from ..tagging import check_tags, tags_of
from . import clusters, operation, paginate

KIND = "CapacityProvider"
PAGE_MAX = 10
#: CreateCapacityProvider's input members a CapacityProvider's spec keeps
SPEC_FIELDS = ("name", "cluster", "autoScalingGroupProvider", "managedInstancesProvider", "tags")


def provider_ref(ref: str) -> str:
    """The provider name a parameter names (a name or a capacity-provider ARN)."""
    return arns.name_of(ref, "capacity-provider")


def find(ctx: RequestContext, name: str) -> dict[str, Any] | None:
    """The CapacityProvider whose ECS name is ``name`` (its derived object name, else any
    object whose ``spec.name`` is ``name``: objects made with kubectl may be named otherwise)."""
    if not names.is_ecs_name(name):
        return None
    obj = ctx.kube.get(API_VERSION, KIND, ctx.namespace, names.object_name(name))
    if obj is not None and provider_name(obj) == name:
        return obj
    return next((o for o in ctx.kube.list_(API_VERSION, KIND, ctx.namespace) if provider_name(o) == name), None)


def _not_found(ref: str) -> EcsApiError:
    return client_error(
        f"The specified capacity provider '{ref}' does not exist. Specify a valid name or ARN and try again."
    )


def _reserved(name: str, verb: str) -> EcsApiError:
    return invalid_parameter(f"The {name} capacity provider is managed by Amazon ECS and cannot be {verb}.")


def fargate_view(ctx: RequestContext, name: str, include: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A built-in Fargate provider as ECS shows it."""
    out: dict[str, Any] = {
        "capacityProviderArn": arns.capacity_provider(ctx.region, ctx.account, name),
        "name": name,
        "status": "ACTIVE",
        "type": name,
    }
    if "TAGS" in include:
        out["tags"] = []
    return out


def _update_status(obj: dict[str, Any]) -> tuple[str, str | None]:
    """(updateStatus, updateStatusReason) from the operator's status of the object's generation."""
    md, status = obj["metadata"], obj.get("status") or {}
    if md.get("deletionTimestamp"):
        return "DELETE_IN_PROGRESS", None
    verb = "CREATE" if (md.get("generation") or 1) <= 1 else "UPDATE"
    if status.get("observedGeneration") != md.get("generation"):
        return f"{verb}_IN_PROGRESS", None
    ready: dict[str, Any] = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
    if ready.get("status") == "False":
        return f"{verb}_FAILED", ready.get("message")
    return f"{verb}_COMPLETE", None


def view(ctx: RequestContext, obj: dict[str, Any], include: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The ECS CapacityProvider a CapacityProvider object is."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    name = provider_name(obj)
    update_status, reason = _update_status(obj)
    out: dict[str, Any] = {
        "capacityProviderArn": arns.capacity_provider(ctx.region, ctx.account, name),
        "name": name,
        "cluster": spec.get("cluster"),
        "status": "DEPROVISIONING" if obj["metadata"].get("deletionTimestamp") else status.get("status") or "ACTIVE",
        "autoScalingGroupProvider": spec.get("autoScalingGroupProvider"),
        "managedInstancesProvider": spec.get("managedInstancesProvider"),
        "updateStatus": update_status,
        "updateStatusReason": reason,
        "type": "MANAGED_INSTANCES" if spec.get("managedInstancesProvider") else "EC2_AUTOSCALING",
    }
    if "TAGS" in include:
        out["tags"] = tags_of(obj)
    return out


@operation("CreateCapacityProvider")
def create_capacity_provider(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["name"]
    if name in FARGATE_PROVIDERS:
        raise _reserved(name, "created")
    if not names.is_ecs_name(name):
        raise invalid_parameter(f"The capacity provider name is invalid. {names.ECS_NAME_RULE}")
    if not params.get("autoScalingGroupProvider") and not params.get("managedInstancesProvider"):
        raise invalid_parameter("An autoScalingGroupProvider or a managedInstancesProvider is required.")
    spec = {k: params[k] for k in SPEC_FIELDS if params.get(k) is not None}
    error = provider_error(name, spec)
    if error is not None:
        raise invalid_parameter(error)
    check_tags(spec.get("tags") or [])
    if spec.get("cluster"):
        cluster = clusters.require(ctx, spec["cluster"])
        spec["cluster"] = clusters.ecs_name(cluster)
    if find(ctx, name) is not None:
        raise client_error(f"The specified capacity provider '{name}' already exists.")
    obj = {
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
        raise client_error(f"The specified capacity provider '{name}' already exists.") from e
    return {"capacityProvider": view(ctx, created)}


def _in_cluster(ctx: RequestContext, cluster: dict[str, Any]) -> set[str]:
    """The providers a cluster uses: its capacity providers and those scoped to it."""
    name = clusters.ecs_name(cluster)
    used = set((cluster.get("spec") or {}).get("capacityProviders") or [])
    for o in ctx.kube.list_(API_VERSION, KIND, ctx.namespace):
        if (o.get("spec") or {}).get("cluster") == name:
            used.add(provider_name(o))
    return used


def _order(provider: dict[str, Any]) -> tuple[int, str]:
    """Describe's order: the built-in providers first, then by name."""
    return (0 if provider["name"] in FARGATE_PROVIDERS else 1, provider["name"])


def _all(ctx: RequestContext, include: frozenset[str]) -> list[dict[str, Any]]:
    mine = sorted(ctx.kube.list_(API_VERSION, KIND, ctx.namespace), key=provider_name)
    return [fargate_view(ctx, n, include) for n in FARGATE_PROVIDERS] + [view(ctx, o, include) for o in mine]


@operation("DescribeCapacityProviders")
def describe_capacity_providers(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    include = frozenset(params.get("include") or ())
    limit = params.get("maxResults")
    if limit is not None and not 1 <= limit <= PAGE_MAX:
        raise invalid_parameter(f"maxResults must be between 1 and {PAGE_MAX}.")
    wanted = [provider_ref(r) for r in params.get("capacityProviders") or []]
    if params.get("cluster"):
        used = _in_cluster(ctx, clusters.require(ctx, params["cluster"]))
        wanted = [n for n in wanted if n in used] if wanted else sorted(used)
        if not wanted:
            return {"capacityProviders": [], "failures": []}
    if not wanted:
        page, token = paginate(_all(ctx, include), _order, params, PAGE_MAX)
        return {"capacityProviders": page, "failures": [], "nextToken": token}
    found, failures = [], []
    for name in dict.fromkeys(wanted):
        if name in FARGATE_PROVIDERS:
            found.append(fargate_view(ctx, name, include))
        elif (obj := find(ctx, name)) is not None:
            found.append(view(ctx, obj, include))
        else:
            failures.append({"arn": arns.capacity_provider(ctx.region, ctx.account, name), "reason": "MISSING"})
    return {"capacityProviders": found, "failures": failures}


def _require(ctx: RequestContext, ref: str, verb: str) -> dict[str, Any]:
    name = provider_ref(ref)
    if name in FARGATE_PROVIDERS:
        raise _reserved(name, verb)
    obj = find(ctx, name)
    if obj is None:
        raise _not_found(ref)
    return obj


@operation("UpdateCapacityProvider")
def update_capacity_provider(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    obj = _require(ctx, params["name"], "updated")
    spec = obj.get("spec") or {}
    patch: dict[str, Any] = {}
    asg = params.get("autoScalingGroupProvider")
    if asg:
        if not spec.get("autoScalingGroupProvider"):
            raise invalid_parameter("The capacity provider has no Auto Scaling group provider to update.")
        patch["autoScalingGroupProvider"] = {**spec["autoScalingGroupProvider"], **asg}
    managed = params.get("managedInstancesProvider")
    if managed:
        if not spec.get("managedInstancesProvider"):
            raise invalid_parameter("The capacity provider has no managed instances provider to update.")
        patch["managedInstancesProvider"] = {**spec["managedInstancesProvider"], **managed}
    if not patch:
        return {"capacityProvider": view(ctx, obj)}
    error = provider_error(provider_name(obj), {**spec, **patch})
    if error is not None:
        raise invalid_parameter(error)
    updated = ctx.kube.merge_patch(API_VERSION, KIND, ctx.namespace, obj["metadata"]["name"], {"spec": patch})
    return {"capacityProvider": view(ctx, updated)}


def _check_unused(ctx: RequestContext, name: str) -> None:
    """ECS refuses to delete a provider a cluster or a service still uses."""
    for cluster in ctx.kube.list_(API_VERSION, clusters.KIND, ctx.namespace):
        if name in ((cluster.get("spec") or {}).get("capacityProviders") or []):
            raise client_error(
                f"The specified capacity provider is in use by cluster {clusters.ecs_name(cluster)}. "
                "Remove it from the cluster with PutClusterCapacityProviders and try again."
            )
    for svc in ctx.kube.list_(API_VERSION, "ECSService", ctx.namespace):
        strategy = (svc.get("spec") or {}).get("capacityProviderStrategy") or []
        if any(item.get("capacityProvider") == name for item in strategy):
            raise client_error("The specified capacity provider is in use by a service and cannot be deleted.")


@operation("DeleteCapacityProvider")
def delete_capacity_provider(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    obj = _require(ctx, params["capacityProvider"], "deleted")
    _check_unused(ctx, provider_name(obj))
    ctx.kube.delete(API_VERSION, KIND, ctx.namespace, obj["metadata"]["name"])
    out = view(ctx, obj)
    out["updateStatus"], out["updateStatusReason"] = "DELETE_IN_PROGRESS", None
    return {"capacityProvider": out}
