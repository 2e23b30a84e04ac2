"""ECSCluster: the cluster's status counts as ECS's DescribeClusters reports them.

As in ECS, a service that names no cluster belongs to ``default``, which exists without anyone
creating it: the operator creates the ``default`` ECSCluster in a namespace the first time a
service there uses it. Container instance membership (capacity providers as node pools) is the
placement work's; until then every schedulable node counts as a container instance of every
cluster.
"""

from __future__ import annotations

import re

import kopf
from pydantic import ValidationError

from .. import API_VERSION, GROUP, VERSION, k8s
from ..domain.capacity import FARGATE_PROVIDERS, is_virtual
from ..domain.instances import build_instances
from ..domain.membership import is_instance_of
from ..models.generated import CapacityProviderStrategyItem
from ..status import condition, format_warnings, merge_conditions, now_iso
from ..translate import cluster as cluster_tr
from ..translate import service as svc_tr
from ._errors import NotReady

API = API_VERSION
REFRESH_SECONDS = 15
_DNS = re.compile(r"^[a-z0-9]([-a-z0-9]{0,251}[a-z0-9])?$")


def cluster_name_of(body: dict) -> str:
    return (body.get("spec") or {}).get("clusterName") or body["metadata"]["name"]


def pools_of(namespace: str, body: dict | None) -> list[dict[str, str]]:
    """Node pools (nodeSelectors) of the cluster's EC2-style capacity providers."""
    from .capacityprovider import find, pool  # late import: capacityprovider imports nothing from here

    out = []
    for name in ((body or {}).get("spec") or {}).get("capacityProviders") or []:
        if name in FARGATE_PROVIDERS:
            continue
        provider = find(namespace, name)
        if provider is not None:
            selector, _ = pool(provider)
            out.append(selector)
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


def counts(
    namespace: str,
    cluster: str,
    nodes: list[dict],
    pods: list[dict],
    services: list[dict],
    pools: list[dict[str, str]] | None = None,
) -> dict:
    """Pure: the ECS counters from nodes, the cluster's pods and the namespace's services."""
    label = svc_tr.cluster_label(cluster)
    mine = [
        p
        for p in pods
        if p["metadata"].get("labels", {}).get(svc_tr.LABEL_CLUSTER) == label
        and not p["metadata"].get("deletionTimestamp")
    ]
    active_services = [
        s
        for s in services
        if svc_tr.cluster_name((s.get("spec") or {}).get("cluster")) == cluster
        and not s["metadata"].get("deletionTimestamp")
    ]
    # Fargate's virtual nodes are not container instances; a DRAINING (cordoned) one is still registered.
    instances = [n for n in nodes if not is_virtual(n) and is_instance_of(n, cluster, pools)]
    return {
        "clusterName": cluster,
        "status": "ACTIVE",
        "registeredContainerInstancesCount": len(instances),
        "runningTasksCount": sum(1 for p in mine if p.get("status", {}).get("phase") == "Running"),
        "pendingTasksCount": sum(1 for p in mine if p.get("status", {}).get("phase") == "Pending"),
        "activeServicesCount": len(active_services),
    }


MAX_LISTED_INSTANCES = 100


def container_instances(nodes: list[dict], pods: list[dict]) -> list[dict]:
    """The container instances as ECS's DescribeContainerInstances shows them (pure): the
    EC2-style nodes (Fargate's virtual nodes are not container instances), with registered
    and remaining cpu (units, 1 vCPU = 1024) and memory (MiB), running/pending tasks,
    agentConnected (node Ready) and status (DRAINING = cordoned)."""
    instances = build_instances([n for n in nodes if not is_virtual(n)], pods)
    out = []
    for name in sorted(instances)[:MAX_LISTED_INSTANCES]:
        ci = instances[name]
        out.append(
            {
                "ec2InstanceId": ci.name,
                "status": ci.status,
                "agentConnected": ci.agent_connected,
                "registeredResources": [
                    {"name": "CPU", "type": "INTEGER", "integerValue": ci.registered_cpu},
                    {"name": "MEMORY", "type": "INTEGER", "integerValue": ci.registered_memory},
                ],
                "remainingResources": [
                    {"name": "CPU", "type": "INTEGER", "integerValue": ci.remaining_cpu},
                    {"name": "MEMORY", "type": "INTEGER", "integerValue": ci.remaining_memory},
                ],
                "runningTasksCount": ci.running_tasks_count,
                "pendingTasksCount": ci.pending_tasks_count,
                "attributes": [{"name": k, "value": v} for k, v in sorted(ci.attributes.items())],
            }
        )
    return out


def refresh(body: dict) -> dict:
    md = body["metadata"]
    namespace = md["namespace"]
    cluster = cluster_name_of(body)
    pools = pools_of(namespace, body)
    nodes = [n for n in k8s.list_("v1", "Node", None) if is_instance_of(n, cluster, pools) or is_virtual(n)]
    status = counts(
        namespace,
        cluster,
        nodes=nodes,
        pods=k8s.list_("v1", "Pod", namespace, label_selector=svc_tr.LABEL_CLUSTER),
        services=k8s.list_(API, "ECSService", namespace),
        pools=pools,
    )
    # Resources are used by every pod on a node, whatever its namespace.
    status["containerInstances"] = container_instances(nodes, k8s.list_("v1", "Pod", None))
    status["observedGeneration"] = md.get("generation")
    warnings = format_warnings(cluster_tr.cluster_warnings(body.get("spec")))
    invalid = cluster_tr.cluster_name_error(cluster)  # CreateCluster would refuse it
    if invalid:
        status["status"] = "FAILED"
    status["conditions"] = merge_conditions(
        (body.get("status") or {}).get("conditions"),
        [
            condition("Ready", False, "InvalidParameterException", invalid, md.get("generation"), now_iso())
            if invalid
            else condition("Ready", True, "Active", f"cluster {cluster} is ACTIVE", md.get("generation"), now_iso()),
            condition(
                "Translated",
                True,
                "TranslatedWithWarnings" if warnings else "Translated",
                ("Kubernetes cannot express: " + "; ".join(warnings)) if warnings else "every field is expressed",
                md.get("generation"),
                now_iso(),
            ),
        ],
    )
    return status


def find_cluster(namespace: str, cluster: str) -> dict | None:
    """The ECSCluster whose ECS name (spec.clusterName or object name) is ``cluster``."""
    obj = k8s.get(API, "ECSCluster", namespace, cluster) if _DNS.match(cluster) else None
    if obj is not None and cluster_name_of(obj) == cluster:
        return obj
    return next((o for o in k8s.list_(API, "ECSCluster", namespace) if cluster_name_of(o) == cluster), None)


@kopf.on.resume(GROUP, VERSION, "ecsclusters")
@kopf.on.create(GROUP, VERSION, "ecsclusters")
@kopf.on.update(GROUP, VERSION, "ecsclusters", field="spec")
def cluster_changed(body, patch, logger, **_):
    patch.setdefault("status", {}).update(refresh(dict(body)))
    for warning in format_warnings(cluster_tr.cluster_warnings(body.get("spec"))):
        kopf.warn(body, reason="TranslatedWithWarnings", message=warning)
    # Services and tasks waiting for this cluster (ClusterNotFoundException), or placed by its
    # capacity providers, are reconciled now.
    from . import ecsservice  # late import: ecsservice imports this module

    name = cluster_name_of(body)
    for svc in k8s.list_(API, "ECSService", body["metadata"]["namespace"]):
        if svc_tr.cluster_name((svc.get("spec") or {}).get("cluster")) == name:
            try:
                ecsservice.reconcile(svc, logger)
            except (k8s.ApiError, kopf.TemporaryError) as e:
                logger.warning(f"service {svc['metadata']['name']} will catch up on its next event: {e}")
    from . import ecstask

    for task in k8s.list_(API, "ECSTask", body["metadata"]["namespace"]):
        if svc_tr.cluster_name((task.get("spec") or {}).get("cluster")) == name:
            try:
                ecstask.sync(task["metadata"]["namespace"], task["metadata"]["name"], logger)
            except (k8s.ApiError, kopf.TemporaryError) as e:
                logger.warning(f"task {task['metadata']['name']} will catch up on its next event: {e}")


@kopf.timer(GROUP, VERSION, "ecsclusters", interval=REFRESH_SECONDS, idle=REFRESH_SECONDS / 2)
def cluster_counts(body, patch, **_):
    status = refresh(dict(body))
    old = body.get("status") or {}
    if any(old.get(k) != v for k, v in status.items() if k != "conditions"):
        patch.setdefault("status", {}).update(status)


def ensure_default_cluster(namespace: str, cluster: str) -> None:
    """ECS's default cluster exists without anyone creating it."""
    if cluster != "default" or k8s.get(API, "ECSCluster", namespace, "default") is not None:
        return
    try:
        k8s.create(
            {
                "apiVersion": API,
                "kind": "ECSCluster",
                "metadata": {
                    "name": "default",
                    "namespace": namespace,
                    "labels": {"app.kubernetes.io/managed-by": "ecs-operator"},
                },
                "spec": {"clusterName": "default"},
            }
        )
    except kopf.TemporaryError:  # created concurrently (409)
        pass
