"""DRAINING container instances on the real control plane: a cordoned node's service tasks are
replaced elsewhere within the deployment limits, its daemon tasks stop."""

from __future__ import annotations

import contextlib

import kubernetes

from .kube import wait_for
from .test_ecsservice import running_pods, svc
from .test_taskdefinition import G, V, get, td, wait_ready


def nodes_ready(core, names: list[str]) -> bool:
    """The new container instances are registered and their agent is connected: the node is
    Ready, and kube-controller-manager has taken off the ``not-ready`` taint it puts on every new
    node (until then the scheduler places nothing there; under load that lags the condition)."""
    lifecycle_taints = {"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"}
    ready = {
        n.metadata.name
        for n in core.list_node().items
        if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])
        and not any(t.key in lifecycle_taints for t in n.spec.taints or [])
    }
    return set(names) <= ready


@contextlib.contextmanager
def container_instances(cluster, core, ecs_cluster: str, prefix: str, zone: str):
    """Two KWOK nodes registered to ``ecs_cluster`` (Ready when the block starts), removed after
    (the test may have deleted them)."""
    from ecs_operator.dev.cluster import NodeSpec

    nodes = [f"{prefix}-{i}" for i in (1, 2)]
    cluster.apply_nodes([NodeSpec(name=n, zone=zone, labels={"ecs.seed.dev/cluster": ecs_cluster}) for n in nodes])
    try:
        wait_for(lambda: nodes_ready(core, nodes), timeout=30, desc="new nodes Ready")
        yield nodes
    finally:
        for n in nodes:
            try:
                core.delete_node(n)
            except kubernetes.client.ApiException as e:
                if e.status != 404:
                    raise


def test_a_cordoned_node_drains_service_and_daemon_tasks(custom, core, namespace, operator, cluster):
    ecs_cluster = f"drain-{namespace[-4:]}"
    with container_instances(cluster, core, ecs_cluster, f"ip-10-0-9-{namespace[-4:]}", "us-east-1a") as nodes:
        custom.create_namespaced_custom_object(
            G,
            V,
            namespace,
            "ecsclusters",
            {"apiVersion": f"{G}/{V}", "kind": "ECSCluster", "metadata": {"name": ecs_cluster}, "spec": {}},
        )
        custom.create_namespaced_custom_object(G, V, namespace, "taskdefinitions", td("web"))
        custom.create_namespaced_custom_object(
            G,
            V,
            namespace,
            "ecsservices",
            svc("web", "web", 4, cluster=ecs_cluster, placementStrategy=[{"type": "spread", "field": "instanceId"}]),
        )
        custom.create_namespaced_custom_object(
            G, V, namespace, "ecsservices", svc("agent", "web", None, cluster=ecs_cluster, schedulingStrategy="DAEMON")
        )
        wait_ready(custom, namespace, "ecsservices", "web", timeout=90)
        wait_ready(custom, namespace, "ecsservices", "agent", timeout=90)
        assert {p.spec.node_name for p in running_pods(core, namespace, "agent")} == set(nodes)
        on_first = [p.metadata.name for p in running_pods(core, namespace, "web") if p.spec.node_name == nodes[0]]
        assert on_first, "spread by instance put tasks on both nodes"

        # cordon = ECS's UpdateContainerInstancesState DRAINING
        core.patch_node(nodes[0], {"spec": {"unschedulable": True}})
        lowest = 4

        def drained():
            nonlocal lowest
            web = running_pods(core, namespace, "web")
            ready = [p for p in web if any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])]
            lowest = min(lowest, len(ready))
            agents = running_pods(core, namespace, "agent")
            node = core.read_node(nodes[0])
            return (
                node.metadata.labels.get("ecs.seed.dev/container-instance-status") == "DRAINING"
                and len(web) == 4
                and {p.spec.node_name for p in web} == {nodes[1]}
                and {p.spec.node_name for p in agents} == {nodes[1]}
            )

        wait_for(drained, timeout=120, interval=0.3, desc="tasks moved off the draining node")
        # minimumHealthyPercent 100 (ECS's default): never fewer than 4 healthy tasks meanwhile
        assert lowest == 4
        wait_ready(custom, namespace, "ecsservices", "web", timeout=60)
        wait_for(
            lambda: any(
                "has stopped" in e["message"] and "running tasks: (task " in e["message"]
                for e in get(custom, namespace, "ecsservices", "web")["status"].get("events", [])
            ),
            timeout=30,
            desc="ECS's 'has stopped N running tasks' event",
        )

        def instance_states():
            cis = get(custom, namespace, "ecsclusters", ecs_cluster).get("status", {}).get("containerInstances") or []
            states = {ci["ec2InstanceId"]: ci["status"] for ci in cis}
            return states if states == {nodes[0]: "DRAINING", nodes[1]: "ACTIVE"} else None

        wait_for(instance_states, timeout=60, desc="ECSCluster shows the DRAINING instance")

        # uncordon: ACTIVE again, daemon task back
        core.patch_node(nodes[0], {"spec": {"unschedulable": False}})
        wait_for(
            lambda: (
                not (core.read_node(nodes[0]).metadata.labels or {}).get("ecs.seed.dev/container-instance-status")
                and {p.spec.node_name for p in running_pods(core, namespace, "agent")} == set(nodes)
            ),
            timeout=90,
            desc="daemon task back on the re-activated instance",
        )


def test_kubectl_drain_waits_for_replacements_with_the_clusters_disruption_budgets(
    custom, core, namespace, operator, cluster, kubectl
):
    import threading

    import kubernetes

    ecs_cluster = f"pdb-{namespace[-4:]}"
    with container_instances(cluster, core, ecs_cluster, f"ip-10-0-10-{namespace[-4:]}", "us-east-1b") as nodes:
        custom.create_namespaced_custom_object(
            G,
            V,
            namespace,
            "ecsclusters",
            {
                "apiVersion": f"{G}/{V}",
                "kind": "ECSCluster",
                "metadata": {"name": ecs_cluster},
                "spec": {"kubernetes": {"podDisruptionBudgets": True}},
            },
        )
        custom.create_namespaced_custom_object(G, V, namespace, "taskdefinitions", td("web"))
        custom.create_namespaced_custom_object(
            G,
            V,
            namespace,
            "ecsservices",
            svc("web", "web", 4, cluster=ecs_cluster, placementStrategy=[{"type": "spread", "field": "instanceId"}]),
        )
        wait_ready(custom, namespace, "ecsservices", "web", timeout=90)
        policy = kubernetes.client.PolicyV1Api(core.api_client)
        pdb = wait_for(
            lambda: policy.read_namespaced_pod_disruption_budget("web", namespace),
            timeout=30,
            desc="PodDisruptionBudget",
        )
        assert pdb.spec.min_available == 4 and pdb.metadata.owner_references[0].kind == "ECSService"
        # minimumHealthyPercent 100: no task may be evicted while nothing replaces it
        victim = next(p for p in running_pods(core, namespace, "web") if p.spec.node_name == nodes[0])
        wait_for(
            lambda: (policy.read_namespaced_pod_disruption_budget("web", namespace).status.current_healthy or 0) == 4,
            timeout=30,
            desc="budget observed",
        )
        try:
            core.create_namespaced_pod_eviction(
                victim.metadata.name,
                namespace,
                {
                    "apiVersion": "policy/v1",
                    "kind": "Eviction",
                    "metadata": {"name": victim.metadata.name, "namespace": namespace},
                },
            )
            raise AssertionError("the eviction should have been refused")
        except kubernetes.client.ApiException as e:
            assert e.status == 429, e

        # kubectl drain: cordons (DRAINING), the operator starts replacements elsewhere, the
        # evictions go through once they run; never fewer than 4 healthy tasks meanwhile
        lowest, done = [4], threading.Event()

        def watch_healthy():
            while not done.is_set():
                ready = [
                    p
                    for p in running_pods(core, namespace, "web")
                    if any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
                ]
                lowest[0] = min(lowest[0], len(ready))
                done.wait(0.2)

        watcher = threading.Thread(target=watch_healthy, daemon=True)
        watcher.start()
        try:
            kubectl("drain", nodes[0], "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=120s")
        finally:
            done.set()
            watcher.join()
        assert lowest[0] >= 4, f"healthy tasks dropped to {lowest[0]} during the drain"
        wait_for(
            lambda: (
                {p.spec.node_name for p in running_pods(core, namespace, "web")} == {nodes[1]}
                and len(running_pods(core, namespace, "web")) == 4
            ),
            timeout=60,
            desc="4 tasks on the other node",
        )

        # the cluster no longer asks for budgets: they go
        custom.patch_namespaced_custom_object(
            G, V, namespace, "ecsclusters", ecs_cluster, {"spec": {"kubernetes": {"podDisruptionBudgets": False}}}
        )
        wait_for(
            lambda: not policy.list_namespaced_pod_disruption_budget(namespace).items,
            timeout=60,
            desc="budgets deleted",
        )
