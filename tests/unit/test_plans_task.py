"""ECSTask plans (pure, no cluster): which tasks start, the status, the events, the pods to delete."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from ecs_operator.errors import NotReady
from ecs_operator.models.generated import RunTaskRequest
from ecs_operator.plans import task as plan
from ecs_operator.state.tasks import TaskSnapshot
from ecs_operator.translate import task as task_tr

NOW = "2026-01-01T00:01:00Z"
UID = "uid-1"
OWNER = {"apiVersion": "ecs.seed.dev/v1alpha1", "kind": "ECSTask", "name": "job", "uid": UID}
TEMPLATE = {
    "metadata": {"annotations": {"ecs.seed.dev/container-names": '{"app": "app"}'}},
    "spec": {"containers": [{"name": "app", "image": "busybox"}, {"name": "side", "image": "envoy"}]},
}
STOP = {"ecs.seed.dev/desired-status": "STOPPED", "ecs.seed.dev/stop-reason": "cancelled"}


def req(**spec: Any) -> RunTaskRequest:
    return RunTaskRequest.model_validate({"taskDefinition": "batch", **spec})


def running(name: str) -> dict:
    return {"name": name, "state": {"running": {"startedAt": "2026-01-01T00:00:10Z"}}, "ready": True}


def exited(name: str, code: int) -> dict:
    term = {"exitCode": code, "reason": "Error", "finishedAt": "2026-01-01T00:00:50Z"}
    return {"name": name, "restartCount": 0, "state": {"terminated": term}}


def pod(index: int = 0, *, phase: str = "Running", node: str | None = "node-1", statuses: list | None = None) -> dict:
    p = task_tr.task_pod(
        TEMPLATE,
        name="job",
        namespace="ns",
        index=index,
        owner=OWNER,
        req=req(),
        family="batch",
        task_definition="batch:1",
    )
    p["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
    if node:
        p["spec"]["nodeName"] = node
    p["status"] = {"phase": phase, "containerStatuses": statuses if statuses is not None else []}
    return p


RUNNING_POD = pod(statuses=[running("app"), running("side")])
EXITED_POD = pod(statuses=[exited("app", 3), running("side")])


def started(**fields: Any) -> dict:
    """status.tasks[i] of a task whose pod was created."""
    return {
        "taskArn": task_tr.task_arn(None, UID, 0),
        "podName": "job-0",
        "createdAt": "2026-01-01T00:00:00Z",
        "lastStatus": "RUNNING",
        "desiredStatus": "RUNNING",
        **fields,
    }


def snapshot(
    *, spec: dict | None = None, status: dict | None = None, annotations: dict | None = None, pods: dict | None = None
) -> TaskSnapshot:
    md = {"name": "job", "namespace": "ns", "uid": UID, "generation": 1, "annotations": annotations or {}}
    body = {"apiVersion": "ecs.seed.dev/v1alpha1", "kind": "ECSTask", "metadata": md, "spec": spec or {}}
    if status is not None:
        body["status"] = status
    return TaskSnapshot(body=body, pods=pods or {}, owner=OWNER)


def launched(*indexes: int, errors: list[str] | None = None) -> plan.Launched:
    return plan.Launched("batch:1", [], {i: pod(i, phase="Pending", node=None) for i in indexes}, errors or [])


def ready(status: dict | None) -> dict:
    return next(c for c in (status or {}).get("conditions") or [] if c["type"] == "Ready")


# (snapshot, RunTask input, what starting gave) -> the plan
CASES = [
    pytest.param(
        snapshot(spec={"count": 2}),
        req(count=2),
        launched(0, 1),
        {
            "todo": [0, 1],
            "launch": True,
            "events": ["TasksStarted"],
            "lastStatus": "PROVISIONING",
            "ready": ("False", "Provisioning"),
        },
        id="not started: both tasks start",
    ),
    pytest.param(
        snapshot(status={"tasks": [started()], "observedGeneration": 1}, pods={0: RUNNING_POD}),
        req(),
        None,
        {"todo": [], "launch": False, "lastStatus": "RUNNING", "ready": ("True", "Running")},
        id="running",
    ),
    pytest.param(
        snapshot(status={"tasks": [started()], "observedGeneration": 1}, pods={0: EXITED_POD}),
        req(),
        None,
        {
            "todo": [],
            "launch": False,
            "lastStatus": "DEPROVISIONING",
            "stopCode": "EssentialContainerExited",
            "after": [("TaskStopped", True)],
            "delete": ["job-0"],
        },
        id="essential container exited: recorded, then the pod is deleted",
    ),
    pytest.param(
        snapshot(status={"tasks": [started()], "observedGeneration": 1}, annotations=STOP, pods={0: RUNNING_POD}),
        req(),
        None,
        {
            "todo": [],
            "launch": False,
            "lastStatus": "DEPROVISIONING",
            "stopCode": "UserInitiated",
            "stoppedReason": "cancelled",
            "after": [("TaskStopped", True)],
            "delete": ["job-0"],
        },
        id="stop requested while running",
    ),
    pytest.param(
        snapshot(annotations=STOP),
        req(),
        None,
        {
            "todo": [0],
            "launch": False,
            "lastStatus": "STOPPED",
            "stopCode": "UserInitiated",
            "ready": ("False", "UserInitiated"),
            "after": [("TaskStopped", True)],
        },
        id="stop requested before the task started: it never starts",
    ),
    pytest.param(
        snapshot(),
        req(),
        launched(errors=["task 0 (pod job-0): exceeded quota"]),
        {
            "todo": [0],
            "launch": True,
            "events": ["TaskRejected"],
            "ready": ("False", "TaskRejected"),
            "retry": True,
            "status_keys": {"observedGeneration", "conditions"},
        },
        id="pod creation error before any task started: retried later",
    ),
    pytest.param(
        snapshot(status={"tasks": [started()], "observedGeneration": 1}),
        req(),
        None,
        {
            "todo": [],
            "launch": False,
            "lastStatus": "STOPPED",
            "stopCode": "UserInitiated",
            "stoppedReason": "Task stopped: its pod was deleted",
            "after": [("TaskStopped", True)],
        },
        id="a started index is never started again (its pod is gone)",
    ),
    pytest.param(
        snapshot(spec={"count": 0}),
        NotReady("InvalidParameterException", "count: 0 is out of range"),
        None,
        {
            "todo": [],
            "launch": False,
            "events": ["InvalidParameterException"],
            "ready": ("False", "InvalidParameterException"),
            "status_keys": {"observedGeneration", "conditions"},
        },
        id="refused input: Ready=False, nothing starts",
    ),
    pytest.param(
        snapshot(spec={"count": 5}, status={"tasks": [started()], "observedGeneration": 0}, pods={0: RUNNING_POD}),
        req(count=5),
        None,
        {"todo": [], "launch": False, "events": ["SpecIgnored"], "lastStatus": "RUNNING"},
        id="spec changed after the tasks started: ignored",
    ),
]


@pytest.mark.parametrize("snap,request_,outcome,expected", CASES)
def test_plan(snap: TaskSnapshot, request_: Any, outcome: Any, expected: dict) -> None:
    start = plan.plan_start(snap, request_)
    assert (start.todo, start.launch) == (expected["todo"], expected["launch"])
    todo = plan.plan_status(snap, start, outcome if start.launch else None, NOW)
    assert [e.reason for e in start.events + todo.events] == expected.get("events", [])
    assert [(e.reason, e.warning) for e in todo.after] == expected.get("after", [])
    assert todo.delete_pods == expected.get("delete", [])
    assert (todo.retry is not None) == expected.get("retry", False)
    status = todo.status or {}
    for key in ("lastStatus", "stopCode", "stoppedReason"):
        if key in expected:
            assert status.get(key) == expected[key], key
    if "ready" in expected:
        c = ready(todo.status)
        assert (c["status"], c["reason"]) == expected["ready"]
    if "status_keys" in expected:
        assert set(status) == expected["status_keys"]


@pytest.mark.parametrize(
    "stopped_at,ttl,expired",
    [
        ("2026-01-01T00:00:00Z", 60, True),
        ("2026-01-01T00:00:30Z", 60, False),
        ("2026-01-01T00:00:00Z", -1, False),
        (None, 0, False),
    ],
)
def test_stopped_tasks_expire_after_the_ttl(stopped_at: str | None, ttl: float, expired: bool) -> None:
    status = {"lastStatus": "STOPPED", "stoppedAt": stopped_at}
    assert plan.plan_expiry(status, datetime(2026, 1, 1, 0, 1, tzinfo=UTC), ttl) is expired


@pytest.mark.parametrize(
    "outcome,events,translated",
    [
        (launched(0), ["TasksStarted"], "Translated"),
        (
            plan.Launched("batch:1", ["x: y"], {0: pod(0, node=None)}),
            ["TasksStarted", "TranslationWarning"],
            "TranslatedWithWarnings",
        ),
    ],
)
def test_started_tasks_are_announced_and_translation_reported(outcome: Any, events: list, translated: str) -> None:
    snap = snapshot()
    todo = plan.plan_status(snap, plan.plan_start(snap, req()), outcome, NOW)
    assert [e.reason for e in todo.events] == events
    status = todo.status or {}
    assert status["taskDefinitionArn"] == "batch:1" and status["tasks"][0]["podName"] == "job-0"
    assert next(c for c in status["conditions"] if c["type"] == "Translated")["reason"] == translated


@pytest.mark.parametrize(
    "message,events,writes",
    [
        ("taskDefinition: Unable to describe task definition batch", [], False),
        ("cluster: Cluster not found", ["ClusterNotFoundException"], True),
    ],
)
def test_a_refusal_is_reported_once(message: str, events: list, writes: bool) -> None:
    first = snapshot()
    error = NotReady("TaskDefinitionNotFound", "taskDefinition: Unable to describe task definition batch")
    reported = plan.plan_status(first, plan.plan_start(first, req()), error, NOW)
    assert [e.reason for e in reported.events] == ["TaskDefinitionNotFound"]
    snap = snapshot(status=reported.status)
    again = NotReady("ClusterNotFoundException" if events else error.reason, message)
    todo = plan.plan_status(snap, plan.plan_start(snap, req()), again, NOW)
    assert [e.reason for e in todo.events] == events
    assert (todo.status is not None) is writes, "nothing to write when nothing changed"


def test_the_status_is_unchanged_when_nothing_happened() -> None:
    snap = snapshot(status={"tasks": [started()], "observedGeneration": 1}, pods={0: RUNNING_POD})
    first = plan.plan_status(snap, plan.plan_start(snap, req()), None, NOW)
    again = snapshot(status=first.status, pods={0: RUNNING_POD})
    assert plan.plan_status(again, plan.plan_start(again, req()), None, NOW).status is None
