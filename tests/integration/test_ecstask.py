"""ECSTask end to end on the real control plane: RunTask / StopTask with ECS's task lifecycle.

KWOK's image conventions (docs/local-cluster.md) make containers exit: ``kwok.local/exit:<code>``
exits with <code> 1-2 s after it started; any other image runs forever."""

from __future__ import annotations

import time

from .kube import wait_for
from .test_taskdefinition import G, V, get, wait_ready


def taskdef(name: str, *containers: dict) -> dict:
    return {
        "apiVersion": f"{G}/{V}",
        "kind": "TaskDefinition",
        "metadata": {"name": name},
        "spec": {"family": name, "containerDefinitions": [{"memory": 64, **c} for c in containers]},
    }


def ecstask(name: str, task_definition: str, **spec) -> dict:
    return {
        "apiVersion": f"{G}/{V}",
        "kind": "ECSTask",
        "metadata": {"name": name},
        "spec": {"taskDefinition": task_definition, **spec},
    }


def status(custom, ns, name) -> dict:
    return get(custom, ns, "ecstasks", name).get("status") or {}


def wait_status(custom, ns, name, last: str, timeout: float = 60) -> dict:
    return wait_for(
        lambda: (lambda s: s if s.get("lastStatus") == last else None)(status(custom, ns, name)),
        timeout=timeout,
        desc=f"ecstask/{name} lastStatus {last}",
    )


def cond(st: dict, type_: str) -> dict | None:
    return next((c for c in st.get("conditions") or [] if c["type"] == type_), None)


def task_pods(core, ns, name):
    return core.list_namespaced_pod(ns, label_selector=f"ecs.seed.dev/task={name}").items


def test_one_shot_task_runs_to_completion_and_goes_with_its_ecstask(custom, core, kubectl, namespace, operator):
    custom.create_namespaced_custom_object(
        G, V, namespace, "taskdefinitions", taskdef("once", {"name": "job", "image": "kwok.local/exit:0"})
    )
    wait_ready(custom, namespace, "taskdefinitions", "once")
    custom.create_namespaced_custom_object(G, V, namespace, "ecstasks", ecstask("once", "once", startedBy="ci"))
    kubectl("wait", "-n", namespace, "--for=condition=Complete", "--timeout=60s", "ecstask/once")
    st = wait_status(custom, namespace, "once", "STOPPED")
    assert (st["desiredStatus"], st["stopCode"], st["stoppedReason"]) == (
        "STOPPED",
        "EssentialContainerExited",
        "Essential container in task exited",
    )
    assert st["taskDefinitionArn"] == "once:1" and st["startedAt"] and st["stoppedAt"] >= st["startedAt"]
    (task,) = st["tasks"]
    assert task["taskArn"] == st["taskArn"] and task["group"] == "family:once" and task["startedBy"] == "ci"
    assert [(c["name"], c["lastStatus"], c["exitCode"]) for c in task["containers"]] == [("job", "STOPPED", 0)]
    assert cond(st, "Ready")["status"] == "False" and cond(st, "Failed") is None
    # the pod stays (kubectl logs works) until the ECSTask goes; it never restarts
    (pod,) = task_pods(core, namespace, "once")
    assert pod.metadata.name == "once-0" and pod.spec.restart_policy == "Never"
    assert pod.status.phase == "Succeeded" and pod.metadata.owner_references[0].kind == "ECSTask"
    assert pod.metadata.annotations["ecs.seed.dev/group"] == "family:once"
    assert pod.metadata.annotations["ecs.seed.dev/started-by"] == "ci"
    out = kubectl("get", "-n", namespace, "ecstask", "once", "-o", "wide").stdout
    assert "STOPPED" in out.splitlines()[1]

    custom.delete_namespaced_custom_object(G, V, namespace, "ecstasks", "once")
    wait_for(lambda: not task_pods(core, namespace, "once"), timeout=60, desc="pods garbage-collected")


def test_an_essential_container_exit_stops_the_whole_task(custom, core, namespace, operator):
    custom.create_namespaced_custom_object(
        G,
        V,
        namespace,
        "taskdefinitions",
        taskdef("fail", {"name": "job", "image": "kwok.local/exit:3"}, {"name": "log_router", "image": "fluent-bit:3"}),
    )
    custom.create_namespaced_custom_object(G, V, namespace, "ecstasks", ecstask("fail", "fail"))
    st = wait_status(custom, namespace, "fail", "STOPPED")
    assert (st["stopCode"], st["stoppedReason"]) == ("EssentialContainerExited", "Essential container in task exited")
    containers = {c["name"]: c for c in st["tasks"][0]["containers"]}
    assert containers["job"]["exitCode"] == 3 and containers["job"]["lastStatus"] == "STOPPED"
    assert containers["log_router"]["lastStatus"] == "STOPPED", "the other container was stopped with the task"
    assert cond(st, "Failed")["status"] == "True" and "job=3" in cond(st, "Failed")["message"]
    assert cond(st, "Complete") is None
    wait_for(lambda: not task_pods(core, namespace, "fail"), timeout=30, desc="the task's pod deleted")
    time.sleep(2)
    assert not task_pods(core, namespace, "fail"), "a stopped task is never started again"
    assert status(custom, namespace, "fail")["tasks"][0]["containers"][0]["exitCode"] == 3


def test_a_non_essential_container_may_exit_while_the_task_keeps_running(custom, namespace, operator):
    custom.create_namespaced_custom_object(
        G,
        V,
        namespace,
        "taskdefinitions",
        taskdef(
            "mixed",
            {"name": "web", "image": "nginx:1.27"},
            {"name": "migrate", "image": "kwok.local/exit:0", "essential": False},
        ),
    )
    custom.create_namespaced_custom_object(G, V, namespace, "ecstasks", ecstask("mixed", "mixed"))

    def migrated():
        s = status(custom, namespace, "mixed")
        c = {c["name"]: c for c in (s.get("tasks") or [{}])[0].get("containers", [])}
        return s if c.get("migrate", {}).get("lastStatus") == "STOPPED" else None

    st = wait_for(migrated, timeout=60, desc="the non-essential container stopped")
    time.sleep(3)
    st = status(custom, namespace, "mixed")
    containers = {c["name"]: c for c in st["tasks"][0]["containers"]}
    assert containers["migrate"]["exitCode"] == 0
    assert containers["web"]["lastStatus"] == "RUNNING"
    assert (st["lastStatus"], st["desiredStatus"]) == ("RUNNING", "RUNNING")
    assert cond(st, "Ready")["status"] == "True"


def test_stop_task_with_a_reason(custom, core, namespace, operator):
    custom.create_namespaced_custom_object(
        G, V, namespace, "taskdefinitions", taskdef("worker", {"name": "worker", "image": "nginx:1.27"})
    )
    custom.create_namespaced_custom_object(G, V, namespace, "ecstasks", ecstask("worker", "worker"))
    wait_ready(custom, namespace, "ecstasks", "worker")
    assert status(custom, namespace, "worker")["lastStatus"] == "RUNNING"
    custom.patch_namespaced_custom_object(
        G,
        V,
        namespace,
        "ecstasks",
        "worker",
        {
            "metadata": {
                "annotations": {
                    "ecs.seed.dev/desired-status": "STOPPED",
                    "ecs.seed.dev/stop-reason": "cancelled by the nightly job",
                }
            }
        },
    )
    st = wait_status(custom, namespace, "worker", "STOPPED")
    assert (st["desiredStatus"], st["stopCode"], st["stoppedReason"]) == (
        "STOPPED",
        "UserInitiated",
        "cancelled by the nightly job",
    )
    assert st["tasks"][0]["containers"][0]["lastStatus"] == "STOPPED"
    assert cond(st, "Ready")["reason"] == "UserInitiated" and cond(st, "Failed")["reason"] == "UserInitiated"
    wait_for(lambda: not task_pods(core, namespace, "worker"), timeout=30, desc="the task's pod deleted")


def test_stop_task_without_a_reason(custom, namespace, operator):
    custom.create_namespaced_custom_object(
        G, V, namespace, "taskdefinitions", taskdef("idle", {"name": "idle", "image": "nginx:1.27"})
    )
    custom.create_namespaced_custom_object(G, V, namespace, "ecstasks", ecstask("idle", "idle"))
    wait_ready(custom, namespace, "ecstasks", "idle")
    custom.patch_namespaced_custom_object(
        G, V, namespace, "ecstasks", "idle", {"metadata": {"annotations": {"ecs.seed.dev/desired-status": "STOPPED"}}}
    )
    st = wait_status(custom, namespace, "idle", "STOPPED")
    assert (st["stopCode"], st["stoppedReason"]) == ("UserInitiated", "Task stopped by user")


def test_overrides_take_effect_in_the_pod(custom, core, namespace, operator):
    custom.create_namespaced_custom_object(
        G,
        V,
        namespace,
        "taskdefinitions",
        taskdef(
            "report",
            {
                "name": "report_gen",
                "image": "python:3.12",
                "command": ["report.py", "--daily"],
                "environment": [{"name": "MODE", "value": "daily"}, {"name": "LEVEL", "value": "info"}],
            },
        ),
    )
    custom.create_namespaced_custom_object(
        G,
        V,
        namespace,
        "ecstasks",
        ecstask(
            "report",
            "report",
            overrides={
                "containerOverrides": [
                    {
                        "name": "report_gen",
                        "command": ["report.py", "--month", "$(not-expanded)"],
                        "environment": [{"name": "MODE", "value": "monthly"}, {"name": "EXTRA", "value": "1"}],
                        "memory": 256,
                    }
                ]
            },
        ),
    )
    wait_ready(custom, namespace, "ecstasks", "report")
    (pod,) = task_pods(core, namespace, "report")
    c = pod.spec.containers[0]
    assert c.name == "report-gen"
    assert c.args == ["report.py", "--month", "$$(not-expanded)"]  # escaped: the container gets $(not-expanded)
    assert {e.name: e.value for e in c.env} == {"MODE": "monthly", "LEVEL": "info", "EXTRA": "1"}
    assert c.resources.limits["memory"] == "256Mi"
    assert status(custom, namespace, "report")["tasks"][0]["containers"][0]["name"] == "report_gen"

    custom.create_namespaced_custom_object(
        G,
        V,
        namespace,
        "ecstasks",
        ecstask("typo", "report", overrides={"containerOverrides": [{"name": "report-gen", "command": ["x"]}]}),
    )
    c = wait_ready(custom, namespace, "ecstasks", "typo", status="False")
    assert c["reason"] == "InvalidParameterException"
    assert c["message"].startswith("overrides.containerOverrides[0].name")
    assert "Override for container named report-gen is not a container in the TaskDefinition." in c["message"]
    assert not task_pods(core, namespace, "typo")


def test_count_3_runs_3_tasks(custom, core, namespace, operator):
    custom.create_namespaced_custom_object(
        G, V, namespace, "taskdefinitions", taskdef("fan", {"name": "w", "image": "nginx:1.27"})
    )
    custom.create_namespaced_custom_object(G, V, namespace, "ecstasks", ecstask("fan", "fan", count=3, group="fanout"))
    wait_ready(custom, namespace, "ecstasks", "fan")
    st = status(custom, namespace, "fan")
    assert [t["lastStatus"] for t in st["tasks"]] == ["RUNNING"] * 3
    assert len({t["taskArn"] for t in st["tasks"]}) == 3 and st["taskArn"] == st["tasks"][0]["taskArn"]
    assert {t["group"] for t in st["tasks"]} == {"fanout"}
    pods = task_pods(core, namespace, "fan")
    assert sorted(p.metadata.name for p in pods) == ["fan-0", "fan-1", "fan-2"]
    assert all(p.status.phase == "Running" and p.spec.node_name for p in pods)


def test_bad_input_is_refused_naming_the_field_and_a_late_task_definition_starts_the_task(
    custom, core, namespace, operator
):
    custom.create_namespaced_custom_object(G, V, namespace, "ecstasks", ecstask("late", "late:1"))
    c = wait_ready(custom, namespace, "ecstasks", "late", status="False")
    assert c["reason"] == "TaskDefinitionNotFound" and c["message"].startswith("taskDefinition")
    assert not task_pods(core, namespace, "late")

    custom.create_namespaced_custom_object(G, V, namespace, "ecstasks", ecstask("many", "late", count=11))
    c = wait_ready(custom, namespace, "ecstasks", "many", status="False")
    assert c["reason"] == "InvalidParameterException" and c["message"].startswith("count")

    custom.create_namespaced_custom_object(
        G, V, namespace, "taskdefinitions", taskdef("late", {"name": "app", "image": "nginx:1.27"})
    )
    wait_ready(custom, namespace, "ecstasks", "late", timeout=60)
    assert status(custom, namespace, "late")["taskDefinitionArn"] == "late:1"


def test_a_task_that_cannot_be_placed_reports_it_as_ecs_does(custom, namespace, operator):
    custom.create_namespaced_custom_object(
        G, V, namespace, "taskdefinitions", taskdef("huge", {"name": "app", "image": "nginx:1.27", "memory": 4_000_000})
    )
    custom.create_namespaced_custom_object(G, V, namespace, "ecstasks", ecstask("huge", "huge"))
    c = wait_for(
        lambda: (lambda r: r if r and r["reason"] == "Unschedulable" else None)(
            cond(status(custom, namespace, "huge"), "Ready")
        ),
        timeout=60,
        desc="Ready False Unschedulable",
    )
    assert "unable to place a task because no container instance met all of its requirements" in c["message"]
    st = status(custom, namespace, "huge")
    assert st["lastStatus"] == "PROVISIONING" and st["failures"][0]["reason"] == "RESOURCE:MEMORY"


def test_a_fargate_task_runs_on_a_fargate_spot_virtual_node(custom, core, namespace, operator):
    td = taskdef("batchfg", {"name": "job", "image": "kwok.local/exit:0", "essential": True})
    td["spec"].update(requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256", memory="512")
    custom.create_namespaced_custom_object(G, V, namespace, "taskdefinitions", td)
    custom.create_namespaced_custom_object(
        G,
        V,
        namespace,
        "ecstasks",
        ecstask("fg", "batchfg", capacityProviderStrategy=[{"capacityProvider": "FARGATE_SPOT", "weight": 1}]),
    )
    wait_status(custom, namespace, "fg", "STOPPED", timeout=90)
    (pod,) = task_pods(core, namespace, "fg")
    node = core.read_node(pod.spec.node_name)
    assert node.metadata.labels["ecs.seed.dev/capacity-provider"] == "FARGATE_SPOT"


def test_run_task_placement_constraints_place_the_tasks(custom, core, namespace, operator):
    custom.create_namespaced_custom_object(
        G, V, namespace, "taskdefinitions", taskdef("placedjob", {"name": "job", "image": "busybox", "essential": True})
    )
    custom.create_namespaced_custom_object(
        G,
        V,
        namespace,
        "ecstasks",
        ecstask(
            "placed",
            "placedjob",
            count=2,
            placementConstraints=[{"type": "memberOf", "expression": "attribute:ecs.availability-zone == us-east-1c"}],
        ),
    )
    wait_status(custom, namespace, "placed", "RUNNING", timeout=60)
    zones = {n.metadata.name: n.metadata.labels["topology.kubernetes.io/zone"] for n in core.list_node().items}
    assert {zones[p.spec.node_name] for p in task_pods(core, namespace, "placed")} == {"us-east-1c"}
