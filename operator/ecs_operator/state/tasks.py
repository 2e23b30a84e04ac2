"""Standalone tasks (ECSTask) as the handler sees them: the ECSTask and its pods by task index
(:func:`read_task`); for tasks that are about to start, the revision and the cluster they
start in (:func:`read_revision`, :func:`read_target`); which ECSTasks a change concerns."""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import API_VERSION, k8s
from ..domain import revisions
from ..models.generated import CapacityProviderStrategyItem, RunTaskRequest
from ..translate import task as task_tr
from ..translate.service import cluster_name
from .clusters import cluster_name_of, cluster_pools, default_strategy, existing_cluster, strategy_pools
from .families import resolve_revision


@dataclass(frozen=True)
class TaskSnapshot:
    """An ECSTask (not being deleted) and the pods it owns, read under its lock."""

    body: dict
    pods: dict[int, dict]  # its pods by task index
    owner: dict = field(default_factory=dict)  # the owner reference its pods carry

    @property
    def namespace(self) -> str:
        return self.body["metadata"]["namespace"]

    @property
    def name(self) -> str:
        return self.body["metadata"]["name"]


def _owned(obj: dict, uid: str) -> bool:
    return any(o.get("uid") == uid for o in obj["metadata"].get("ownerReferences") or [])


def task_pods(namespace: str, name: str, uid: str) -> dict[int, dict]:
    """The pods of ECSTask ``name`` (owned by the object ``uid``), by task index."""
    out: dict[int, dict] = {}
    for pod in k8s.list_("v1", "Pod", namespace, labels={task_tr.LABEL_TASK: task_tr.task_label(name)}):
        index = task_tr.pod_index(pod)
        if index is not None and _owned(pod, uid):
            out[index] = pod
    return out


def read_task(namespace: str, name: str) -> TaskSnapshot | None:
    """The ECSTask and its pods; None when it is gone or being deleted."""
    body = k8s.get(API_VERSION, "ECSTask", namespace, name)
    if body is None or body["metadata"].get("deletionTimestamp"):
        return None
    return TaskSnapshot(
        body=body, pods=task_pods(namespace, name, body["metadata"]["uid"]), owner=k8s.owner_of(body).as_dict()
    )


def read_revision(namespace: str, req: RunTaskRequest, recorded: str | None) -> revisions.Revision:
    """The task's revision: the one it started with (``recorded``, kept although INACTIVE), else
    what spec.taskDefinition names. Raises NotReady with ECS's reason."""
    return resolve_revision(namespace, recorded or req.taskDefinition, keep=recorded)


@dataclass(frozen=True)
class LaunchTarget:
    """Where RunTask starts the tasks: the cluster and the capacity providers' node pools."""

    cluster: str
    cluster_obj: dict | None  # its ECSCluster
    cluster_pools: list[dict[str, str]]  # node pools of the cluster's EC2-style capacity providers
    strategy: list[CapacityProviderStrategyItem] | None  # the request's, else the cluster's default
    strategy_pools: dict[str, tuple[dict, list]]  # node pools of the providers the strategy names


def read_target(namespace: str, req: RunTaskRequest) -> LaunchTarget:
    """The cluster the request names (``default`` is created on first use; any other missing
    one raises NotReady ClusterNotFoundException) and the node pools of its capacity providers.
    A request that names neither a launch type nor a strategy uses the cluster's
    defaultCapacityProviderStrategy."""
    cluster = cluster_name(req.cluster)
    obj = existing_cluster(namespace, cluster)
    pools = cluster_pools(namespace, obj)
    strategy = req.capacityProviderStrategy or (None if req.launchType else default_strategy(obj))
    return LaunchTarget(cluster, obj, pools, strategy, strategy_pools(namespace, strategy))


def tasks_in_cluster(cluster: dict) -> list[tuple[str, str]]:
    """(namespace, name) of the ECSTasks that run in the ECSCluster ``cluster``."""
    name = cluster_name_of(cluster)
    namespace = cluster["metadata"]["namespace"]
    return [
        (namespace, t["metadata"]["name"])
        for t in k8s.list_(API_VERSION, "ECSTask", namespace)
        if cluster_name((t.get("spec") or {}).get("cluster")) == name
    ]


def _names_family(task: dict, family: str) -> bool:
    try:
        return revisions.parse_reference((task.get("spec") or {}).get("taskDefinition") or "").family == family
    except revisions.ReferenceError_:
        return False


def waiting_for_family(namespace: str, family: str) -> list[str]:
    """The ECSTasks of ``namespace`` that started no task yet and name ``family``."""
    return [
        t["metadata"]["name"]
        for t in k8s.list_(API_VERSION, "ECSTask", namespace)
        if not (t.get("status") or {}).get("tasks")
        and not t["metadata"].get("deletionTimestamp")
        and _names_family(t, family)
    ]
