"""A lost container instance on the real control plane (KWOK nodes): a node that stops answering,
then is deleted, has its tasks stopped with ECS's stopped reason and replaced elsewhere, and the
ECSCluster's container instances follow (plans/nodes.py, docs/failure.md).

A KWOK node is "lost" as a real one would be: KWOK stops managing it (its annotation goes, so no
heartbeat, no pod updates), and its Ready condition turns Unknown as the node controller would set
it after missing the heartbeats."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime

from .kube import wait_for
from .test_draining import container_instances
from .test_ecsservice import running_pods, svc
from .test_ecstask import ecstask
from .test_taskdefinition import G, V, get, td, wait_ready

SPREAD = [{"type": "spread", "field": "instanceId"}]


def lose(core, node: str) -> None:
    """The node's kubelet (KWOK) stops; its Ready condition becomes Unknown."""
    core.patch_node(node, {"metadata": {"annotations": {"kwok.x-k8s.io/node": None}}})
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    core.patch_node_status(
        node,
        {
            "status": {
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "Unknown",
                        "reason": "NodeStatusUnknown",
                        "message": "Kubelet stopped posting node status.",
                        "lastHeartbeatTime": now,
                        "lastTransitionTime": now,
                    }
                ]
            }
        },
    )


def setup(custom, namespace: str, ecs_cluster: str, desired: int) -> None:
    custom.create_namespaced_custom_object(
        G,
        V,
        namespace,
        "ecsclusters",
        {"apiVersion": f"{G}/{V}", "kind": "ECSCluster", "metadata": {"name": ecs_cluster}, "spec": {}},
    )
    custom.create_namespaced_custom_object(G, V, namespace, "taskdefinitions", td("web"))
    custom.create_namespaced_custom_object(
        G, V, namespace, "ecsservices", svc("web", "web", desired, cluster=ecs_cluster, placementStrategy=SPREAD)
    )
    custom.create_namespaced_custom_object(
        G, V, namespace, "ecstasks", ecstask("job", "web", cluster=ecs_cluster, count=2, placementStrategy=SPREAD)
    )
    wait_ready(custom, namespace, "ecsservices", "web", timeout=90)
    wait_ready(custom, namespace, "ecstasks", "job", timeout=90)


def job_tasks(custom, namespace: str) -> list[dict]:
    return (get(custom, namespace, "ecstasks", "job").get("status") or {}).get("tasks") or []


def task_stopped_as_lost(custom, namespace: str, instance: str) -> dict | None:
    reason = f"Host EC2 (instance {instance}) stopped/terminated"
    for t in job_tasks(custom, namespace):
        if t.get("lastStatus") == "STOPPED" and t.get("stoppedReason") == reason:  # ECS's own words
            return t
    return None


def service_events(custom, namespace: str) -> list[str]:
    return [e["message"] for e in get(custom, namespace, "ecsservices", "web")["status"].get("events", [])]


def instances(custom, namespace: str, ecs_cluster: str) -> dict:
    return get(custom, namespace, "ecsclusters", ecs_cluster).get("status") or {}


def test_a_lost_node_has_its_tasks_stopped_and_replaced_then_leaves_the_cluster(
    custom, core, namespace, operator, cluster
):
    ecs_cluster = f"lost-{namespace[-4:]}"
    with container_instances(cluster, core, ecs_cluster, f"ip-10-0-11-{namespace[-4:]}", "us-east-1a") as nodes:
        setup(custom, namespace, ecs_cluster, 4)
        lost, kept = nodes
        on_lost = {
            p.metadata.name: p.metadata.uid for p in running_pods(core, namespace, "web") if p.spec.node_name == lost
        }
        assert on_lost, "spread by instance put service tasks on both nodes"
        job_pods = core.list_namespaced_pod(namespace, label_selector="ecs.seed.dev/task").items
        assert {p.spec.node_name for p in job_pods} == set(nodes)

        t0 = time.monotonic()
        lose(core, lost)

        def replaced():
            web = running_pods(core, namespace, "web")
            left = core.list_namespaced_pod(namespace, field_selector=f"spec.nodeName={lost}").items
            return len(web) == 4 and {p.spec.node_name for p in web} == {kept} and not left

        wait_for(replaced, timeout=120, interval=0.5, desc="the lost node's tasks replaced on the other node")
        replaced_after = time.monotonic() - t0
        stopped = wait_for(
            lambda: task_stopped_as_lost(custom, namespace, lost), timeout=30, desc="the standalone task STOPPED"
        )
        assert stopped["stopCode"] == "TerminationNotice" and stopped["desiredStatus"] == "STOPPED"
        # the other standalone task runs on
        assert sorted(t["lastStatus"] for t in job_tasks(custom, namespace)) == ["RUNNING", "STOPPED"]
        wait_ready(custom, namespace, "ecsservices", "web", timeout=60)
        lost_ids = {uid.replace("-", "") for uid in on_lost.values()}  # a service task's id is its pod's uid

        def announced() -> bool:
            messages = service_events(custom, namespace)
            stopped = {i for m in messages if "running tasks:" in m for i in lost_ids if f"(task {i})" in m}
            # the tasks may stop in one batch or several (one event per status write, as ECS)
            return stopped == lost_ids and any("has started" in m for m in messages)

        try:
            wait_for(announced, timeout=30, desc="ECS's 'has stopped N running tasks' / 'has started' events")
        except AssertionError as e:
            raise AssertionError(
                f"{e}; lost tasks {sorted(lost_ids)}; events {service_events(custom, namespace)}"
            ) from e

        def disconnected():
            cis = {
                ci["ec2InstanceId"]: ci
                for ci in instances(custom, namespace, ecs_cluster).get("containerInstances") or []
            }
            return cis if lost in cis and cis[lost]["agentConnected"] is False and cis[kept]["agentConnected"] else None

        wait_for(disconnected, timeout=60, desc="the lost instance shows agentConnected false")

        # the instance is terminated: deregistered from the cluster
        core.delete_node(lost)

        def deregistered():
            st = instances(custom, namespace, ecs_cluster)
            cis = [ci["ec2InstanceId"] for ci in st.get("containerInstances") or []]
            return st.get("registeredContainerInstancesCount") == 1 and cis == [kept]

        wait_for(deregistered, timeout=60, desc="the cluster counts one container instance")
        assert len(running_pods(core, namespace, "web")) == 4
        print(f"\nnode loss: tasks replaced {replaced_after:.1f}s after the node stopped answering", file=sys.stderr)


def test_a_deleted_node_has_its_tasks_stopped_with_ecs_reason(custom, core, namespace, operator, cluster):
    ecs_cluster = f"gone-{namespace[-4:]}"
    with container_instances(cluster, core, ecs_cluster, f"ip-10-0-12-{namespace[-4:]}", "us-east-1b") as nodes:
        setup(custom, namespace, ecs_cluster, 2)
        gone, kept = nodes
        assert {p.spec.node_name for p in running_pods(core, namespace, "web")} == set(nodes)
        core.delete_node(gone)
        wait_for(
            lambda: (
                {p.spec.node_name for p in running_pods(core, namespace, "web")} == {kept}
                and len(running_pods(core, namespace, "web")) == 2
            ),
            timeout=90,
            desc="the deleted node's service task replaced",
        )
        stopped = wait_for(
            lambda: task_stopped_as_lost(custom, namespace, gone), timeout=60, desc="the standalone task STOPPED"
        )
        assert stopped["stopCode"] == "TerminationNotice"
        wait_for(
            lambda: not core.list_namespaced_pod(namespace, field_selector=f"spec.nodeName={gone}").items,
            timeout=30,
            desc="no pod left bound to the deleted node",
        )
