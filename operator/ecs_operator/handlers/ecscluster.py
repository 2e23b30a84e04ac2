"""ECSCluster: the cluster's status counts as ECS's DescribeClusters reports them.

As in ECS, a service that names no cluster belongs to ``default``, which exists without anyone
creating it: the operator creates the ``default`` ECSCluster in a namespace the first time a
service there uses it (:func:`ecs_operator.state.clusters.existing_cluster`). A cluster's
container instances are the nodes of its capacity providers' pools (see
:mod:`ecs_operator.domain.membership`). Services and tasks of a cluster that changed are woken up
(:mod:`.wakeups`, kind ``ECSCluster``).
"""

from __future__ import annotations

import kopf

from .. import API_VERSION, GROUP, VERSION, k8s, metrics
from ..domain.capacity import is_virtual
from ..domain.instances import slim_pod
from ..domain.membership import is_instance_of
from ..plans.cluster import cluster_status
from ..state import fleet
from ..state.clusters import cluster_name_of, cluster_pools, is_implicit_default
from ..status import format_warnings, now_iso
from ..translate import cluster as cluster_tr
from ..translate import service as svc_tr
from . import wakeups

REFRESH_SECONDS = 15


def _status(body: dict, max_age: float = fleet.TTL) -> dict:
    namespace = body["metadata"]["namespace"]
    cluster = cluster_name_of(body)
    pools = cluster_pools(namespace, body)
    nodes = [n for n in fleet.nodes(max_age) if is_instance_of(n, cluster, pools) or is_virtual(n)]
    return cluster_status(
        body,
        cluster,
        nodes=nodes,
        cluster_pods=k8s.list_("v1", "Pod", namespace, label_selector=svc_tr.LABEL_CLUSTER, project=slim_pod),
        all_pods=fleet.bound_pods(max_age),
        services=k8s.list_(API_VERSION, "ECSService", namespace),
        pools=pools,
        now=now_iso(),
    )


@kopf.on.resume(GROUP, VERSION, "ecsclusters")
@kopf.on.create(GROUP, VERSION, "ecsclusters")
@kopf.on.update(GROUP, VERSION, "ecsclusters", field="spec")
@metrics.reconciled("ECSCluster")
def cluster_changed(body, patch, reason, logger, **_):
    patch.setdefault("status", {}).update(_status(dict(body), max_age=fleet.fresh(reason)))
    for warning in format_warnings(cluster_tr.cluster_warnings(body.get("spec"))):
        kopf.warn(body, reason="TranslatedWithWarnings", message=warning)
    # Services and tasks waiting for this cluster (ClusterNotFoundException), or placed by its
    # capacity providers, are reconciled now. Not at the operator's start (each resumes on its
    # own), nor when the operator created the default cluster on a first use (whoever used it
    # created it: at 100 services applied at once, that wake-up was a second reconcile of each).
    if reason == "resume" or (reason == "create" and is_implicit_default(body)):
        return
    wakeups.changed("ECSCluster", dict(body), logger)


@kopf.timer(GROUP, VERSION, "ecsclusters", interval=REFRESH_SECONDS, idle=REFRESH_SECONDS / 2)
@metrics.reconciled("ECSCluster")
def cluster_counts(body, patch, **_):
    status = _status(dict(body))
    old = body.get("status") or {}
    if any(old.get(k) != v for k, v in status.items() if k != "conditions"):
        patch.setdefault("status", {}).update(status)
