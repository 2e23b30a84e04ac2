"""An ECS cluster and its capacity providers, as the handlers see them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import kopf
from pydantic import ValidationError

from .. import API_VERSION, k8s
from ..constants import MANAGED_BY, MANAGED_BY_LABEL
from ..domain.capacity import FARGATE_PROVIDERS
from ..errors import NotReady
from ..models.generated import CapacityProviderStrategyItem

_DNS = re.compile(r"^[a-z0-9]([-a-z0-9]{0,251}[a-z0-9])?$")
DEFAULT = "default"


def cluster_name_of(body: dict) -> str:
    """An ECSCluster's ECS name: ``spec.clusterName``, else the object's name."""
    return (body.get("spec") or {}).get("clusterName") or body["metadata"]["name"]


def provider_name(body: dict) -> str:
    """A CapacityProvider's ECS name: ``spec.name``, else the object's name."""
    return (body.get("spec") or {}).get("name") or body["metadata"]["name"]


def provider_pool(body: dict) -> tuple[dict[str, str], list[dict]]:
    """A CapacityProvider's node pool: (nodeSelector, tolerations)."""
    k = (body.get("spec") or {}).get("kubernetes") or {}
    return dict(k.get("nodeSelector") or {}), list(k.get("tolerations") or [])


def find_cluster(namespace: str, cluster: str) -> dict | None:
    """The ECSCluster whose ECS name (spec.clusterName or object name) is ``cluster``."""
    obj = k8s.get(API_VERSION, "ECSCluster", namespace, cluster) if _DNS.match(cluster) else None
    if obj is not None and cluster_name_of(obj) == cluster:
        return obj
    return next((o for o in k8s.list_(API_VERSION, "ECSCluster", namespace) if cluster_name_of(o) == cluster), None)


def find_provider(namespace: str, name: str) -> dict | None:
    """The CapacityProvider whose ECS name (spec.name or object name) is ``name``."""
    obj = k8s.get(API_VERSION, "CapacityProvider", namespace, name)
    if obj is not None and provider_name(obj) == name:
        return obj
    return next((o for o in k8s.list_(API_VERSION, "CapacityProvider", namespace) if provider_name(o) == name), None)


#: The spec of the ``default`` ECSCluster the operator creates on first use.
IMPLICIT_DEFAULT_SPEC = {"clusterName": DEFAULT}


def is_implicit_default(body: dict) -> bool:
    """``body`` is the ``default`` cluster as the operator created it on a service's or task's
    first use (no capacity providers, no settings): whoever used it first created it, so its
    creation changes nothing for anyone."""
    md = body.get("metadata") or {}
    return (
        md.get("name") == DEFAULT
        and (md.get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY
        and dict(body.get("spec") or {}) == IMPLICIT_DEFAULT_SPEC
    )


def ensure_default_cluster(namespace: str, cluster: str) -> None:
    """ECS's default cluster exists without anyone creating it."""
    if cluster != DEFAULT or k8s.get(API_VERSION, "ECSCluster", namespace, DEFAULT) is not None:
        return
    try:
        k8s.create(
            {
                "apiVersion": API_VERSION,
                "kind": "ECSCluster",
                "metadata": {"name": DEFAULT, "namespace": namespace, "labels": {MANAGED_BY_LABEL: MANAGED_BY}},
                "spec": dict(IMPLICIT_DEFAULT_SPEC),
            }
        )
    except kopf.TemporaryError:  # created concurrently (409)
        pass


def existing_cluster(namespace: str, cluster: str) -> dict | None:
    """The ECSCluster a service or task names: ``default`` is created on first use, as ECS's
    default cluster exists without anyone creating it; any other must exist."""
    found = find_cluster(namespace, cluster)
    if found is None and cluster == DEFAULT:
        ensure_default_cluster(namespace, cluster)
        found = find_cluster(namespace, cluster)
    if found is None and cluster != DEFAULT:
        raise NotReady(
            "ClusterNotFoundException",
            f"cluster: Cluster not found: no ECSCluster {cluster!r} in namespace {namespace}.",
        )
    return found


def cluster_pools(namespace: str, body: dict | None) -> list[dict[str, str]]:
    """Node pools (nodeSelectors) of the cluster's EC2-style capacity providers."""
    out = []
    for name in ((body or {}).get("spec") or {}).get("capacityProviders") or []:
        if name in FARGATE_PROVIDERS:
            continue
        provider = find_provider(namespace, name)
        if provider is not None:
            out.append(provider_pool(provider)[0])
    return out


def default_strategy(cluster_obj: dict | None) -> list[CapacityProviderStrategyItem] | None:
    """The cluster's defaultCapacityProviderStrategy (used by services and tasks that name
    neither a launch type nor a strategy)."""
    items = ((cluster_obj or {}).get("spec") or {}).get("defaultCapacityProviderStrategy") or []
    try:
        return [CapacityProviderStrategyItem.model_validate(dict(i)) for i in items] or None
    except ValidationError as e:
        raise NotReady(
            "InvalidParameterException", f"cluster defaultCapacityProviderStrategy: {e.errors()[0].get('msg')}"
        ) from e


def strategy_pools(namespace: str, strategy: list | None) -> dict[str, tuple[dict, list]]:
    """Node pools (nodeSelector, tolerations) of the capacity providers a strategy names that
    exist as CapacityProviders (FARGATE / FARGATE_SPOT need none)."""
    out: dict[str, tuple[dict, list]] = {}
    for item in strategy or []:
        name = item.capacityProvider
        if name and name not in out:
            obj = find_provider(namespace, name)
            if obj is not None:
                out[name] = provider_pool(obj)
    return out


@dataclass(frozen=True)
class ClusterSnapshot:
    """The ECS cluster a service or task runs in."""

    name: str
    obj: dict | None  # its ECSCluster (None: none yet)
    pools: list[dict[str, str]] = field(default_factory=list)  # its EC2-style capacity providers' pools
    default_strategy: list[CapacityProviderStrategyItem] | None = None


def read_cluster(namespace: str, cluster: str) -> ClusterSnapshot:
    """The cluster ``cluster`` of ``namespace`` (``default`` is created on first use; any other
    missing one raises NotReady ClusterNotFoundException)."""
    obj = existing_cluster(namespace, cluster)
    return ClusterSnapshot(
        name=cluster, obj=obj, pools=cluster_pools(namespace, obj), default_strategy=default_strategy(obj)
    )
