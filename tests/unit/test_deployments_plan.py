"""The strategies' plan and the deployment records (ecs_operator.plans.deployment), and the
translation of a revision's workloads: built from objects made here (no cluster)."""

from __future__ import annotations

from typing import Any

import pytest
from ecs_operator import constants
from ecs_operator.models.generated import CreateServiceRequest
from ecs_operator.plans import deployment as pd
from ecs_operator.translate import service as s

OWNER = {"apiVersion": "ecs.seed.dev/v1alpha1", "kind": "ECSService", "name": "web", "uid": "u1", "controller": True}
TEMPLATE = {"metadata": {"labels": {}}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}}
REV = constants.SERVICE_REVISION
TD = constants.TASK_DEFINITION


def svc(**dc: Any) -> CreateServiceRequest:
    return CreateServiceRequest.model_validate(
        {"taskDefinition": "web", "desiredCount": 2, "deploymentConfiguration": {"strategy": "BLUE_GREEN", **dc}}
    )


def green_manifests(service: CreateServiceRequest, revision: str = "222") -> tuple[dict, ...]:
    wl = s.workload(
        service, name="web", namespace="ns", owner=OWNER, template=TEMPLATE, task_definition="web:2", revision=revision
    )
    return wl.manifests


def blue_deployment(name: str = "web", revision: str | None = None) -> dict:
    labels = {constants.SERVICE: "web", **({REV: revision} if revision else {})}
    return {
        "kind": "Deployment",
        "metadata": {"name": name, "uid": f"d-{name}", "labels": labels},
        "spec": {"replicas": 2, "template": {"metadata": {"annotations": {TD: "web:1"}}}},
    }


def pod(name: str, revision: str | None, td: str, ready: bool = True) -> dict:
    labels = {constants.SERVICE: "web", **({REV: revision} if revision else {})}
    return {
        "metadata": {"name": name, "labels": labels, "annotations": {TD: td}},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"name": "web", "restartCount": 0}],
        },
    }


BLUE_PODS = [pod("b1", None, "web:1"), pod("b2", None, "web:1")]
GREEN_PODS = [pod("g1", "222", "web:2"), pod("g2", "222", "web:2")]


def step(service, *, workloads, pods, record=None, now=1000.0, router=False):
    target = pd.Target("web", "222", "web:2", green_manifests(service), router)
    return pd.plan_strategy(
        service,
        target,
        workloads=workloads,
        pods=pods,
        record=record,
        owner=OWNER,
        namespace="ns",
        now=now,
        minute_seconds=60.0,
        generation=3,
    )


def as_record(plan: pd.StrategyPlan, spec: dict | None = None) -> dict:
    return {**plan.record, "spec": {**plan.record["spec"], **(spec or {})}, "status": plan.record_status}


def test_revision_workloads_are_named_and_labelled_for_their_revision():
    (m,) = green_manifests(svc())
    assert m["metadata"]["name"] == "web-222"
    assert m["metadata"]["labels"][REV] == "222"
    assert m["spec"]["selector"]["matchLabels"] == {constants.SERVICE: "web", REV: "222"}
    assert m["spec"]["template"]["metadata"]["labels"][REV] == "222"


def test_a_new_deployment_scales_green_up_beside_blue():
    blue = blue_deployment()
    plan = step(svc(bakeTimeInMinutes=0), workloads=[blue], pods=BLUE_PODS)
    assert [m["spec"]["replicas"] for m in plan.manifests] == [2]
    assert plan.delete == ()
    assert (plan.workloads, plan.keep, plan.task_definition) == (["Deployment/web-222"], ("Deployment/web",), "web:2")
    st = plan.record_status
    assert (st["status"], st["lifecycleStage"], st["strategy"]) == ("IN_PROGRESS", "SCALE_UP", "BLUE_GREEN")
    assert st["targetServiceRevision"]["taskDefinition"] == "web:2"
    assert [x["taskDefinition"] for x in st["sourceServiceRevisions"]] == ["web:1"]
    assert plan.record["metadata"]["name"] == "web-222" and plan.record_changed and not plan.record_exists
    traffic = {c["type"]: c for c in st["conditions"]}["Traffic"]
    assert (traffic["status"], traffic["reason"]) == ("False", "NoRouter")
    assert pd.state_of(as_record(plan)) == plan.step.state  # the record keeps the machine's place


def test_green_ready_moves_on_to_clean_up_which_deletes_blue():
    blue = blue_deployment()
    first = step(svc(bakeTimeInMinutes=0), workloads=[blue], pods=BLUE_PODS)
    green = {**first.manifests[0], "kind": "Deployment"}
    second = step(
        svc(bakeTimeInMinutes=0), workloads=[blue, green], pods=BLUE_PODS + GREEN_PODS, record=as_record(first)
    )
    assert second.record_status["lifecycleStage"] == "CLEAN_UP"
    assert second.delete == (("Deployment", "web"),)
    target = second.record_status["targetServiceRevision"]
    assert (target["requestedProductionTrafficWeight"], target["requestedTestTrafficWeight"]) == (100.0, 100.0)
    done = step(svc(bakeTimeInMinutes=0), workloads=[green], pods=GREEN_PODS, record=as_record(second), now=1001.0)
    assert done.record_status["status"] == "SUCCESSFUL"
    assert [(x["taskDefinition"], x["runningTaskCount"]) for x in done.record_status["sourceServiceRevisions"]] == [
        ("web:1", 0)
    ]
    assert {c["type"]: c for c in done.record_status["conditions"]}["Ready"]["status"] == "True"


def test_stop_rollback_returns_to_blue():
    blue = blue_deployment(revision="111")
    first = step(svc(bakeTimeInMinutes=5), workloads=[blue], pods=BLUE_PODS)
    green = {**first.manifests[0], "kind": "Deployment"}
    rec = as_record(first, {"stop": {"stopType": "ROLLBACK"}})
    back = step(svc(bakeTimeInMinutes=5), workloads=[blue, green], pods=BLUE_PODS + GREEN_PODS, record=rec)
    assert back.record_status["status"] == "ROLLBACK_IN_PROGRESS"
    assert back.manifests == ()
    assert back.delete == (("Deployment", "web-222"),)
    assert (back.task_definition, back.workloads, back.keep) == ("web:1", ["Deployment/web"], ())
    assert [(t.revision, t.production) for t in back.traffic] == [("222", 0), ("111", 100)]
    done = step(svc(bakeTimeInMinutes=5), workloads=[blue], pods=BLUE_PODS, record=as_record(back, rec["spec"]))
    assert done.record_status["status"] == "ROLLBACK_SUCCESSFUL"
    assert done.record_status["rollback"]["reason"]


def test_pause_hook_is_shown_and_continued_through_the_spec():
    hooks = [{"targetType": "PAUSE", "lifecycleStages": ["PRE_SCALE_UP"]}]
    first = step(svc(lifecycleHooks=hooks), workloads=[blue_deployment()], pods=BLUE_PODS)
    st = first.record_status
    assert (st["lifecycleStage"], st["awaitingHookId"]) == ("PRE_SCALE_UP", "pre-scale-up-0")
    assert st["lifecycleHookDetails"] == [
        {
            "hookId": "pre-scale-up-0",
            "targetType": "PAUSE",
            "status": "AWAITING_ACTION",
            "lifecycleStage": "PRE_SCALE_UP",
        }
    ]
    assert [m["spec"]["replicas"] for m in first.manifests] == [0]  # not scaled up yet
    rec = as_record(first, {"continue": [{"hookId": "pre-scale-up-0"}]})
    second = step(svc(lifecycleHooks=hooks), workloads=[blue_deployment()], pods=BLUE_PODS, record=rec)
    assert second.record_status["lifecycleStage"] == "SCALE_UP"
    assert second.record_status["lifecycleHookDetails"][0]["status"] == "SUCCEEDED"


def test_unchanged_step_writes_nothing():
    first = step(svc(), workloads=[blue_deployment()], pods=BLUE_PODS)
    again = step(svc(), workloads=[blue_deployment()], pods=BLUE_PODS, record=as_record(first), now=1005.0)
    assert not again.record_changed and again.record_exists


def test_strategy_warnings_and_refusals():
    lam = {"targetType": "AWS_LAMBDA", "hookTargetArn": "arn:f", "lifecycleStages": ["POST_SCALE_UP"]}
    warned = {
        w.field: w.message
        for w in s.service_warnings(
            svc(lifecycleHooks=[lam], alarms={"alarmNames": ["a"], "rollback": True, "enable": True})
        )
    }
    assert "cannot be invoked" in warned["deploymentConfiguration.lifecycleHooks[0]"]
    assert "CloudWatch alarms cannot be read" in warned["deploymentConfiguration.alarms"]
    rolling = CreateServiceRequest.model_validate(
        {"taskDefinition": "web", "desiredCount": 1, "deploymentConfiguration": {"bakeTimeInMinutes": 3}}
    )
    assert "deploymentConfiguration.bakeTimeInMinutes" in {w.field for w in s.service_warnings(rolling)}
    daemon = CreateServiceRequest.model_validate(
        {"taskDefinition": "web", "schedulingStrategy": "DAEMON", "deploymentConfiguration": {"strategy": "CANARY"}}
    )
    with pytest.raises(s.ServiceError) as e:
        s.validate(daemon)
    assert e.value.field == "deploymentConfiguration.strategy"


def test_revision_record():
    rec = pd.revision_record(
        svc(),
        name="web",
        namespace="ns",
        owner=OWNER,
        revision="222",
        task_definition="web:2",
        containers=[{"name": "web", "image": "nginx:1"}],
        now="2026-01-01T00:00:00Z",
    )
    assert rec["metadata"]["name"] == "web-222" and rec["kind"] == "ServiceRevision"
    assert rec["spec"]["containerImages"] == [{"containerName": "web", "image": "nginx:1"}]
    assert (rec["spec"]["arn"], rec["spec"]["taskDefinition"]) == ("ecs-svc/222", "web:2")


def _dep(id_, td, state, running=2, status="PRIMARY"):
    return {
        "id": id_,
        "status": status,
        "taskDefinition": td,
        "rolloutState": state,
        "runningCount": running,
        "pendingCount": 0,
        "desiredCount": 2,
        "createdAt": "t0",
        "updatedAt": "t1",
    }


@pytest.mark.parametrize(
    ("previous", "status", "expect"),
    [
        ({}, {"deployments": [_dep("ecs-svc/1", "web:1", "IN_PROGRESS", 0)]}, [("web-1", "IN_PROGRESS", "SCALE_UP")]),
        (
            {"deployments": [_dep("ecs-svc/1", "web:1", "IN_PROGRESS", 0)]},
            {"deployments": [_dep("ecs-svc/1", "web:1", "COMPLETED")]},
            [("web-1", "SUCCESSFUL", "CLEAN_UP")],
        ),
        (
            {"deployments": [_dep("ecs-svc/1", "web:1", "COMPLETED")]},
            {"deployments": [_dep("ecs-svc/1", "web:1", "COMPLETED")]},
            [],
        ),
        (
            {"deployments": [_dep("ecs-svc/2", "web:2", "FAILED", 0)]},
            {"rolledBackTaskDefinition": "web:2", "deployments": [_dep("ecs-svc/1", "web:1", "IN_PROGRESS", 1)]},
            [("web-1", "IN_PROGRESS", "SCALE_UP"), ("web-2", "ROLLBACK_SUCCESSFUL", "SCALE_UP")],
        ),
    ],
    ids=["new", "completed", "unchanged", "rolled-back"],
)
def test_rolling_records(previous, status, expect):
    out = pd.rolling_records("web", "ns", OWNER, status, previous)
    assert [(r["metadata"]["name"], st["status"], st["lifecycleStage"]) for r, st in out] == expect
    assert all(st["strategy"] == "ROLLING" and r["spec"] == {"service": "web"} for r, st in out)


# -- the records fit their CRDs: a field the schema lacks would be pruned by the API server -------

CRDS = __import__("pathlib").Path(__file__).resolve().parents[2] / "crds"


def _schema(plural: str) -> dict:
    import yaml

    crd = yaml.safe_load((CRDS / f"{plural}.yaml").read_text())
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def _misfits(schema: dict, value: Any, path: str = "") -> list[str]:
    if schema.get("x-kubernetes-preserve-unknown-fields") or path == ".metadata":
        return []
    kind = schema.get("type")
    py = {"object": dict, "array": list, "string": str, "integer": int, "number": (int, float), "boolean": bool}
    if kind and not isinstance(value, py[kind]):
        return [f"{path}: {value!r} is not {kind}"]
    out = []
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{path}: {value!r} not in {schema['enum']}")
    if kind == "string" and len(value) > schema.get("maxLength", 1 << 30):
        out.append(f"{path}: longer than {schema['maxLength']}")
    if kind == "object":
        props = schema.get("properties", {})
        for k, v in value.items():
            out += [f"{path}.{k}: not in the schema"] if k not in props else _misfits(props[k], v, f"{path}.{k}")
    if kind == "array":
        out += [f"{path}: more than {schema['maxItems']}"] if len(value) > schema.get("maxItems", 1 << 30) else []
        for i, v in enumerate(value):
            out += _misfits(schema["items"], v, f"{path}[{i}]")
    return out


def test_records_fit_their_crds():
    hooks = [
        {"targetType": "PAUSE", "lifecycleStages": ["POST_SCALE_UP"], "timeoutConfiguration": {"timeoutInMinutes": 3}}
    ]
    blue = blue_deployment(revision="111")
    first = step(svc(lifecycleHooks=hooks), workloads=[blue], pods=BLUE_PODS)
    green = {**first.manifests[0], "kind": "Deployment"}
    paused = step(
        svc(lifecycleHooks=hooks), workloads=[blue, green], pods=BLUE_PODS + GREEN_PODS, record=as_record(first)
    )
    rec = as_record(paused, {"stop": {"stopType": "ROLLBACK"}, "continue": [{"hookId": "x", "action": "CONTINUE"}]})
    back = step(svc(lifecycleHooks=hooks), workloads=[blue, green], pods=BLUE_PODS + GREEN_PODS, record=rec)
    sd = _schema("servicedeployments")
    for p in (first, paused, back):
        obj = {**p.record, "status": p.record_status}
        assert _misfits(sd, obj) == []
    assert paused.record_status["lifecycleHookDetails"][0]["status"] == "AWAITING_ACTION"
    assert _misfits(sd, rec) == []
    rolling = pd.rolling_records("web", "ns", OWNER, {"deployments": [_dep("ecs-svc/1", "web:1", "IN_PROGRESS")]}, {})
    for r, st in rolling:
        assert _misfits(sd, {**r, "status": st}) == []
    revision = pd.revision_record(
        svc(), name="web", namespace="ns", owner=OWNER, revision="222", task_definition="web:2",
        containers=[{"name": "web", "image": "nginx:1"}], now="2026-01-01T00:00:00Z",
    )  # fmt: skip
    assert _misfits(_schema("servicerevisions"), revision) == []
