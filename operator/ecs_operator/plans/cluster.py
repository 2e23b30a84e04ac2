"""ECSCluster status (pure): the counters and container instances ECS's DescribeClusters and
DescribeContainerInstances report, from the nodes, pods and services of a snapshot."""

from __future__ import annotations

from typing import Any

from ..domain.capacity import is_virtual
from ..domain.instances import build_instances
from ..domain.membership import is_instance_of
from ..status import condition, format_warnings, merge_conditions
from ..translate import cluster as cluster_tr
from ..translate import service as svc_tr


def counts(
    namespace: str,
    cluster: str,
    nodes: list[dict[str, Any]],
    pods: list[dict[str, Any]],
    services: list[dict[str, Any]],
    pools: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
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


def container_instances(nodes: list[dict[str, Any]], pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
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


def cluster_status(
    body: dict[str, Any],
    cluster: str,
    *,
    nodes: list[dict[str, Any]],
    cluster_pods: list[dict[str, Any]],
    all_pods: list[dict[str, Any]],
    services: list[dict[str, Any]],
    pools: list[dict[str, str]],
    now: str,
) -> dict[str, Any]:
    """The ECSCluster's status: ``nodes`` its container instances and the virtual nodes,
    ``cluster_pods`` the namespace's ECS task pods, ``all_pods`` every pod (resources are used
    by every pod on a node, whatever its namespace), ``services`` the namespace's ECSServices."""
    md = body["metadata"]
    status = counts(md["namespace"], cluster, nodes=nodes, pods=cluster_pods, services=services, pools=pools)
    status["containerInstances"] = container_instances(nodes, all_pods)
    status["observedGeneration"] = md.get("generation")
    warnings = format_warnings(cluster_tr.cluster_warnings(body.get("spec")))
    invalid = cluster_tr.cluster_name_error(cluster)  # CreateCluster would refuse it
    if invalid:
        status["status"] = "FAILED"
    status["conditions"] = merge_conditions(
        (body.get("status") or {}).get("conditions"),
        [
            condition("Ready", False, "InvalidParameterException", invalid, md.get("generation"), now)
            if invalid
            else condition("Ready", True, "Active", f"cluster {cluster} is ACTIVE", md.get("generation"), now),
            condition(
                "Translated",
                True,
                "TranslatedWithWarnings" if warnings else "Translated",
                ("Kubernetes cannot express: " + "; ".join(warnings)) if warnings else "every field is expressed",
                md.get("generation"),
                now,
            ),
        ],
    )
    return status
