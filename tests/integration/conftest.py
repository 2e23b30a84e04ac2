"""Integration fixtures: a real local control plane (started once per session), a fresh
namespace per test, and the operator running as a separate process.

The cluster fixture fails (never skips) when the control plane cannot start, so CI cannot
go green without these tests. Set ECS_OPERATOR_TEST_KUBECONFIG to reuse a running cluster
(e.g. one from ``ecs-operator dev cluster up``) while iterating locally.
"""

from __future__ import annotations

import os

import pytest

from ..cluster_fixtures import (  # noqa: F401 - fixtures and helpers of this tier
    REPO,
    TEST_NAMESPACE_PREFIX,
    _free_port,
    api,
    apps,
    core,
    crds,
    custom,
    ecs_scheduler,
    http_ok,
    kubeconfig,
    kubectl,
    local_process,
    make_namespace,
    mark_tier,
    namespace,
    operator,
    run_operator,
    session_cluster,
)


def pytest_collection_modifyitems(items):
    mark_tier(items, "integration", pytest.mark.integration)


@pytest.fixture(scope="session")
def cluster():
    # ECS_OPERATOR_TEST_CLUSTER lets two test runs on one machine use separate clusters.
    with session_cluster(
        os.environ.get("ECS_OPERATOR_TEST_CLUSTER", "ecs-test"), "local control plane", "ECS_OPERATOR_TEST_KUBECONFIG"
    ) as c:
        yield c
