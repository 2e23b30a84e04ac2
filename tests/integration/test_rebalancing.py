"""Availability Zone rebalancing on the real control plane: with zone b's container instances
cordoned, a service's tasks all land in zone a; once zone b is back, the operator stops tasks in
zone a one at a time, their replacements are placed in zone b, and the service's events say so
as ECS words them (SERVICE_REBALANCING_STARTED, tasks stopped, SERVICE_REBALANCING_COMPLETED)."""

from __future__ import annotations

from collections import Counter

from .kube import wait_for
from .test_draining import nodes_ready
from .test_ecsservice import running_pods, svc
from .test_taskdefinition import G, V, get, td, wait_ready

ZONE_A, ZONE_B = "us-east-1a", "us-east-1b"


def _zones(core, namespace: str, name: str, zone_of: dict[str, str]) -> Counter:
    return Counter(zone_of.get(p.spec.node_name, "?") for p in running_pods(core, namespace, name))


def _messages(custom, namespace: str, name: str) -> list[str]:
    return [e["message"] for e in (get(custom, namespace, "ecsservices", name).get("status") or {}).get("events") or []]


def test_tasks_move_back_into_balance_when_a_zone_returns(custom, core, namespace, operator, cluster):
    from ecs_operator.dev.cluster import NodeSpec

    ecs_cluster = f"rebal-{namespace[-4:]}"
    names = {f"ip-10-0-8-{namespace[-4:]}-{z}{i}": zone for z, zone in (("a", ZONE_A), ("b", ZONE_B)) for i in (1, 2)}
    zone_b = [n for n, z in names.items() if z == ZONE_B]
    cluster.apply_nodes(
        [NodeSpec(name=n, zone=z, labels={"ecs.seed.dev/cluster": ecs_cluster}) for n, z in names.items()]
    )
    try:
        wait_for(lambda: nodes_ready(core, list(names)), timeout=30, desc="the cluster's nodes Ready")
        for n in zone_b:  # zone b is out
            core.patch_node(n, {"spec": {"unschedulable": True}})
        custom.create_namespaced_custom_object(
            G,
            V,
            namespace,
            "ecsclusters",
            {"apiVersion": f"{G}/{V}", "kind": "ECSCluster", "metadata": {"name": ecs_cluster}, "spec": {}},
        )
        custom.create_namespaced_custom_object(G, V, namespace, "taskdefinitions", td("web"))
        spec = {"cluster": ecs_cluster, "deploymentConfiguration": {"minimumHealthyPercent": 50, "maximumPercent": 200}}
        custom.create_namespaced_custom_object(G, V, namespace, "ecsservices", svc("web", "web", 4, **spec))
        wait_ready(custom, namespace, "ecsservices", "web", timeout=90)
        assert _zones(core, namespace, "web", names) == Counter({ZONE_A: 4}), "zone b is out: every task in a"

        for n in zone_b:  # zone b is back
            core.patch_node(n, {"spec": {"unschedulable": False}})

        def balanced():
            z = _zones(core, namespace, "web", names)
            messages = _messages(custom, namespace, "web")
            done = any(m.startswith("service (web) is AZ balanced with") for m in messages)
            return (z, messages) if z == Counter({ZONE_A: 2, ZONE_B: 2}) and done else None

        zones, messages = wait_for(balanced, timeout=180, desc="tasks 2/2 over the zones and rebalancing completed")
        started = (
            f"service (web) is not AZ balanced with 4 tasks in {ZONE_A} and 0 in {ZONE_B}. AZ Rebalancing in progress."
        )
        assert started in messages, messages
        stopped = [
            m for m in messages if m.startswith(f"web has stopped 1 running tasks in {ZONE_A} due to AZ rebalancing: ")
        ]
        assert len(stopped) == 2, messages
        completed = f"service (web) is AZ balanced with 2 tasks in {ZONE_A} and 2 tasks in {ZONE_B}."
        assert completed in messages, messages
        # newest first: completed, then the stops, then started
        at = [messages.index(m) for m in stopped]
        assert messages.index(completed) < min(at) and max(at) < messages.index(started), messages
        st = get(custom, namespace, "ecsservices", "web")["status"]
        assert st["runningCount"] == 4
    finally:
        for n in names:
            core.delete_node(n)
