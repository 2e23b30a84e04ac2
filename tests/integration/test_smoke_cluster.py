"""The local control plane is real: kube-scheduler places pods on KWOK nodes, the
controllers run DaemonSets and garbage collection."""

from __future__ import annotations

from .kube import wait_for


def _deployment(name: str, replicas: int) -> dict:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "nginx:1.27",
                            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                        }
                    ]
                },
            },
        },
    }


def test_nodes_look_like_ec2_instances_across_three_zones(core):
    nodes = [n for n in core.list_node().items if n.metadata.labels.get("type") == "kwok"]
    assert len(nodes) >= 6
    zones = {n.metadata.labels["topology.kubernetes.io/zone"] for n in nodes}
    assert zones == {"us-east-1a", "us-east-1b", "us-east-1c"}
    for n in nodes:
        assert n.metadata.labels["node.kubernetes.io/instance-type"]
        assert n.metadata.labels["kubernetes.io/arch"] == "amd64"
        assert n.status.allocatable["cpu"] and n.status.allocatable["memory"]
        assert any(c.type == "Ready" and c.status == "True" for c in n.status.conditions)


def test_deployment_pods_are_scheduled_and_running_then_garbage_collected(apps, core, namespace):
    apps.create_namespaced_deployment(namespace, _deployment("web", 4))

    def running():
        pods = core.list_namespaced_pod(namespace, label_selector="app=web").items
        ok = [p for p in pods if p.spec.node_name and p.status.phase == "Running"]
        return pods if len(ok) == 4 else None

    pods = wait_for(running, timeout=90, desc="4 running pods")
    node_names = {n.metadata.name for n in core.list_node().items}
    assert all(p.spec.node_name in node_names for p in pods)
    assert all(p.status.pod_ip for p in pods)

    apps.delete_namespaced_deployment("web", namespace, propagation_policy="Background")
    wait_for(
        lambda: not core.list_namespaced_pod(namespace, label_selector="app=web").items,
        timeout=90,
        desc="pods garbage-collected",
    )
    wait_for(
        lambda: not apps.list_namespaced_replica_set(namespace).items, timeout=60, desc="replicasets garbage-collected"
    )


def test_daemonset_runs_exactly_one_pod_per_node(apps, core, namespace):
    labels = {"app": "agent"}
    apps.create_namespaced_daemon_set(
        namespace,
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "agent"},
            "spec": {
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "agent", "image": "amazon/cloudwatch-agent:latest"}]},
                },
            },
        },
    )
    # tainted nodes (the Fargate virtual nodes) take no pods that do not tolerate them
    nodes = {n.metadata.name for n in core.list_node().items if not n.spec.unschedulable and not n.spec.taints}

    def one_per_node():
        pods = [
            p
            for p in core.list_namespaced_pod(namespace, label_selector="app=agent").items
            if p.status.phase == "Running"
        ]
        return pods if sorted(p.spec.node_name for p in pods) == sorted(nodes) else None

    wait_for(one_per_node, timeout=90, desc="one running daemon pod per node")


def test_fargate_virtual_nodes_serve_each_zone_and_repel_other_pods(core):
    virtual = [n for n in core.list_node().items if n.metadata.labels.get("type") == "virtual-kubelet"]
    for provider in ("FARGATE", "FARGATE_SPOT"):
        mine = [n for n in virtual if n.metadata.labels["ecs.seed.dev/capacity-provider"] == provider]
        assert {n.metadata.labels["topology.kubernetes.io/zone"] for n in mine} == {
            "us-east-1a",
            "us-east-1b",
            "us-east-1c",
        }
        assert all(
            t.key == "ecs.seed.dev/virtual-node" and t.effect == "NoSchedule" for n in mine for t in n.spec.taints
        )
