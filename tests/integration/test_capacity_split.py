"""Capacity provider strategies of several providers on the real control plane: tasks split by
base then weight exactly as ECS splits them, each share on its own provider's nodes."""

from __future__ import annotations

from .kube import wait_for
from .test_ecsservice import running_pods, svc
from .test_taskdefinition import G, V, get, td, wait_ready


def provider(name: str, zone: str) -> dict:
    return {
        "apiVersion": f"{G}/{V}",
        "kind": "CapacityProvider",
        "metadata": {"name": name},
        "spec": {
            "autoScalingGroupProvider": {"autoScalingGroupArn": f"arn:aws:autoscaling:us-east-1:1:asg/{name}"},
            "kubernetes": {"nodeSelector": {"topology.kubernetes.io/zone": zone, "type": "kwok"}},
        },
    }


def counts_by_node_label(core, namespace, name, label: str) -> dict[str, int]:
    """Running tasks of the service per value of a label of their nodes."""
    values = {n.metadata.name: (n.metadata.labels or {}).get(label) for n in core.list_node().items}
    out: dict[str, int] = {}
    for p in running_pods(core, namespace, name):
        out[values[p.spec.node_name]] = out.get(values[p.spec.node_name], 0) + 1
    return out


def zone_counts(core, namespace, name) -> dict[str, int]:
    return counts_by_node_label(core, namespace, name, "topology.kubernetes.io/zone")


def provider_counts(core, namespace, name) -> dict[str, int]:
    return counts_by_node_label(core, namespace, name, "ecs.seed.dev/capacity-provider")


def test_base_and_weight_land_exactly_the_right_number_of_tasks_on_each_pool(custom, apps, core, namespace, operator):
    for name, zone in (("pool-a", "us-east-1a"), ("pool-c", "us-east-1c")):
        custom.create_namespaced_custom_object(G, V, namespace, "capacityproviders", provider(name, zone))
    custom.create_namespaced_custom_object(G, V, namespace, "taskdefinitions", td("split"))
    strategy = [{"capacityProvider": "pool-a", "base": 2, "weight": 1}, {"capacityProvider": "pool-c", "weight": 2}]
    custom.create_namespaced_custom_object(
        G, V, namespace, "ecsservices", svc("split", "split", 7, capacityProviderStrategy=strategy)
    )
    wait_ready(custom, namespace, "ecsservices", "split", timeout=120)
    # 2 for pool-a's base; the other 5 by weight 1:2 -> 2 and 3
    assert zone_counts(core, namespace, "split") == {"us-east-1a": 4, "us-east-1c": 3}
    st = get(custom, namespace, "ecsservices", "split")["status"]
    assert (st["desiredCount"], st["runningCount"], st["pendingCount"]) == (7, 7, 0)
    assert st["workloads"] == ["Deployment/split-pool-a", "Deployment/split-pool-c"]
    assert st["capacityProviderStrategy"] == strategy
    assert [(d["status"], d["desiredCount"], d["runningCount"]) for d in st["deployments"]] == [("PRIMARY", 7, 7)]
    started = [e["message"] for e in st["events"] if "has started" in e["message"]]
    assert sum(int(m.split("has started ")[1].split()[0]) for m in started) == 7
    assert all(m.count("(task ") == int(m.split("has started ")[1].split()[0]) for m in started)
    for d in ("split-pool-a", "split-pool-c"):
        assert apps.read_namespaced_deployment(d, namespace).metadata.owner_references[0].kind == "ECSService"

    # scaling out adds tasks where the rule puts them: 10 -> 5 and 5
    custom.patch_namespaced_custom_object(G, V, namespace, "ecsservices", "split", {"spec": {"desiredCount": 10}})
    wait_for(
        lambda: (
            zone_counts(core, namespace, "split") == {"us-east-1a": 5, "us-east-1c": 5}
            and get(custom, namespace, "ecsservices", "split")["status"].get("runningCount") == 10
        ),
        timeout=90,
        desc="10 tasks split 5/5",
    )

    # back to one provider: the per-provider Deployments go once the new one runs every task
    custom.patch_namespaced_custom_object(
        G,
        V,
        namespace,
        "ecsservices",
        "split",
        {"spec": {"desiredCount": 3, "capacityProviderStrategy": [{"capacityProvider": "pool-c", "weight": 1}]}},
    )

    def consolidated():
        s = get(custom, namespace, "ecsservices", "split").get("status", {})
        names = {d.metadata.name for d in apps.list_namespaced_deployment(namespace).items}
        return (
            s.get("workloads") == ["Deployment/split"]
            and names == {"split"}
            and s.get("runningCount") == 3
            and zone_counts(core, namespace, "split") == {"us-east-1c": 3}
        )

    wait_for(consolidated, timeout=120, desc="one Deployment on pool-c")
    wait_ready(custom, namespace, "ecsservices", "split", timeout=60)


def test_fargate_base_and_spot_weight_from_the_cluster_default_strategy(custom, core, namespace, operator):
    custom.create_namespaced_custom_object(
        G,
        V,
        namespace,
        "ecsclusters",
        {
            "apiVersion": f"{G}/{V}",
            "kind": "ECSCluster",
            "metadata": {"name": "serverless"},
            "spec": {
                "clusterName": "serverless",
                "capacityProviders": ["FARGATE", "FARGATE_SPOT"],
                "defaultCapacityProviderStrategy": [
                    {"capacityProvider": "FARGATE", "base": 1, "weight": 1},
                    {"capacityProvider": "FARGATE_SPOT", "weight": 3},
                ],
            },
        },
    )
    custom.create_namespaced_custom_object(
        G,
        V,
        namespace,
        "taskdefinitions",
        td("fgs", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512"),
    )
    custom.create_namespaced_custom_object(G, V, namespace, "ecsservices", svc("fgs", "fgs", 5, cluster="serverless"))
    wait_ready(custom, namespace, "ecsservices", "fgs", timeout=120)
    # 1 for FARGATE's base; the other 4 by weight 1:3
    assert provider_counts(core, namespace, "fgs") == {"FARGATE": 2, "FARGATE_SPOT": 3}
    st = get(custom, namespace, "ecsservices", "fgs")["status"]
    assert [i["capacityProvider"] for i in st["capacityProviderStrategy"]] == ["FARGATE", "FARGATE_SPOT"]

    # RunTask splits its tasks the same way
    custom.create_namespaced_custom_object(
        G,
        V,
        namespace,
        "ecstasks",
        {
            "apiVersion": f"{G}/{V}",
            "kind": "ECSTask",
            "metadata": {"name": "batch"},
            "spec": {
                "taskDefinition": "fgs",
                "count": 4,
                "cluster": "serverless",
                "capacityProviderStrategy": [
                    {"capacityProvider": "FARGATE", "weight": 1},
                    {"capacityProvider": "FARGATE_SPOT", "weight": 1},
                ],
            },
        },
    )

    def tasks_by_provider():
        nodes = {
            n.metadata.name: n.metadata.labels.get("ecs.seed.dev/capacity-provider") for n in core.list_node().items
        }
        pods = [
            p
            for p in core.list_namespaced_pod(namespace).items
            if (p.metadata.labels or {}).get("ecs.seed.dev/task") and p.spec.node_name
        ]
        out: dict[str, int] = {}
        for p in pods:
            out[nodes[p.spec.node_name]] = out.get(nodes[p.spec.node_name], 0) + 1
        return out if sum(out.values()) == 4 else None

    assert wait_for(tasks_by_provider, timeout=60, desc="4 tasks placed") == {"FARGATE": 2, "FARGATE_SPOT": 2}

    # a strategy ECS refuses is refused at admission, naming the field
    import kubernetes

    try:
        custom.create_namespaced_custom_object(
            G,
            V,
            namespace,
            "ecsservices",
            svc(
                "twobases",
                "fgs",
                2,
                cluster="serverless",
                capacityProviderStrategy=[
                    {"capacityProvider": "FARGATE", "base": 1, "weight": 1},
                    {"capacityProvider": "FARGATE_SPOT", "base": 1, "weight": 1},
                ],
            ),
        )
        raise AssertionError("two bases should have been refused")
    except kubernetes.client.ApiException as e:
        assert e.status == 422 and "capacityProviderStrategy: Only one capacity provider" in e.body, e.body
