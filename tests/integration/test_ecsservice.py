"""ECSService end to end on the real control plane: pods really scheduled and Running on the
KWOK nodes, status as ECS reports it."""

from __future__ import annotations

from .kube import wait_for
from .test_taskdefinition import G, V, get, td, wait_ready


def svc(name: str, task_definition: str, desired: int | None = 2, **extra) -> dict:
    spec = {"taskDefinition": task_definition, **extra}
    if desired is not None:
        spec["desiredCount"] = desired
    return {"apiVersion": f"{G}/{V}", "kind": "ECSService", "metadata": {"name": name}, "spec": spec}


def running_pods(core, ns, name):
    return [
        p
        for p in core.list_namespaced_pod(ns, label_selector=f"ecs.seed.dev/service={name}").items
        if p.status.phase == "Running" and not p.metadata.deletion_timestamp
    ]


def test_replica_service_reaches_steady_state_then_rolls_to_a_new_revision(custom, apps, core, namespace, operator):
    custom.create_namespaced_custom_object(G, V, namespace, "taskdefinitions", td("web"))
    custom.create_namespaced_custom_object(G, V, namespace, "ecsservices", svc("web", "web", 3))
    wait_ready(custom, namespace, "ecsservices", "web", timeout=90)
    st = get(custom, namespace, "ecsservices", "web")["status"]
    assert (st["desiredCount"], st["runningCount"], st["pendingCount"]) == (3, 3, 0)
    assert st["taskDefinition"] == "web:1" and st["rolloutState"] == "COMPLETED"
    assert [d["status"] for d in st["deployments"]] == ["PRIMARY"]
    assert st["events"][0]["message"] == "(service web) has reached a steady state."
    dep = apps.read_namespaced_deployment("web", namespace)
    assert dep.metadata.owner_references[0].kind == "ECSService"
    assert dep.spec.strategy.rolling_update.max_surge == 3 and dep.spec.strategy.rolling_update.max_unavailable == 0
    pods = running_pods(core, namespace, "web")
    assert len(pods) == 3 and all(p.spec.node_name for p in pods)

    # a new revision of the family the service follows starts a new deployment
    custom.patch_namespaced_custom_object(
        G,
        V,
        namespace,
        "taskdefinitions",
        "web",
        {"spec": {"containerDefinitions": [{"name": "web", "image": "nginx:1.28", "memory": 128}]}},
    )

    def rolled():
        s = get(custom, namespace, "ecsservices", "web")["status"]
        ok = (
            s.get("taskDefinition") == "web:2"
            and s.get("rolloutState") == "COMPLETED"
            and s.get("runningCount") == 3
            and [d["taskDefinition"] for d in s["deployments"]] == ["web:2"]
        )
        return s if ok else None

    wait_for(rolled, timeout=120, desc="rollout to web:2 completed")
    images = {p.spec.containers[0].image for p in running_pods(core, namespace, "web")}
    assert images == {"nginx:1.28"}

    # scaling follows desiredCount
    custom.patch_namespaced_custom_object(G, V, namespace, "ecsservices", "web", {"spec": {"desiredCount": 1}})
    wait_for(
        lambda: (
            len(running_pods(core, namespace, "web")) == 1
            and get(custom, namespace, "ecsservices", "web")["status"].get("runningCount") == 1
        ),
        timeout=90,
        desc="scaled to 1",
    )


def test_daemon_service_runs_one_task_per_container_instance(custom, apps, core, namespace, operator):
    custom.create_namespaced_custom_object(G, V, namespace, "taskdefinitions", td("agent"))
    custom.create_namespaced_custom_object(
        G, V, namespace, "ecsservices", svc("agent", "agent:1", None, schedulingStrategy="DAEMON")
    )
    nodes = [n.metadata.name for n in core.list_node().items if not n.spec.unschedulable and not n.spec.taints]
    wait_ready(custom, namespace, "ecsservices", "agent", timeout=90)
    assert sorted(p.spec.node_name for p in running_pods(core, namespace, "agent")) == sorted(nodes)
    assert apps.read_namespaced_daemon_set("agent", namespace).metadata.owner_references[0].kind == "ECSService"
    assert get(custom, namespace, "ecsservices", "agent")["status"]["runningCount"] == len(nodes)


def test_service_waits_for_its_task_definition_and_refuses_bad_input(custom, namespace, operator):
    custom.create_namespaced_custom_object(G, V, namespace, "ecsservices", svc("late", "late", 1))
    c = wait_ready(custom, namespace, "ecsservices", "late", status="False")
    assert c["reason"] == "TaskDefinitionNotFound" and "taskDefinition" in c["message"]
    custom.create_namespaced_custom_object(G, V, namespace, "taskdefinitions", td("late"))
    wait_ready(custom, namespace, "ecsservices", "late", timeout=90)

    # what ECS's CreateService refuses is refused at admission (CEL), naming the field
    import kubernetes

    for name, extra, field in (
        (
            "both",
            {"launchType": "EC2", "capacityProviderStrategy": [{"capacityProvider": "FARGATE"}]},
            "launchType: Specifying both a launch type and capacity provider strategy is not supported.",
        ),
        (
            "daemoncount",
            {"schedulingStrategy": "DAEMON"},
            "desiredCount: The daemon scheduling strategy does not support a desired count for services.",
        ),
        ("nocount", {"desiredCount": None}, "desiredCount: desiredCount is required"),
    ):
        body = svc(name, "late", 1, **{k: v for k, v in extra.items() if v is not None})
        if extra.get("desiredCount", 1) is None:
            del body["spec"]["desiredCount"]
        try:
            custom.create_namespaced_custom_object(G, V, namespace, "ecsservices", body)
            raise AssertionError(f"{name} should have been refused")
        except kubernetes.client.ApiException as e:
            assert e.status == 422 and field in e.body, e.body


def test_deleting_a_service_drains_it_and_leaves_nothing(custom, apps, core, namespace, operator):
    custom.create_namespaced_custom_object(G, V, namespace, "taskdefinitions", td("gone"))
    custom.create_namespaced_custom_object(G, V, namespace, "ecsservices", svc("gone", "gone", 2))
    wait_ready(custom, namespace, "ecsservices", "gone", timeout=90)
    custom.delete_namespaced_custom_object(G, V, namespace, "ecsservices", "gone")
    wait_for(
        lambda: not custom.list_namespaced_custom_object(G, V, namespace, "ecsservices")["items"],
        timeout=90,
        desc="service deleted",
    )
    assert not apps.list_namespaced_deployment(namespace).items
    assert not core.list_namespaced_pod(namespace, label_selector="ecs.seed.dev/service=gone").items


def test_daemon_service_follows_container_instances_joining_and_leaving(custom, core, namespace, operator, cluster):
    from ecs_operator.dev.cluster import NodeSpec

    custom.create_namespaced_custom_object(G, V, namespace, "taskdefinitions", td("follow"))
    custom.create_namespaced_custom_object(
        G, V, namespace, "ecsservices", svc("follow", "follow", None, schedulingStrategy="DAEMON")
    )
    wait_ready(custom, namespace, "ecsservices", "follow", timeout=90)
    before = get(custom, namespace, "ecsservices", "follow")["status"]["runningCount"]

    node = f"ip-10-0-9-{namespace[-4:]}"
    cluster.apply_nodes([NodeSpec(name=node, zone="us-east-1b")])
    try:
        wait_for(
            lambda: (
                any(p.spec.node_name == node for p in running_pods(core, namespace, "follow"))
                and get(custom, namespace, "ecsservices", "follow")["status"].get("runningCount") == before + 1
            ),
            timeout=90,
            desc="a task on the new container instance",
        )
    finally:
        core.delete_node(node)
    wait_for(
        lambda: (
            all(p.spec.node_name != node for p in running_pods(core, namespace, "follow"))
            and get(custom, namespace, "ecsservices", "follow")["status"].get("runningCount") == before
        ),
        timeout=120,
        desc="the task gone with its container instance",
    )


def test_circuit_breaker_fails_a_crashing_deployment_and_rolls_back(custom, apps, core, namespace, operator):
    custom.create_namespaced_custom_object(G, V, namespace, "taskdefinitions", td("cb"))
    custom.create_namespaced_custom_object(
        G,
        V,
        namespace,
        "ecsservices",
        svc(
            "cb",
            "cb",
            3,
            deploymentConfiguration={
                "maximumPercent": 200,
                "minimumHealthyPercent": 100,
                "deploymentCircuitBreaker": {"enable": True, "rollback": True},
            },
        ),
    )
    wait_ready(custom, namespace, "ecsservices", "cb", timeout=90)
    assert get(custom, namespace, "ecsservices", "cb")["status"]["lastCompletedTaskDefinition"] == "cb:1"

    # revision 2's essential container exits with code 1 right after it starts (KWOK stage)
    custom.patch_namespaced_custom_object(
        G,
        V,
        namespace,
        "taskdefinitions",
        "cb",
        {"spec": {"containerDefinitions": [{"name": "web", "image": "kwok.local/exit:1", "memory": 128}]}},
    )

    def rolled_back():
        st = get(custom, namespace, "ecsservices", "cb")["status"]
        ready_c = next((c for c in st.get("conditions", []) if c["type"] == "Ready"), {})
        return (
            st
            if (
                st.get("rolledBackTaskDefinition") == "cb:2"
                and ready_c.get("reason") == "RolledBack"
                and st.get("taskDefinition") == "cb:1"
                and st.get("runningCount") == 3
                and st.get("rolloutState") == "COMPLETED"
            )
            else None
        )

    st = wait_for(rolled_back, timeout=180, desc="circuit breaker rollback to cb:1")
    messages = [e["message"] for e in st["events"]]
    assert any("deployment failed: tasks failed to start." in m for m in messages), messages
    assert any("rolling back to deployment of cb:1" in m for m in messages), messages
    dep = apps.read_namespaced_deployment("cb", namespace)
    assert dep.spec.template.spec.containers[0].image == "nginx:1.27"
    wait_for(
        lambda: {p.spec.containers[0].image for p in running_pods(core, namespace, "cb")} == {"nginx:1.27"},
        timeout=90,
        desc="only cb:1 tasks left",
    )


def test_default_cluster_exists_and_counts_tasks_and_services(custom, namespace, operator):
    custom.create_namespaced_custom_object(G, V, namespace, "taskdefinitions", td("counted"))
    custom.create_namespaced_custom_object(G, V, namespace, "ecsservices", svc("counted", "counted", 2))
    wait_ready(custom, namespace, "ecsservices", "counted", timeout=90)

    def counted():
        st = get(custom, namespace, "ecsclusters", "default").get("status", {})
        return (
            st
            if (st.get("runningTasksCount"), st.get("activeServicesCount"), st.get("status")) == (2, 1, "ACTIVE")
            else None
        )

    st = wait_for(counted, timeout=60, desc="default cluster counts")
    assert st["registeredContainerInstancesCount"] >= 6 and st["pendingTasksCount"] == 0
    instances = st["containerInstances"]
    assert len(instances) == st["registeredContainerInstancesCount"]
    assert sum(ci["runningTasksCount"] for ci in instances) >= 2
    assert all(ci["agentConnected"] and ci["status"] == "ACTIVE" for ci in instances)
    assert all({r["name"] for r in ci["remainingResources"]} == {"CPU", "MEMORY"} for ci in instances)


def test_deregistered_revision_keeps_running_but_new_services_cannot_use_it(custom, core, namespace, operator, kubectl):
    custom.create_namespaced_custom_object(G, V, namespace, "taskdefinitions", td("old"))
    custom.create_namespaced_custom_object(G, V, namespace, "ecsservices", svc("runs", "old:1", 2))
    wait_ready(custom, namespace, "ecsservices", "runs", timeout=90)
    kubectl("-n", namespace, "label", "controllerrevision", "old-1", "ecs.seed.dev/status=INACTIVE", "--overwrite")
    wait_for(
        lambda: get(custom, namespace, "taskdefinitions", "old")["status"].get("status") == "INACTIVE",
        timeout=30,
        desc="old:1 INACTIVE",
    )
    # a spec change of the running service re-resolves old:1: it keeps running on it
    custom.patch_namespaced_custom_object(G, V, namespace, "ecsservices", "runs", {"spec": {"desiredCount": 3}})
    wait_for(
        lambda: (
            get(custom, namespace, "ecsservices", "runs")["status"].get("runningCount") == 3
            and get(custom, namespace, "ecsservices", "runs")["status"].get("taskDefinition") == "old:1"
        ),
        timeout=90,
        desc="still running old:1, scaled",
    )
    custom.create_namespaced_custom_object(G, V, namespace, "ecsservices", svc("new", "old:1", 1))
    c = wait_ready(custom, namespace, "ecsservices", "new", status="False")
    assert c["reason"] == "ClientException" and "old:1 is inactive" in c["message"]
    # and `family` alone names no ACTIVE revision now
    custom.create_namespaced_custom_object(G, V, namespace, "ecsservices", svc("latest", "old", 1))
    c = wait_ready(custom, namespace, "ecsservices", "latest", status="False")
    assert c["reason"] == "TaskDefinitionNotFound"


def test_fargate_service_runs_only_on_fargate_virtual_nodes(custom, core, namespace, operator):
    fargate_td = td("fg", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512")
    custom.create_namespaced_custom_object(G, V, namespace, "taskdefinitions", fargate_td)
    custom.create_namespaced_custom_object(G, V, namespace, "ecsservices", svc("fg", "fg", 3, launchType="FARGATE"))
    wait_ready(custom, namespace, "ecsservices", "fg", timeout=90)
    nodes = {n.metadata.name: n.metadata.labels for n in core.list_node().items}
    assert {
        nodes[p.spec.node_name].get("ecs.seed.dev/capacity-provider") for p in running_pods(core, namespace, "fg")
    } == {"FARGATE"}
    # a task definition without FARGATE compatibility is refused with ECS's reason
    custom.create_namespaced_custom_object(G, V, namespace, "taskdefinitions", td("ec2only"))
    custom.create_namespaced_custom_object(
        G, V, namespace, "ecsservices", svc("bad", "ec2only", 1, launchType="FARGATE")
    )
    c = wait_ready(custom, namespace, "ecsservices", "bad", status="False")
    assert c["message"] == "launchType: Task definition does not support launch_type FARGATE."


def test_ec2_capacity_provider_is_a_node_pool(custom, core, namespace, operator):
    custom.create_namespaced_custom_object(
        G,
        V,
        namespace,
        "capacityproviders",
        {
            "apiVersion": f"{G}/{V}",
            "kind": "CapacityProvider",
            "metadata": {"name": "zone-b"},
            "spec": {
                "name": "zone-b",
                "autoScalingGroupProvider": {
                    "autoScalingGroupArn": "arn:aws:autoscaling:us-east-1:1:autoScalingGroup:x"
                },
                "kubernetes": {"nodeSelector": {"topology.kubernetes.io/zone": "us-east-1b", "type": "kwok"}},
            },
        },
    )
    wait_ready(custom, namespace, "capacityproviders", "zone-b")
    assert get(custom, namespace, "capacityproviders", "zone-b")["status"]["nodes"] == 2
    custom.create_namespaced_custom_object(G, V, namespace, "taskdefinitions", td("pool"))
    custom.create_namespaced_custom_object(
        G,
        V,
        namespace,
        "ecsservices",
        svc("pool", "pool", 4, capacityProviderStrategy=[{"capacityProvider": "zone-b", "weight": 1}]),
    )
    wait_ready(custom, namespace, "ecsservices", "pool", timeout=90)
    zones = {n.metadata.name: n.metadata.labels["topology.kubernetes.io/zone"] for n in core.list_node().items}
    assert {zones[p.spec.node_name] for p in running_pods(core, namespace, "pool")} == {"us-east-1b"}
    # ECS refuses names reserved for AWS and a strategy naming an unknown provider
    custom.create_namespaced_custom_object(
        G,
        V,
        namespace,
        "capacityproviders",
        {
            "apiVersion": f"{G}/{V}",
            "kind": "CapacityProvider",
            "metadata": {"name": "fargate-mine"},
            "spec": {"autoScalingGroupProvider": {"autoScalingGroupArn": "arn:x"}},
        },
    )
    c = wait_ready(custom, namespace, "capacityproviders", "fargate-mine", status="False")
    assert c["message"].startswith("name:")
    custom.create_namespaced_custom_object(
        G,
        V,
        namespace,
        "ecsservices",
        svc("nopool", "pool", 1, capacityProviderStrategy=[{"capacityProvider": "missing"}]),
    )
    c = wait_ready(custom, namespace, "ecsservices", "nopool", status="False")
    assert c["message"].startswith("capacityProviderStrategy") and "missing" in c["message"]


def test_placement_constraints_hold_natively(custom, core, namespace, operator):
    custom.create_namespaced_custom_object(G, V, namespace, "taskdefinitions", td("placed"))
    custom.create_namespaced_custom_object(
        G,
        V,
        namespace,
        "ecsservices",
        svc(
            "placed",
            "placed",
            3,
            placementConstraints=[
                {"type": "memberOf", "expression": "attribute:ecs.availability-zone in [us-east-1a, us-east-1c]"},
                {"type": "distinctInstance"},
            ],
        ),
    )
    wait_for(lambda: len(running_pods(core, namespace, "placed")) == 3 or None, timeout=60, desc="3 placed tasks")
    nodes = {n.metadata.name: n.metadata.labels["topology.kubernetes.io/zone"] for n in core.list_node().items}
    pods = running_pods(core, namespace, "placed")
    assert {nodes[p.spec.node_name] for p in pods} <= {"us-east-1a", "us-east-1c"}
    assert len({p.spec.node_name for p in pods}) == 3, "distinctInstance: one task per container instance"
    # an invalid expression is refused when the service is applied, naming the field
    custom.create_namespaced_custom_object(
        G,
        V,
        namespace,
        "ecsservices",
        svc(
            "badexpr",
            "placed",
            1,
            placementConstraints=[{"type": "memberOf", "expression": "attribute:ecs.instance-type =~ t2.* and and"}],
        ),
    )
    c = wait_ready(custom, namespace, "ecsservices", "badexpr", status="False")
    assert c["reason"] == "InvalidParameterException" and c["message"].startswith("placementConstraints[0].expression")


def test_clusters_isolate_their_tasks_on_their_own_container_instances(custom, core, namespace, operator, cluster):
    from ecs_operator.dev.cluster import NodeSpec

    custom.create_namespaced_custom_object(G, V, namespace, "taskdefinitions", td("iso"))
    # a service in a cluster that does not exist is refused, as ECS refuses it
    custom.create_namespaced_custom_object(G, V, namespace, "ecsservices", svc("prodsvc", "iso", 2, cluster="prod"))
    c = wait_ready(custom, namespace, "ecsservices", "prodsvc", status="False", reason="ClusterNotFoundException")
    assert c["reason"] == "ClusterNotFoundException" and c["message"].startswith("cluster:")
    # a container instance registered to cluster prod (node label), then the cluster itself
    node = f"ip-10-0-8-{namespace[-4:]}"
    cluster.apply_nodes([NodeSpec(name=node, zone="us-east-1a", labels={"ecs.seed.dev/cluster": "prod"})])
    try:
        custom.create_namespaced_custom_object(
            G,
            V,
            namespace,
            "ecsclusters",
            {
                "apiVersion": f"{G}/{V}",
                "kind": "ECSCluster",
                "metadata": {"name": "prod"},
                "spec": {"clusterName": "prod"},
            },
        )
        wait_ready(custom, namespace, "ecsservices", "prodsvc", timeout=90)
        assert {p.spec.node_name for p in running_pods(core, namespace, "prodsvc")} == {node}
        # the default cluster's tasks never land on prod's instance
        custom.create_namespaced_custom_object(
            G, V, namespace, "ecsservices", svc("defsvc", "iso", 6, placementConstraints=[{"type": "distinctInstance"}])
        )
        wait_ready(custom, namespace, "ecsservices", "defsvc", timeout=90)
        assert node not in {p.spec.node_name for p in running_pods(core, namespace, "defsvc")}
        st = wait_for(
            lambda: (lambda s: s if s.get("registeredContainerInstancesCount") == 1 else None)(
                get(custom, namespace, "ecsclusters", "prod").get("status", {})
            ),
            timeout=60,
            desc="prod counts 1 instance",
        )
        assert st["containerInstances"][0]["ec2InstanceId"] == node
    finally:
        core.delete_node(node)


def test_security_policy_denies_privileged_tasks_until_the_cluster_allows_them(custom, core, namespace, operator):
    priv = td("priv")
    priv["spec"]["containerDefinitions"][0]["privileged"] = True
    custom.create_namespaced_custom_object(G, V, namespace, "taskdefinitions", priv)
    # registered first: a service created before its revision is TaskDefinitionNotFound until then
    wait_ready(custom, namespace, "taskdefinitions", "priv")
    custom.create_namespaced_custom_object(G, V, namespace, "ecsservices", svc("priv", "priv", 1))
    c = wait_ready(custom, namespace, "ecsservices", "priv", status="False")
    assert c["reason"] == "SecurityPolicyViolation"
    assert c["message"].startswith("containerDefinitions[web].privileged:") and "allowPrivileged" in c["message"]
    assert not running_pods(core, namespace, "priv"), "nothing applied"
    custom.patch_namespaced_custom_object(
        G,
        V,
        namespace,
        "ecsclusters",
        "default",
        {"spec": {"kubernetes": {"securityPolicy": {"allowPrivileged": True}}}},
    )
    wait_ready(custom, namespace, "ecsservices", "priv", timeout=90)
    assert running_pods(core, namespace, "priv")[0].spec.containers[0].security_context.privileged is True


def test_kubectl_scale_sets_desired_count_through_the_scale_subresource(custom, core, namespace, operator, kubectl):
    custom.create_namespaced_custom_object(G, V, namespace, "taskdefinitions", td("sc"))
    custom.create_namespaced_custom_object(G, V, namespace, "ecsservices", svc("sc", "sc", 1))
    wait_ready(custom, namespace, "ecsservices", "sc", timeout=90)
    kubectl("scale", "ecsservice/sc", "--replicas=3", "-n", namespace)
    assert get(custom, namespace, "ecsservices", "sc")["spec"]["desiredCount"] == 3
    wait_for(
        lambda: (
            len(running_pods(core, namespace, "sc")) == 3
            and get(custom, namespace, "ecsservices", "sc")["status"].get("runningCount") == 3
        ),
        timeout=90,
        desc="scaled to 3",
    )
    # what a HorizontalPodAutoscaler reads: replicas and the tasks' selector
    scale = custom.get_namespaced_custom_object_scale(G, V, namespace, "ecsservices", "sc")
    assert scale["spec"]["replicas"] == 3 and scale["status"]["replicas"] == 3
    assert scale["status"]["selector"] == "ecs.seed.dev/service=sc"


def test_cluster_names_ecs_refuses_are_refused_at_admission_or_reported(custom, namespace, operator):
    import kubernetes

    try:
        custom.create_namespaced_custom_object(
            G,
            V,
            namespace,
            "ecsclusters",
            {
                "apiVersion": f"{G}/{V}",
                "kind": "ECSCluster",
                "metadata": {"name": "spaces"},
                "spec": {"clusterName": "my cluster!"},
            },
        )
        raise AssertionError("a clusterName ECS refuses should have been refused")
    except kubernetes.client.ApiException as e:
        assert e.status == 422 and "clusterName: Up to 255 letters" in e.body, e.body
    # a name defaulted from metadata.name (dots are fine there, not in ECS): reported in status
    custom.create_namespaced_custom_object(
        G,
        V,
        namespace,
        "ecsclusters",
        {"apiVersion": f"{G}/{V}", "kind": "ECSCluster", "metadata": {"name": "prod.eu"}, "spec": {}},
    )
    c = wait_ready(custom, namespace, "ecsclusters", "prod.eu", status="False")
    assert c["reason"] == "InvalidParameterException" and c["message"].startswith("clusterName: ")
    assert get(custom, namespace, "ecsclusters", "prod.eu")["status"]["status"] == "FAILED"
