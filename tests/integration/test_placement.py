"""ECS task placement enforced by a real second scheduler: kube-scheduler ``ecs-scheduler`` with
the ECS placement extender (ecs_operator.dev.scheduler), the operator naming it in the pods it
creates, KWOK nodes over three zones (2 m5.large EC2 nodes per zone + FARGATE/FARGATE_SPOT virtual
nodes).

The extender serves from a watch cache, which lags the API server; spread and binpack count the
tasks it sees. kube-scheduler delegates binding to it (``bindVerb``): each pod counts on its node
the moment it is bound, and the extender waits, before answering for the next task, until every
pod that passed its filter earlier is bound (docs/placement.md, "Bursts"). So the tests create
services with their full desiredCount (a burst from the Deployment controller) and then scale
up, asserting the ECS outcome exactly; a failure here is a real placement bug, never loosened
silently.
"""

from __future__ import annotations

import math
from collections import Counter

import pytest
from ecs_operator.dev.scheduler import SCHEDULER_NAME

from .kube import wait_for
from .test_ecsservice import running_pods, svc
from .test_taskdefinition import G, V, get, td, wait_ready

ZONE = "topology.kubernetes.io/zone"
PROVIDER = "ecs.seed.dev/capacity-provider"


@pytest.fixture(autouse=True)
def _needs_ecs_scheduler(ecs_scheduler):
    if ecs_scheduler is None:
        pytest.skip("ECS_OPERATOR_TEST_NO_ECS_SCHEDULER is set: no ecs-scheduler")


def node_labels(core) -> dict[str, dict]:
    return {n.metadata.name: n.metadata.labels for n in core.list_node().items}


def ec2_nodes(core) -> list[str]:
    return sorted(n for n, lb in node_labels(core).items() if PROVIDER not in lb)


def sized_td(name: str, memory: int) -> dict:
    t = td(name)
    t["spec"]["containerDefinitions"][0]["memory"] = memory
    return t


def scale_to(custom, core, ns, name, count, timeout=90):
    custom.patch_namespaced_custom_object(G, V, ns, "ecsservices", name, {"spec": {"desiredCount": count}})
    wait_for(
        lambda: (
            len(running_pods(core, ns, name)) == count
            and get(custom, ns, "ecsservices", name)["status"].get("runningCount") == count
        ),
        timeout=timeout,
        desc=f"{name} running {count}",
    )
    pods = running_pods(core, ns, name)
    assert {p.spec.scheduler_name for p in pods} == {SCHEDULER_NAME}
    return pods


def test_spread_by_zone_keeps_zones_within_one_task(custom, core, namespace, operator):
    labels = node_labels(core)
    custom.create_namespaced_custom_object(G, V, namespace, "taskdefinitions", td("spread"))
    custom.create_namespaced_custom_object(
        G,
        V,
        namespace,
        "ecsservices",
        svc("spread", "spread", 6, placementStrategy=[{"type": "spread", "field": "attribute:ecs.availability-zone"}]),
    )
    wait_ready(custom, namespace, "ecsservices", "spread", timeout=90)
    for count in (6, 7, 10):
        pods = scale_to(custom, core, namespace, "spread", count)
        zones = Counter(labels[p.spec.node_name][ZONE] for p in pods)
        assert all(PROVIDER not in labels[p.spec.node_name] for p in pods)
        assert len(zones) == 3 and max(zones.values()) - min(zones.values()) <= 1, (count, zones)


def test_a_burst_is_placed_as_one_ecs_decision(custom, core, namespace, operator):
    # the service default: spread by zone, then by instance -- 12 tasks on 6 instances, created at once
    nodes = ec2_nodes(core)
    custom.create_namespaced_custom_object(G, V, namespace, "taskdefinitions", td("burst"))
    custom.create_namespaced_custom_object(G, V, namespace, "ecsservices", svc("burst", "burst", 2 * len(nodes)))
    wait_ready(custom, namespace, "ecsservices", "burst", timeout=90)
    pods = running_pods(core, namespace, "burst")
    assert {p.spec.scheduler_name for p in pods} == {SCHEDULER_NAME}
    assert Counter(p.spec.node_name for p in pods) == Counter(dict.fromkeys(nodes, 2))


def test_binpack_memory_fills_one_instance_before_the_next(custom, core, namespace, operator):
    # m5.large: 8 GiB; 3 GiB tasks -> two fit per instance, a third does not.
    custom.create_namespaced_custom_object(G, V, namespace, "taskdefinitions", sized_td("pack", 3072))
    custom.create_namespaced_custom_object(
        G,
        V,
        namespace,
        "ecsservices",
        svc("pack", "pack", 5, placementStrategy=[{"type": "binpack", "field": "memory"}]),
    )
    wait_ready(custom, namespace, "ecsservices", "pack", timeout=90)
    for count in (5, 6, 9):
        pods = scale_to(custom, core, namespace, "pack", count)
        per_node = Counter(p.spec.node_name for p in pods)
        assert len(per_node) == math.ceil(count / 2), (count, per_node)
        assert sorted(per_node.values(), reverse=True)[: count // 2] == [2] * (count // 2), per_node


def test_member_of_an_absent_instance_type_leaves_tasks_pending(custom, core, namespace, operator):
    custom.create_namespaced_custom_object(G, V, namespace, "taskdefinitions", td("nowhere"))
    # `==` is also compiled to node affinity; `=~` is the extender's alone.
    for name, expression in (
        ("c5", "attribute:ecs.instance-type == c5.large"),
        ("c5re", "attribute:ecs.instance-type =~ c5\\..*"),
    ):
        custom.create_namespaced_custom_object(
            G,
            V,
            namespace,
            "ecsservices",
            svc(name, "nowhere", 2, placementConstraints=[{"type": "memberOf", "expression": expression}]),
        )
    for name in ("c5", "c5re"):
        message = (
            f"(service {name}) was unable to place a task because no container instance met all of its requirements."
        )
        # the event comes with the first unplaceable task; the status catches up with both
        st = wait_for(
            lambda: (
                lambda st: (
                    st
                    if any(e["message"] == message for e in st.get("events", [])) and st.get("pendingCount") == 2
                    else None
                )
            )(get(custom, namespace, "ecsservices", name).get("status", {})),
            timeout=90,
            desc=f"{name}: unable to place its 2 tasks",
        )
        pods = core.list_namespaced_pod(namespace, label_selector=f"ecs.seed.dev/service={name}").items
        assert len(pods) == 2
        assert all(p.status.phase == "Pending" and not p.spec.node_name for p in pods)
        assert {p.spec.scheduler_name for p in pods} == {SCHEDULER_NAME}
        assert st["runningCount"] == 0 and st["pendingCount"] == 2
    # the extender's own reason reaches the pod (kube-scheduler's native filters pass every EC2 node)
    pod = core.list_namespaced_pod(namespace, label_selector="ecs.seed.dev/service=c5re").items[0]
    cond = next(c for c in pod.status.conditions if c.type == "PodScheduled")
    assert cond.reason == "Unschedulable" and "memberOf constraint not satisfied" in cond.message, cond.message


def test_distinct_instance_puts_every_task_on_its_own_instance(custom, core, namespace, operator):
    n = len(ec2_nodes(core))
    custom.create_namespaced_custom_object(G, V, namespace, "taskdefinitions", td("solo"))
    custom.create_namespaced_custom_object(
        G, V, namespace, "ecsservices", svc("solo", "solo", n, placementConstraints=[{"type": "distinctInstance"}])
    )
    wait_ready(custom, namespace, "ecsservices", "solo", timeout=90)
    pods = running_pods(core, namespace, "solo")
    assert {p.spec.scheduler_name for p in pods} == {SCHEDULER_NAME}
    assert sorted(p.spec.node_name for p in pods) == ec2_nodes(core)

    # one more than there are instances: it cannot be placed
    custom.patch_namespaced_custom_object(G, V, namespace, "ecsservices", "solo", {"spec": {"desiredCount": n + 1}})
    message = "(service solo) was unable to place a task because no container instance met all of its requirements."
    wait_for(
        lambda: any(
            e["message"] == message
            for e in get(custom, namespace, "ecsservices", "solo").get("status", {}).get("events", [])
        ),
        timeout=90,
        desc="solo: unable to place event",
    )
    assert len({p.spec.node_name for p in running_pods(core, namespace, "solo")}) == n


def test_fargate_service_lands_only_on_fargate_virtual_nodes(custom, core, namespace, operator):
    labels = node_labels(core)
    fargate_td = td("fg", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512")
    custom.create_namespaced_custom_object(G, V, namespace, "taskdefinitions", fargate_td)
    custom.create_namespaced_custom_object(G, V, namespace, "ecsservices", svc("fg", "fg", 6, launchType="FARGATE"))
    wait_ready(custom, namespace, "ecsservices", "fg", timeout=90)
    pods = running_pods(core, namespace, "fg")
    assert len(pods) == 6 and {p.spec.scheduler_name for p in pods} == {SCHEDULER_NAME}
    assert {labels[p.spec.node_name].get(PROVIDER) for p in pods} == {"FARGATE"}
    # ECS spreads Fargate tasks over the zones: the default spread applies among the virtual nodes
    assert Counter(labels[p.spec.node_name][ZONE] for p in pods) == Counter(
        dict.fromkeys({lb[ZONE] for lb in labels.values()}, 2)
    )
