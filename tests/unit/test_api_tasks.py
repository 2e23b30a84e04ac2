"""The task operations on an in-memory Kubernetes: RunTask makes one ECSTask per task, tasks are
found at once (PROVISIONING with the ARN the operator will give them), then as the operator
reports them; a service's tasks are its pods; StopTask; ListTasks' filters and pages; the
tasks-running / tasks-stopped waiters' acceptors on the answers; every answer in its shape."""

from __future__ import annotations

import pytest
from ecs_operator import API_VERSION
from ecs_operator.api.operations import OPERATIONS, services
from ecs_operator.translate import task as task_tr

from .api_fakes import context, kube_with_operator
from .test_api_services import ARN, NS, err, op, waiter


@pytest.fixture
def kube():
    return kube_with_operator()


@pytest.fixture
def ctx(kube):
    c = context(kube)
    for family in ("web", "batch"):
        OPERATIONS["RegisterTaskDefinition"](
            c, {"family": family, "containerDefinitions": [{"name": "main", "image": f"{family}:1", "memory": 64}]}
        )
    OPERATIONS["CreateCluster"](c, {})
    return c


def ecstasks(kube):
    return kube.list_(API_VERSION, "ECSTask", NS)


def report(kube, obj, **entry):
    """What the operator writes for the ECSTask's one task."""
    stored = kube.objects[(API_VERSION, "ECSTask", NS, obj["metadata"]["name"])]
    arn = task_tr.task_arn(obj["spec"].get("cluster"), obj["metadata"]["uid"], 0)
    stored["status"] = {
        "tasks": [
            {
                "taskArn": arn,
                "clusterArn": "default",
                "taskDefinitionArn": "batch:1",
                "group": "family:batch",
                "podName": f"{obj['metadata']['name']}-0",
                "createdAt": "2025-03-01T12:00:01Z",
                "containers": [{"name": "main", "image": "batch:1", "lastStatus": "RUNNING", "essential": True}],
                **entry,
            }
        ]
    }


def pod(name, service, uid, *, phase="Running", td="web:1", node="node-1", deleting=False):
    md = {
        "name": name,
        "namespace": NS,
        "uid": uid,
        "labels": {"ecs.seed.dev/service": service},
        "annotations": {"ecs.seed.dev/task-definition": td, "ecs.seed.dev/group": f"service:{service}"},
        "creationTimestamp": "2025-03-01T11:00:00Z",
    }
    if deleting:
        md["deletionTimestamp"] = "2025-03-01T12:00:00Z"
    started = {"running": {"startedAt": "2025-03-01T11:00:02Z"}}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": md,
        "spec": {"nodeName": node, "containers": [{"name": "main", "image": "web:1"}]},
        "status": {"phase": phase, "containerStatuses": [{"name": "main", "started": True, "state": started}]},
    }


# --- RunTask ------------------------------------------------------------------------------------


def test_run_task_makes_one_ecstask_per_task_found_at_once(ctx, kube):
    out = op("RunTask", ctx, taskDefinition="batch", count=2, startedBy="ci", tags=[{"key": "k", "value": "v"}])
    assert out["failures"] == []
    objs = ecstasks(kube)
    assert len(objs) == 2 and all("count" not in o["spec"] for o in objs)
    assert all(o["spec"]["cluster"] == "default" and o["spec"]["startedBy"] == "ci" for o in objs)
    arns_ = sorted(t["taskArn"] for t in out["tasks"])
    want = sorted(f"{ARN}:{task_tr.task_arn('default', o['metadata']['uid'], 0)}" for o in objs)
    assert arns_ == want
    t = out["tasks"][0]
    assert (t["lastStatus"], t["desiredStatus"], t["group"], t["launchType"]) == (
        "PROVISIONING",
        "RUNNING",
        "family:batch",
        "EC2",
    )
    assert t["taskDefinitionArn"] == f"{ARN}:task-definition/batch:1" and t["containers"][0]["name"] == "main"
    described = op("DescribeTasks", ctx, tasks=arns_)
    assert [x["lastStatus"] for x in described["tasks"]] == ["PROVISIONING"] * 2
    assert waiter("TasksRunning", described) is None


@pytest.mark.parametrize(
    "params,code",
    [
        ({"taskDefinition": "nope"}, "ClientException"),
        ({"taskDefinition": "batch:9"}, "ClientException"),
        ({"taskDefinition": "batch", "count": 11}, "InvalidParameterException"),
        ({"taskDefinition": "batch", "cluster": "nope"}, "ClusterNotFoundException"),
        ({"taskDefinition": "batch", "startedBy": "no spaces"}, "InvalidParameterException"),
        (
            {"taskDefinition": "batch", "launchType": "EC2", "capacityProviderStrategy": [{"capacityProvider": "x"}]},
            "InvalidParameterException",
        ),
    ],
)
def test_run_task_refusals(ctx, kube, params, code):
    assert err("RunTask", ctx, **params).code == code
    assert ecstasks(kube) == []


def test_run_task_needs_the_default_cluster(kube):
    c = context(kube)
    assert err("RunTask", c, taskDefinition="x").code == "ClusterNotFoundException"


# --- DescribeTasks and the waiters --------------------------------------------------------------


def test_describe_follows_the_operators_status(ctx, kube):
    (task,) = op("RunTask", ctx, taskDefinition="batch")["tasks"]
    (obj,) = ecstasks(kube)
    report(kube, obj, lastStatus="RUNNING", desiredStatus="RUNNING", startedAt="2025-03-01T12:00:03Z")
    out = op("DescribeTasks", ctx, tasks=[task["taskArn"].rsplit("/", 1)[1], "f" * 32], include=["TAGS"])
    (t,) = out["tasks"]
    assert t["taskArn"] == task["taskArn"] and t["lastStatus"] == "RUNNING" and t["tags"] == []
    assert t["containers"][0]["taskArn"] == task["taskArn"] and isinstance(t["startedAt"], float)
    assert out["failures"] == [{"arn": f"{ARN}:task/default/{'f' * 32}", "reason": "MISSING"}]
    assert waiter("TasksRunning", out) == "failure"  # MISSING fails it, as on AWS
    assert waiter("TasksRunning", op("DescribeTasks", ctx, tasks=[task["taskArn"]])) == "success"
    report(
        kube,
        obj,
        lastStatus="STOPPED",
        desiredStatus="STOPPED",
        stopCode="EssentialContainerExited",
        stoppedReason="Essential container in task exited",
        stoppedAt="2025-03-01T12:00:09Z",
        containers=[{"name": "main", "lastStatus": "STOPPED", "exitCode": 0}],
    )
    out = op("DescribeTasks", ctx, tasks=[task["taskArn"]])
    assert waiter("TasksStopped", out) == "success" and waiter("TasksRunning", out) == "failure"
    assert out["tasks"][0]["containers"][0]["exitCode"] == 0
    # a task of another cluster is MISSING here
    op("CreateCluster", ctx, clusterName="other")
    assert op("DescribeTasks", ctx, cluster="other", tasks=[task["taskArn"]])["failures"][0]["reason"] == "MISSING"


def test_service_tasks_are_the_services_pods(ctx, kube):
    services.create_service(ctx, {"serviceName": "web", "taskDefinition": "web", "desiredCount": 2})
    kube.create(pod("web-a", "web", "aaaaaaaa-0000-0000-0000-000000000001"))
    kube.create(pod("web-b", "web", "aaaaaaaa-0000-0000-0000-000000000002", phase="Pending", node=None))
    kube.create(pod("stray", "unknown", "aaaaaaaa-0000-0000-0000-000000000003"))
    listed = op("ListTasks", ctx, serviceName="web")["taskArns"]
    assert listed == [
        f"{ARN}:task/default/aaaaaaaa000000000000000000000001",
        f"{ARN}:task/default/aaaaaaaa000000000000000000000002",
    ]
    out = op("DescribeTasks", ctx, tasks=listed)
    assert [t["lastStatus"] for t in out["tasks"]] == ["RUNNING", "PROVISIONING"]
    t = out["tasks"][0]
    assert t["group"] == "service:web" and t["startedBy"].startswith("ecs-svc/")
    assert t["containerInstanceArn"] == f"{ARN}:container-instance/default/node-1"
    assert t["taskDefinitionArn"] == f"{ARN}:task-definition/web:1"
    stopped = op("StopTask", ctx, task=listed[0], reason="bad node")["task"]
    assert (stopped["desiredStatus"], stopped["stoppedReason"]) == ("STOPPED", "bad node")
    assert kube.get("v1", "Pod", NS, "web-a") is None  # the service replaces it


# --- StopTask -----------------------------------------------------------------------------------


def test_stop_task_asks_the_operator_through_the_annotation(ctx, kube):
    (task,) = op("RunTask", ctx, taskDefinition="batch")["tasks"]
    out = op("StopTask", ctx, task=task["taskArn"], reason="cancelled")["task"]
    assert (out["desiredStatus"], out["stopCode"], out["stoppedReason"]) == ("STOPPED", "UserInitiated", "cancelled")
    (obj,) = ecstasks(kube)
    assert obj["metadata"]["annotations"] == {
        "ecs.seed.dev/desired-status": "STOPPED",
        "ecs.seed.dev/stop-reason": "cancelled",
    }
    assert err("StopTask", ctx, task="0" * 32).code == "InvalidParameterException"


def test_stop_one_task_of_a_multi_task_ecstask_deletes_its_pod(ctx, kube):
    obj = kube.create(
        {
            "apiVersion": API_VERSION,
            "kind": "ECSTask",
            "metadata": {"name": "three", "namespace": NS},
            "spec": {"taskDefinition": "batch", "count": 3},
        }
    )
    kube.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "three-1", "namespace": NS}})
    arn = task_tr.task_arn(None, obj["metadata"]["uid"], 1)
    op("StopTask", ctx, task=arn.rsplit("/", 1)[1])
    assert kube.get("v1", "Pod", NS, "three-1") is None
    assert not (kube.get(API_VERSION, "ECSTask", NS, "three")["metadata"].get("annotations") or {})


# --- ListTasks ----------------------------------------------------------------------------------


def test_list_tasks_filters_and_pages(ctx, kube):
    op("RunTask", ctx, taskDefinition="batch", count=3, startedBy="ci")
    op("RunTask", ctx, taskDefinition="web", launchType="FARGATE")
    services.create_service(ctx, {"serviceName": "web", "taskDefinition": "web", "desiredCount": 1})
    kube.create(pod("web-a", "web", "bbbbbbbb-0000-0000-0000-000000000001"))
    stopped = sorted(ecstasks(kube), key=lambda o: o["metadata"]["name"])[0]
    report(kube, stopped, lastStatus="STOPPED", desiredStatus="STOPPED")

    def count(**f):
        return len(op("ListTasks", ctx, **f)["taskArns"])

    assert count() == 4  # RUNNING is the default desiredStatus
    assert count(desiredStatus="STOPPED") == 1
    assert count(family="batch") == 2 and count(family="web") == 2
    assert count(startedBy="ci") == 2 and count(serviceName="web") == 1
    assert count(launchType="FARGATE") == 1
    assert count(containerInstance="node-1") == 1
    assert err("ListTasks", ctx, family="web", serviceName="web").code == "InvalidParameterException"
    seen, params = [], {"maxResults": 2}
    while True:
        page = op("ListTasks", ctx, **params)
        seen += page["taskArns"]
        if not page.get("nextToken"):
            break
        params["nextToken"] = page["nextToken"]
    assert seen == sorted(seen) and len(seen) == 4
