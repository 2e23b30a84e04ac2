"""The real-container tier: a local control plane whose nodes are real kubelets (containerd,
runc, CNI, kube-proxy, CoreDNS; dev/realnode.py) and no fake nodes, so every task here runs
real processes from the images of the local registry. ECS container behaviour is proven here,
observed from inside the containers (their output, files they write, what they can reach).

Like the integration tier, the cluster fixture fails (never skips) when the cluster or a real
node cannot start. ECS_OPERATOR_E2E_KUBECONFIG reuses a running cluster (e.g. one from
``ecs-operator dev cluster up --real-nodes 2 --nodes-per-zone 0 --name ecs-e2e``).
"""

from __future__ import annotations

import os

import pytest
from ecs_operator.dev.cluster import LocalCluster

from ..cluster_fixtures import (  # noqa: F401 - fixtures and helpers of this tier
    api,
    apps,
    core,
    crds,
    custom,
    ecs_scheduler,
    kubeconfig,
    kubectl,
    mark_tier,
    namespace,
    operator,
    session_cluster,
)

#: Real nodes the tier's cluster starts (two, so that traffic between nodes is exercised).
REAL_NODES = int(os.environ.get("ECS_OPERATOR_E2E_REAL_NODES", "2"))


def pytest_collection_modifyitems(items):
    mark_tier(items, "e2e", pytest.mark.e2e)


@pytest.fixture(scope="session")
def cluster():
    name = os.environ.get("ECS_OPERATOR_E2E_CLUSTER", "ecs-e2e")
    with session_cluster(
        name,
        f"local control plane with {REAL_NODES} real node(s)",
        "ECS_OPERATOR_E2E_KUBECONFIG",
        nodes=[],
        real_nodes=REAL_NODES,
    ) as c:
        real = c.real_nodes(log=lambda m: None) if isinstance(c, LocalCluster) else None
        yield c
    if real is not None and not os.environ.get("ECS_OPERATOR_KEEP_CLUSTER"):
        left = real.leftovers()
        assert not left, f"`down` left these behind: {left}"


@pytest.fixture
def ecs_cluster_policy(custom, namespace):  # noqa: F811 - the imported fixtures
    """``allow(allowHostVolumes=True, ...)``: the namespace's `default` ECSCluster with that
    securityPolicy (created before the tasks that need it)."""
    from kubernetes.client.exceptions import ApiException

    def allow(**policy: bool) -> None:
        spec = {"kubernetes": {"securityPolicy": policy}}
        body = {
            "apiVersion": "ecs.seed.dev/v1alpha1",
            "kind": "ECSCluster",
            "metadata": {"name": "default"},
            "spec": spec,
        }
        try:
            custom.create_namespaced_custom_object("ecs.seed.dev", "v1alpha1", namespace, "ecsclusters", body)
        except ApiException as e:
            if e.status != 409:
                raise
            custom.patch_namespaced_custom_object(
                "ecs.seed.dev", "v1alpha1", namespace, "ecsclusters", "default", {"spec": spec}
            )

    return allow
