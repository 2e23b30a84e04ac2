"""BLUE_GREEN, LINEAR and CANARY deployments on the real control plane with KWOK nodes: each
revision runs in its own Deployment, the ServiceDeployment/ServiceRevision records follow ECS's
lifecycle, rollback part-way, PAUSE hooks continued with kubectl, StopServiceDeployment.

These tests run their own operator with ECS_OPERATOR_MINUTE_SECONDS=1 (one ECS minute lasts a
second), serving only namespaces ``s-*`` so the session's operator never acts on them."""

from __future__ import annotations

import json

import pytest

from ..cluster_fixtures import make_namespace, minute_scaled_operator
from .kube import wait_for
from .test_taskdefinition import G, V, get, td

PREFIX = "s-"


@pytest.fixture(scope="module")
def strategy_operator(kubeconfig, crds, ecs_scheduler, tmp_path_factory):
    log_path = tmp_path_factory.mktemp("strategy-operator") / "operator.log"
    with minute_scaled_operator(kubeconfig, ecs_scheduler, log_path, PREFIX) as proc:
        yield proc, log_path


@pytest.fixture
def ns(core, request, strategy_operator):
    assert strategy_operator[0].poll() is None, "the strategies' operator exited"
    yield from make_namespace(core, request, PREFIX)


def service(name: str, dc: dict, desired: int = 2) -> dict:
    return {
        "apiVersion": f"{G}/{V}",
        "kind": "ECSService",
        "metadata": {"name": name},
        "spec": {"taskDefinition": name, "desiredCount": desired, "deploymentConfiguration": dc},
    }


def records(custom, ns: str, plural: str = "servicedeployments") -> list[dict]:
    return custom.list_namespaced_custom_object(G, V, ns, plural)["items"]


def record_for(custom, ns: str, task_definition: str) -> dict | None:
    for r in records(custom, ns):
        target = (r.get("status") or {}).get("targetServiceRevision") or {}
        if target.get("taskDefinition") == task_definition:
            return r
    return None


def wait_record(custom, ns: str, task_definition: str, status: str, timeout: float = 120) -> dict:
    def check():
        r = record_for(custom, ns, task_definition)
        return r if r and r["status"].get("status") == status else None

    try:
        return wait_for(check, timeout=timeout, desc=f"ServiceDeployment of {task_definition} {status}")
    except AssertionError:
        print(json.dumps(records(custom, ns), indent=1)[-4000:])
        raise


def deployments(apps, ns: str, name: str) -> dict[str, int]:
    return {
        d.metadata.name: d.spec.replicas
        for d in apps.list_namespaced_deployment(ns, label_selector=f"ecs.seed.dev/service={name}").items
        if not d.metadata.deletion_timestamp
    }


def start(custom, ns: str, name: str, dc: dict) -> None:
    """The service on web:1, its first deployment SUCCESSFUL; then web:2 registered."""
    custom.create_namespaced_custom_object(G, V, ns, "taskdefinitions", td(name))
    custom.create_namespaced_custom_object(G, V, ns, "ecsservices", service(name, dc))
    wait_record(custom, ns, f"{name}:1", "SUCCESSFUL")
    custom.patch_namespaced_custom_object(
        G,
        V,
        ns,
        "taskdefinitions",
        name,
        {"spec": {"containerDefinitions": [{"name": name, "image": "nginx:1.28", "memory": 128}]}},
    )


@pytest.mark.parametrize(
    ("dc", "canary"),
    [
        ({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 3}, None),
        (
            {
                "strategy": "CANARY",
                "bakeTimeInMinutes": 1,
                "canaryConfiguration": {"canaryPercent": 25.0, "canaryBakeTimeInMinutes": 4},
            },
            25.0,
        ),
        (
            {
                "strategy": "LINEAR",
                "bakeTimeInMinutes": 1,
                "linearConfiguration": {"stepPercent": 50.0, "stepBakeTimeInMinutes": 3},
            },
            50.0,
        ),
    ],
    ids=["blue-green", "canary", "linear"],
)
def test_strategy_runs_both_revisions_then_cleans_up(custom, apps, ns, dc, canary):
    start(custom, ns, "web", dc)

    # both revisions run side by side, each in its own Deployment at full size
    both = wait_for(
        lambda: (lambda d: d if len(d) == 2 and set(d.values()) == {2} else None)(deployments(apps, ns, "web")),
        timeout=90,
        desc="blue and green Deployments at full size",
    )
    assert all(n.startswith("web-") for n in both)
    if canary is not None:
        seen = wait_for(
            lambda: (
                (r := record_for(custom, ns, "web:2"))
                and r["status"]["targetServiceRevision"].get("requestedProductionTrafficWeight") == canary
                and r
            ),
            timeout=90,
            desc=f"production traffic {canary}% to green",
        )
        assert seen["status"]["lifecycleStage"] == "PRODUCTION_TRAFFIC_SHIFT"
    rec = wait_record(custom, ns, "web:2", "SUCCESSFUL")
    st = rec["status"]
    assert (st["strategy"], st["lifecycleStage"]) == (dc["strategy"], "CLEAN_UP")
    assert st["targetServiceRevision"]["requestedProductionTrafficWeight"] == 100.0
    assert [s["taskDefinition"] for s in st["sourceServiceRevisions"]] == ["web:1"]
    assert {c["type"]: c["reason"] for c in st["conditions"]}["Traffic"] in ("NoRouter", "HTTPRoute")
    assert rec["metadata"]["ownerReferences"][0]["kind"] == "ECSService"

    wait_for(lambda: len(deployments(apps, ns, "web")) == 1, timeout=60, desc="blue cleaned up")
    svc = wait_for(
        lambda: (
            (s := get(custom, ns, "ecsservices", "web")["status"]).get("runningCount") == 2
            and s.get("rolloutState") == "COMPLETED"
            and s
        ),
        timeout=60,
        desc="service steady on web:2",
    )
    assert svc["taskDefinition"] == svc["deployments"][0]["taskDefinition"] == "web:2"
    revisions = {r["spec"]["taskDefinition"] for r in records(custom, ns, "servicerevisions")}
    assert revisions == {"web:1", "web:2"}


def test_stop_rollback_part_way_returns_to_blue(custom, apps, kubectl, ns):
    dc = {"strategy": "CANARY", "canaryConfiguration": {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 600}}
    start(custom, ns, "web", dc)
    rec = wait_for(
        lambda: (
            (r := record_for(custom, ns, "web:2"))
            and r["status"].get("lifecycleStage") == "PRODUCTION_TRAFFIC_SHIFT"
            and r
        ),
        timeout=90,
        desc="canary phase",
    )
    kubectl(
        "-n", ns, "patch", "servicedeployment", rec["metadata"]["name"], "--type", "merge",
        "-p", '{"spec":{"stop":{"stopType":"ROLLBACK"}}}',
    )  # fmt: skip
    back = wait_record(custom, ns, "web:2", "ROLLBACK_SUCCESSFUL")
    assert back["status"]["targetServiceRevision"]["requestedProductionTrafficWeight"] == 0.0
    assert back["status"]["rollback"]["reason"]
    wait_for(lambda: len(deployments(apps, ns, "web")) == 1, timeout=60, desc="green removed")
    svc = wait_for(
        lambda: (
            (s := get(custom, ns, "ecsservices", "web")["status"]).get("taskDefinition") == "web:1"
            and s.get("runningCount") == 2
            and s
        ),
        timeout=60,
        desc="service back on web:1",
    )
    assert [d["taskDefinition"] for d in svc["deployments"]] == ["web:1"]


def test_pause_hook_waits_until_continued_with_kubectl(custom, apps, kubectl, ns):
    dc = {
        "strategy": "BLUE_GREEN",
        "bakeTimeInMinutes": 0,
        "lifecycleHooks": [{"targetType": "PAUSE", "lifecycleStages": ["POST_SCALE_UP"]}],
    }
    custom.create_namespaced_custom_object(G, V, ns, "taskdefinitions", td("web"))
    custom.create_namespaced_custom_object(G, V, ns, "ecsservices", service("web", dc))
    paused = wait_for(
        lambda: (r := record_for(custom, ns, "web:1")) and r["status"].get("awaitingHookId") and r,
        timeout=90,
        desc="paused at POST_SCALE_UP",
    )
    st = paused["status"]
    assert (st["status"], st["lifecycleStage"], st["awaitingHookId"]) == (
        "IN_PROGRESS",
        "POST_SCALE_UP",
        "post-scale-up-0",
    )
    assert st["lifecycleHookDetails"][0]["status"] == "AWAITING_ACTION"
    out = kubectl("-n", ns, "get", "servicedeployments", "-o", "wide").stdout
    assert "POST_SCALE_UP" in out and "post-scale-up-0" in out
    kubectl(
        "-n", ns, "patch", "servicedeployment", paused["metadata"]["name"], "--type", "merge",
        "-p", '{"spec":{"continue":[{"hookId":"post-scale-up-0"}]}}',
    )  # fmt: skip
    done = wait_record(custom, ns, "web:1", "SUCCESSFUL")
    assert done["status"]["lifecycleHookDetails"][0]["status"] == "SUCCEEDED"


def test_stop_abort_leaves_both_revisions(custom, apps, kubectl, ns):
    dc = {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 600}
    start(custom, ns, "web", dc)
    rec = wait_for(
        lambda: (r := record_for(custom, ns, "web:2")) and r["status"].get("lifecycleStage") == "BAKE_TIME" and r,
        timeout=90,
        desc="bake time",
    )
    kubectl(
        "-n", ns, "patch", "servicedeployment", rec["metadata"]["name"], "--type", "merge",
        "-p", '{"spec":{"stop":{"stopType":"ABORT"}}}',
    )  # fmt: skip
    stopped = wait_record(custom, ns, "web:2", "STOPPED")
    assert stopped["status"]["lifecycleStage"] == "BAKE_TIME"
    assert sorted(deployments(apps, ns, "web").values()) == [2, 2]


def test_rolling_deployments_have_records_too(custom, ns):
    custom.create_namespaced_custom_object(G, V, ns, "taskdefinitions", td("roll"))
    body = service("roll", {"maximumPercent": 200, "minimumHealthyPercent": 100})
    custom.create_namespaced_custom_object(G, V, ns, "ecsservices", body)
    rec = wait_record(custom, ns, "roll:1", "SUCCESSFUL")
    assert (rec["status"]["strategy"], rec["spec"]["service"]) == ("ROLLING", "roll")
    assert [r["spec"]["taskDefinition"] for r in records(custom, ns, "servicerevisions")] == ["roll:1"]


def test_continue_and_stop_through_the_ecs_api(kubeconfig, kubectl, custom, apps, ns, tmp_path):
    """ContinueServiceDeployment and StopServiceDeployment with boto3, on the records."""
    from ..api_support import client, create_key, grant, key_id_for, serve

    user = f"ecs-strategies-{ns}"
    key_id = key_id_for("AKIASTR", ns)
    grant(kubectl, ns, user)
    create_key(kubeconfig, key_id=key_id, namespace=ns, user=user)
    with serve(kubeconfig, ns, tmp_path / "api.log") as url:
        ecs = client(url, key_id)
        ecs.create_cluster(clusterName="default")
        image = {"name": "main", "image": "nginx:1.27", "memory": 64}
        ecs.register_task_definition(family="web", containerDefinitions=[image])
        hook = {"targetType": "PAUSE", "lifecycleStages": ["POST_SCALE_UP"]}
        dc = {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 0, "lifecycleHooks": [hook]}
        ecs.create_service(serviceName="web", taskDefinition="web", desiredCount=2, deploymentConfiguration=dc)

        def paused(td_suffix):
            for r in records(custom, ns):
                st = r.get("status") or {}
                if st.get("targetServiceRevision", {}).get("taskDefinition", "").endswith(td_suffix):
                    return r if st.get("awaitingHookId") else None
            return None

        first = wait_for(lambda: paused(":1"), timeout=90, desc="first deployment paused")
        arn = next(
            d["serviceDeploymentArn"]
            for d in ecs.list_service_deployments(service="web")["serviceDeployments"]
            if d["serviceDeploymentArn"].endswith("/" + first["status"]["id"].split("/")[1])
        )
        ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId=first["status"]["awaitingHookId"])
        td1 = first["status"]["targetServiceRevision"]["taskDefinition"]
        wait_record(custom, ns, td1, "SUCCESSFUL")

        ecs.register_task_definition(family="web", containerDefinitions=[{**image, "image": "nginx:1.28"}])
        ecs.update_service(service="web", taskDefinition="web:2")
        second = wait_for(lambda: paused(":2"), timeout=90, desc="second deployment paused")
        arn2 = arn.rsplit("/", 1)[0] + "/" + second["status"]["id"].split("/")[1]
        assert (
            ecs.stop_service_deployment(serviceDeploymentArn=arn2, stopType="ROLLBACK")["serviceDeploymentArn"] == arn2
        )
        td2 = second["status"]["targetServiceRevision"]["taskDefinition"]
        wait_record(custom, ns, td2, "ROLLBACK_SUCCESSFUL")
        wait_for(lambda: len(deployments(apps, ns, "web")) == 1, timeout=60, desc="green removed")
        err = None
        try:
            ecs.stop_service_deployment(serviceDeploymentArn=arn2)
        except ecs.exceptions.ClientError as e:
            err = e.response["Error"]["Code"]
        assert err == "ConflictException"  # it has finished
