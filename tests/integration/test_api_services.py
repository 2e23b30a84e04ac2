"""Services and tasks through the ECS API endpoint with boto3 (paginators and waiters), on the
local cluster with the session's operator reconciling: register -> create-service -> wait
services_stable -> update to a new revision -> stable -> forceNewDeployment -> stable -> delete
(force) -> wait services_inactive; run-task -> tasks_running / tasks_stopped (KWOK:
``kwok.local/exit:0`` ends a task, any other image runs on); what the API creates is what
kubectl sees, and a service made with kubectl is described through the API."""

from __future__ import annotations

import pytest

from ..api_support import ACCOUNT, REGION, client, create_key, grant, key_id_for, serve

G, V = "ecs.seed.dev", "v1alpha1"
FAST = {"Delay": 2, "MaxAttempts": 90}


@pytest.fixture
def ecs(kubeconfig, operator, namespace, kubectl, tmp_path):
    """A boto3 ECS client of a key acting in the test's namespace, the endpoint on a loopback port."""
    user = f"ecs-services-{namespace}"
    key_id = key_id_for("AKIASVC", namespace)
    grant(kubectl, namespace, user)
    create_key(kubeconfig, key_id=key_id, namespace=namespace, user=user)
    with serve(kubeconfig, namespace, tmp_path / "api.log") as url:
        yield client(url, key_id)


def _td(family: str, image: str) -> dict:
    return {"family": family, "containerDefinitions": [{"name": "main", "image": image, "memory": 64}]}


def test_service_lifecycle_through_the_api(ecs, custom, namespace):
    ecs.create_cluster(clusterName="default")
    ecs.register_task_definition(**_td("web_App", "nginx:1.27"))
    created = ecs.create_service(serviceName="Web_Svc", taskDefinition="web_App", desiredCount=2)["service"]
    assert created["serviceArn"] == f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/default/Web_Svc"
    assert [d["status"] for d in created["deployments"]] == ["PRIMARY"]  # at once, as ECS does
    # the API made an ECSService that kubectl sees
    (obj,) = custom.list_namespaced_custom_object(G, V, namespace, "ecsservices")["items"]
    assert obj["spec"]["serviceName"] == "Web_Svc" and obj["spec"]["desiredCount"] == 2

    ecs.get_waiter("services_stable").wait(services=["Web_Svc"], WaiterConfig=FAST)
    s = ecs.describe_services(services=["Web_Svc"])["services"][0]
    assert (s["runningCount"], s["desiredCount"], len(s["deployments"])) == (2, 2, 1)
    tasks = ecs.list_tasks(serviceName="Web_Svc")["taskArns"]
    assert len(tasks) == 2
    assert {t["lastStatus"] for t in ecs.describe_tasks(tasks=tasks)["tasks"]} == {"RUNNING"}

    # a new revision: a new PRIMARY deployment, then stable on it
    ecs.register_task_definition(**_td("web_App", "nginx:1.28"))
    updated = ecs.update_service(service="Web_Svc", taskDefinition="web_App:2")["service"]
    assert updated["deployments"][0]["taskDefinition"].endswith("task-definition/web_App:2")
    ecs.get_waiter("services_stable").wait(services=["Web_Svc"], WaiterConfig=FAST)
    s = ecs.describe_services(services=["Web_Svc"])["services"][0]
    assert s["taskDefinition"].endswith(":2") and s["deployments"][0]["taskDefinition"].endswith(":2")
    before = set(ecs.list_tasks(serviceName="Web_Svc")["taskArns"])

    # forceNewDeployment replaces every task
    ecs.update_service(service="Web_Svc", forceNewDeployment=True)
    ecs.get_waiter("services_stable").wait(services=["Web_Svc"], WaiterConfig=FAST)
    after = set(ecs.list_tasks(serviceName="Web_Svc")["taskArns"])
    assert len(after) == 2 and not after & before
    deployments = ecs.list_service_deployments(service="Web_Svc")["serviceDeployments"]
    assert deployments and deployments[0]["status"] in ("SUCCESSFUL", "IN_PROGRESS")

    # a service made with kubectl is described through the API; the paginator pages
    custom.create_namespaced_custom_object(
        G,
        V,
        namespace,
        "ecsservices",
        {
            "apiVersion": f"{G}/{V}",
            "kind": "ECSService",
            "metadata": {"name": "legacy"},
            "spec": {"taskDefinition": "web_App", "desiredCount": 0},
        },
    )
    assert ecs.describe_services(services=["legacy"])["services"][0]["serviceName"] == "legacy"
    pages = ecs.get_paginator("list_services").paginate(PaginationConfig={"PageSize": 1})
    assert [a.rsplit("/", 1)[1] for p in pages for a in p["serviceArns"]] == ["Web_Svc", "legacy"]

    # delete: refused while scaled up, forced, DRAINING, then INACTIVE
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.delete_service(service="Web_Svc")
    assert ecs.delete_service(service="Web_Svc", force=True)["service"]["status"] == "DRAINING"
    ecs.get_waiter("services_inactive").wait(services=["Web_Svc"], WaiterConfig=FAST)
    assert ecs.describe_services(services=["Web_Svc"])["services"][0]["status"] == "INACTIVE"
    names = [
        o["spec"].get("serviceName")
        for o in custom.list_namespaced_custom_object(G, V, namespace, "ecsservices")["items"]
    ]
    assert "Web_Svc" not in names


def test_tasks_through_the_api(ecs, custom, namespace):
    ecs.create_cluster(clusterName="default")
    ecs.register_task_definition(**_td("job", "kwok.local/exit:0"))
    ecs.register_task_definition(**_td("server", "nginx:1.27"))

    # a short-lived task: stopped, as its essential container exited
    (job,) = ecs.run_task(taskDefinition="job", startedBy="ci")["tasks"]
    ecs.get_waiter("tasks_stopped").wait(tasks=[job["taskArn"]], WaiterConfig=FAST)
    t = ecs.describe_tasks(tasks=[job["taskArn"]])["tasks"][0]
    assert (t["stopCode"], t["containers"][0]["exitCode"], t["startedBy"]) == ("EssentialContainerExited", 0, "ci")

    # two long-running tasks: running, one stopped by StopTask
    run = ecs.run_task(taskDefinition="server", count=2)["tasks"]
    arns = [t["taskArn"] for t in run]
    ecs.get_waiter("tasks_running").wait(tasks=arns, WaiterConfig=FAST)
    objs = custom.list_namespaced_custom_object(G, V, namespace, "ecstasks")["items"]
    assert len(objs) == 3  # one ECSTask per task, seen by kubectl
    stopped = ecs.stop_task(task=arns[0], reason="done here")["task"]
    assert stopped["desiredStatus"] == "STOPPED"
    ecs.get_waiter("tasks_stopped").wait(tasks=[arns[0]], WaiterConfig=FAST)
    t = ecs.describe_tasks(tasks=[arns[0]])["tasks"][0]
    assert (t["stopCode"], t["stoppedReason"]) == ("UserInitiated", "done here")

    def listed(**f):
        pages = ecs.get_paginator("list_tasks").paginate(PaginationConfig={"PageSize": 1}, **f)
        return sorted(a for p in pages for a in p["taskArns"])

    assert listed() == [arns[1]]
    assert listed(desiredStatus="STOPPED") == sorted([job["taskArn"], arns[0]])
    assert listed(family="job", desiredStatus="STOPPED") == [job["taskArn"]]
