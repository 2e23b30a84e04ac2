"""ECSTask: RunTask input -> Pods, and ECS's task lifecycle computed from the Pods (pure)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest
from ecs_operator.models.generated import ContainerOverride, RegisterTaskDefinitionRequest, RunTaskRequest, TaskOverride
from ecs_operator.translate import task as t
from ecs_operator.translate.taskdef import translate_task_definition

OWNER = {
    "apiVersion": "ecs.seed.dev/v1alpha1",
    "kind": "ECSTask",
    "name": "job",
    "uid": "uid-1",
    "controller": True,
    "blockOwnerDeletion": True,
}
NOW = "2026-01-01T00:01:00Z"
TD = {
    "family": "batch",
    "containerDefinitions": [
        {
            "name": "app_main",
            "image": "busybox",
            "memory": 256,
            "command": ["run"],
            "environment": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
        },
        {"name": "sidecar", "image": "envoy", "memory": 128},
        {"name": "helper", "image": "helper", "essential": False, "memory": 64},
    ],
}


def req(**spec) -> RunTaskRequest:
    return RunTaskRequest.model_validate({"taskDefinition": "batch", **spec})


def translation(td: dict = TD, overrides: dict | None = None):
    model = RegisterTaskDefinitionRequest.model_validate(td)
    if overrides is not None:
        model = t.apply_overrides(model, TaskOverride.model_validate(overrides))
    return translate_task_definition(model, family="batch", revision=3)


def pod(
    index: int = 0,
    *,
    phase: str = "Pending",
    node: str | None = "ip-10-0-1-1",
    statuses=None,
    deleting: bool = False,
    r: RunTaskRequest | None = None,
    conditions=None,
) -> dict:
    p = t.task_pod(
        translation().template,
        name="job",
        namespace="ns",
        index=index,
        owner=OWNER,
        req=r or req(),
        family="batch",
        task_definition="batch:3",
    )
    p["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
    if deleting:
        p["metadata"]["deletionTimestamp"] = NOW
    if node:
        p["spec"]["nodeName"] = node
    p["status"] = {"phase": phase, "containerStatuses": statuses or [], "conditions": conditions or []}
    return p


def running(name: str, started: str = "2026-01-01T00:00:10Z") -> dict:
    return {"name": name, "state": {"running": {"startedAt": started}}, "ready": True, "restartCount": 0}


def exited(name: str, code: int, reason: str | None = None) -> dict:
    return {
        "name": name,
        "restartCount": 0,
        "state": {
            "terminated": {
                "exitCode": code,
                "reason": reason or ("Completed" if code == 0 else "Error"),
                "startedAt": "2026-01-01T00:00:10Z",
                "finishedAt": "2026-01-01T00:00:50Z",
            }
        },
    }


def waiting(name: str, reason: str, message: str = "") -> dict:
    return {"name": name, "restartCount": 0, "state": {"waiting": {"reason": reason, "message": message}}}


def view(p, previous=None, stop=None):
    base = {} if previous else {"taskArn": t.task_arn(None, "uid-1", 0), "podName": "job-0"}
    return t.task_view(index=0, base=base, pod=p, previous=previous, stop_reason=stop, now=NOW)


ALL_RUNNING = [running("app-main"), running("sidecar"), running("helper")]


# -- RunTask input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec,field",
    [
        ({"count": 0}, "count"),
        ({"count": 11}, "count"),
        ({"launchType": "EC2", "capacityProviderStrategy": [{"capacityProvider": "FARGATE"}]}, "launchType"),
        ({"startedBy": "a b"}, "startedBy"),
        ({"cluster": "bad name"}, "cluster"),
        ({"taskDefinition": " "}, "taskDefinition"),
        ({"overrides": {"containerOverrides": [{"command": ["x"]}]}}, "overrides.containerOverrides[0].name"),
    ],
)
def test_validate_refuses_what_ecs_refuses_naming_the_field(spec, field):
    with pytest.raises(t.TaskError) as e:
        t.validate(req(**spec))
    assert e.value.field == field and str(e.value).startswith(field + ":")


def test_validate_accepts_count_1_to_10_and_defaults_to_1():
    for n in (1, 10):
        t.validate(req(count=n))
    assert t.task_count(req()) == 1


def test_every_runtask_field_is_translated_warned_or_ignored():
    tables = [t.TRANSLATED, t.WARNED, t.IGNORED]
    for name in RunTaskRequest.model_fields:
        assert sum(name in tb for tb in tables) == 1, name
    for name in TaskOverride.model_fields:
        assert (name in t.OVERRIDES_TRANSLATED) != (name in t.OVERRIDES_WARNED), name
    assert set(ContainerOverride.model_fields) == set(t.CONTAINER_OVERRIDES_TRANSLATED)


def test_role_overrides_are_warned_and_placement_reaches_the_pod():
    r = req(
        launchType="FARGATE",
        placementConstraints=[{"type": "distinctInstance"}],
        overrides={"taskRoleArn": "arn:aws:iam::1:role/x"},
        tags=[{"key": "a", "value": "b"}],
    )
    assert [w.field for w in t.task_warnings(r)] == ["overrides.taskRoleArn"]
    placed = req(
        placementConstraints=[{"type": "memberOf", "expression": "attribute:ecs.availability-zone == us-east-1a"}],
        placementStrategy=[{"type": "binpack", "field": "memory"}],
    )
    owner = {"apiVersion": "ecs.seed.dev/v1alpha1", "kind": "ECSTask", "name": "b", "uid": "u"}
    pod = t.task_pod(
        {"metadata": {}, "spec": {"containers": [{"name": "c", "image": "x"}]}},
        name="b",
        namespace="n",
        index=0,
        owner=owner,
        req=placed,
        family="f",
        task_definition="f:1",
    )
    ann = pod["metadata"]["annotations"]
    assert (
        "memberOf" in ann["ecs.seed.dev/placement-constraints"] and "binpack" in ann["ecs.seed.dev/placement-strategy"]
    )
    terms = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    assert all(any(e["key"] == "topology.kubernetes.io/zone" for e in term["matchExpressions"]) for term in terms)
    bad = req(placementConstraints=[{"type": "memberOf", "expression": "attribute:x =="}])
    with pytest.raises(t.TaskError) as e:
        t.task_pod(
            {"metadata": {}, "spec": {}},
            name="b",
            namespace="n",
            index=0,
            owner=owner,
            req=bad,
            family="f",
            task_definition="f:1",
        )
    assert e.value.field == "placementConstraints[0].expression"


def test_overrides_apply_to_the_task_definition_before_translation():
    tr = translation(
        overrides={
            "cpu": "1024",
            "memory": "2048",
            "containerOverrides": [
                {
                    "name": "app_main",
                    "command": ["echo", "$HOME"],
                    "environment": [{"name": "B", "value": "x"}, {"name": "C", "value": "3"}],
                    "cpu": 512,
                    "memory": 512,
                    "memoryReservation": 300,
                }
            ],
        }
    )
    c = tr.template["spec"]["containers"][0]
    assert c["name"] == "app-main"
    assert c["args"] == ["echo", "$HOME"]
    assert c["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "x"}, {"name": "C", "value": "3"}]
    assert c["resources"]["requests"] == {"cpu": "500m", "memory": "300Mi"}
    assert c["resources"]["limits"]["memory"] == "512Mi"
    assert tr.template["spec"]["resources"]["requests"] == {"cpu": "1", "memory": "2048Mi"}


def test_override_of_an_unknown_container_is_refused_as_ecs_does():
    with pytest.raises(t.TaskError) as e:
        translation(overrides={"containerOverrides": [{"name": "app_main"}, {"name": "nope", "command": ["x"]}]})
    assert e.value.field == "overrides.containerOverrides[1].name"
    assert "Override for container named nope is not a container in the TaskDefinition." in str(e.value)


def test_override_does_not_change_the_revision():
    model = RegisterTaskDefinitionRequest.model_validate(TD)
    before = model.model_dump()
    t.apply_overrides(model, TaskOverride.model_validate({"containerOverrides": [{"name": "sidecar", "cpu": 5}]}))
    assert model.model_dump() == before


def test_non_essential_warning_does_not_apply_to_standalone_tasks():
    tr = translation()
    assert any(w.field.endswith("helper].essential") for w in tr.warnings)
    assert not any(w.field.endswith(".essential") for w in t.translation_warnings(tr.warnings))


# -- the Pod ---------------------------------------------------------------------------------------


def test_task_pod_is_the_template_with_restart_policy_never_owned_by_the_ecstask():
    tr = translation()
    template = copy.deepcopy(tr.template)
    p = t.task_pod(
        tr.template,
        name="job",
        namespace="ns",
        index=2,
        owner=OWNER,
        req=req(cluster="arn:aws:ecs:us-east-1:1:cluster/prod", startedBy="ci/run-7"),
        family="batch",
        task_definition="batch:3",
    )
    assert tr.template == template, "input not mutated"
    md = p["metadata"]
    assert md["name"] == "job-2" and md["namespace"] == "ns" and md["ownerReferences"] == [OWNER]
    assert md["labels"]["ecs.seed.dev/task"] == "job" and md["labels"]["ecs.seed.dev/task-index"] == "2"
    assert md["labels"]["ecs.seed.dev/cluster"] == "prod" and md["labels"]["ecs.seed.dev/family"] == "batch"
    assert md["annotations"]["ecs.seed.dev/group"] == "family:batch"
    assert md["annotations"]["ecs.seed.dev/started-by"] == "ci/run-7"
    assert md["annotations"]["ecs.seed.dev/task-arn"] == t.task_arn("prod", "uid-1", 2)
    assert md["annotations"]["ecs.seed.dev/task-definition"] == "batch:3"
    assert p["spec"]["restartPolicy"] == "Never"
    assert t.pod_index(p) == 2
    assert (
        t.task_pod(
            tr.template,
            name="job",
            namespace="ns",
            index=0,
            owner=OWNER,
            req=req(group="g1"),
            family="batch",
            task_definition="batch:3",
        )["metadata"]["annotations"]["ecs.seed.dev/group"]
        == "g1"
    )


def test_names_are_deterministic_and_valid():
    assert t.task_arn(None, "u", 0) == t.task_arn("default", "u", 0) != t.task_arn(None, "u", 1)
    assert len(t.task_id("u", 0)) == 32
    long = "a" * 253
    assert len(t.pod_name(long, 9)) <= 253 and t.pod_name(long, 9).endswith("-9")
    assert t.pod_name(long, 1) != t.pod_name(long, 2)
    assert len(t.task_label("x" * 100)) <= 63


# -- StopTask --------------------------------------------------------------------------------------


def test_stop_request_from_annotations():
    assert t.stop_request(None) is None
    assert t.stop_request({"ecs.seed.dev/desired-status": "RUNNING"}) is None
    assert t.stop_request({"ecs.seed.dev/desired-status": "STOPPED"}) == "Task stopped by user"
    assert (
        t.stop_request({"ecs.seed.dev/desired-status": "stopped", "ecs.seed.dev/stop-reason": "nightly cancel"})
        == "nightly cancel"
    )


# -- lifecycle -------------------------------------------------------------------------------------


def test_not_created_yet_is_provisioning():
    v = view(None)
    assert (v.entry["lastStatus"], v.entry["desiredStatus"]) == ("PROVISIONING", "RUNNING") and not v.delete_pod


def test_unschedulable_stays_provisioning_with_an_ecs_failure():
    cond = {
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": "0/6 nodes are available: 6 Insufficient memory.",
    }
    v = view(pod(node=None, conditions=[cond]))
    assert v.entry["lastStatus"] == "PROVISIONING"
    assert v.failure == {
        "arn": t.task_arn(None, "uid-1", 0),
        "reason": "RESOURCE:MEMORY",
        "detail": "0/6 nodes are available: 6 Insufficient memory.",
    }
    assert "unable to place a task because no container instance met all of its requirements" in t.placement_message(
        "job", v.failure
    )


def test_scheduled_then_running():
    assert view(pod()).entry["lastStatus"] == "PENDING"
    v = view(pod(phase="Running", statuses=ALL_RUNNING))
    e = v.entry
    assert (e["lastStatus"], e["desiredStatus"]) == ("RUNNING", "RUNNING")
    assert e["startedAt"] == "2026-01-01T00:00:10Z" and e["createdAt"] == "2026-01-01T00:00:00Z"
    assert e["taskDefinitionArn"] == "batch:3" and e["group"] == "family:batch" and e["containerInstanceArn"]
    assert [(c["name"], c["lastStatus"], c["essential"]) for c in e["containers"]] == [
        ("app_main", "RUNNING", True),
        ("sidecar", "RUNNING", True),
        ("helper", "RUNNING", False),
    ]
    partly = view(pod(phase="Running", statuses=[running("app-main"), waiting("sidecar", "ContainerCreating")]))
    assert partly.entry["lastStatus"] == "PENDING"


def test_essential_exit_records_the_exit_code_then_stops_the_other_containers():
    p = pod(phase="Running", statuses=[exited("app-main", 3), running("sidecar"), running("helper")])
    v = view(p)
    e = v.entry
    assert v.delete_pod and v.stopped_now
    assert (e["lastStatus"], e["desiredStatus"]) == ("DEPROVISIONING", "STOPPED")
    assert (e["stopCode"], e["stoppedReason"]) == ("EssentialContainerExited", "Essential container in task exited")
    assert e["containers"][0] == {**e["containers"][0], "lastStatus": "STOPPED", "exitCode": 3}
    assert e["executionStoppedAt"] == "2026-01-01T00:00:50Z" and e["succeeded"] is False
    # the pod is gone: STOPPED, the recorded exit code kept, the others stopped
    gone = t.task_view(index=0, base={}, pod=None, previous=e, stop_reason=None, now="2026-01-01T00:02:00Z")
    g = gone.entry
    assert (g["lastStatus"], g["stopCode"], g["stoppedAt"]) == (
        "STOPPED",
        "EssentialContainerExited",
        "2026-01-01T00:02:00Z",
    )
    assert [(c["name"], c["lastStatus"], c.get("exitCode")) for c in g["containers"]] == [
        ("app_main", "STOPPED", 3),
        ("sidecar", "STOPPED", None),
        ("helper", "STOPPED", None),
    ]
    assert not gone.delete_pod and not gone.stopped_now
    # a late user stop does not rewrite why it stopped
    again = t.task_view(index=0, base={}, pod=None, previous=g, stop_reason="late", now=NOW).entry
    assert again["stopCode"] == "EssentialContainerExited" and again == {**g}


def test_a_non_essential_container_may_exit_without_stopping_the_task():
    v = view(pod(phase="Running", statuses=[running("app-main"), running("sidecar"), exited("helper", 1)]))
    assert (v.entry["lastStatus"], v.entry["desiredStatus"]) == ("RUNNING", "RUNNING") and not v.delete_pod
    helper = v.entry["containers"][2]
    assert (helper["lastStatus"], helper["exitCode"]) == ("STOPPED", 1)


def test_a_finished_batch_task_is_stopped_without_deleting_its_pod():
    statuses = [exited("app-main", 0), exited("sidecar", 0), exited("helper", 0)]
    v = view(pod(phase="Succeeded", statuses=statuses))
    e = v.entry
    assert not v.delete_pod
    assert (e["lastStatus"], e["desiredStatus"], e["stopCode"], e["stoppedReason"]) == (
        "STOPPED",
        "STOPPED",
        "EssentialContainerExited",
        "Essential container in task exited",
    )
    assert e["stoppedAt"] == "2026-01-01T00:00:50Z" and e["succeeded"] is True
    failed = view(pod(phase="Failed", statuses=[exited("app-main", 2), exited("sidecar", 0), exited("helper", 0)]))
    assert failed.entry["succeeded"] is False and failed.entry["stopCode"] == "EssentialContainerExited"
    # a non-essential failure does not fail the batch job
    ok = view(pod(phase="Failed", statuses=[exited("app-main", 0), exited("sidecar", 0), exited("helper", 9)]))
    assert ok.entry["succeeded"] is True


def test_all_main_containers_done_waits_for_the_kubelet_instead_of_deleting():
    v = view(pod(phase="Running", statuses=[exited("app-main", 0), exited("sidecar", 0), exited("helper", 0)]))
    assert v.entry["lastStatus"] == "DEPROVISIONING" and not v.delete_pod


@pytest.mark.parametrize(
    "reason,message,expected",
    [
        (
            "ErrImagePull",
            'failed to pull and unpack image "busybox:nope": not found',
            'CannotPullContainerError: failed to pull and unpack image "busybox:nope": not found',
        ),
        (
            "ImagePullBackOff",
            'Back-off pulling image "busybox:nope"',
            'CannotPullContainerError: Back-off pulling image "busybox:nope"',
        ),
        (
            "CreateContainerConfigError",
            'secret "db" not found',
            'ResourceInitializationError: unable to pull secrets or registry auth: secret "db" not found',
        ),
        (
            "CreateContainerConfigError",
            'configmap "app-env" not found',
            'ResourceInitializationError: unable to pull secrets or registry auth: configmap "app-env" not found',
        ),
        ("CreateContainerConfigError", "", "ResourceInitializationError: CreateContainerConfigError"),
    ],
)
def test_a_task_that_cannot_start_is_stopped_with_ecs_wording(reason, message, expected):
    v = view(pod(phase="Pending", statuses=[waiting("app-main", reason, message), running("sidecar")]))
    e = v.entry
    assert v.delete_pod
    assert (e["stopCode"], e["stoppedReason"], e["desiredStatus"]) == ("TaskFailedToStart", expected, "STOPPED")
    assert e["containers"][0]["reason"] == expected


def test_oom_killed_container_reason():
    v = view(
        pod(phase="Running", statuses=[exited("app-main", 137, "OOMKilled"), running("sidecar"), running("helper")])
    )
    assert v.entry["containers"][0]["reason"] == "OutOfMemoryError: Container killed due to memory usage"


def test_user_stop_records_then_deletes():
    v = view(pod(phase="Running", statuses=ALL_RUNNING), stop="nightly cancel")
    e = v.entry
    assert v.delete_pod and (e["stopCode"], e["stoppedReason"], e["lastStatus"]) == (
        "UserInitiated",
        "nightly cancel",
        "DEPROVISIONING",
    )
    # nothing to delete once the pod terminates
    later = view(pod(phase="Running", statuses=ALL_RUNNING, deleting=True), previous=e, stop="nightly cancel")
    assert not later.delete_pod and later.entry["lastStatus"] == "DEPROVISIONING"


def test_a_stop_before_the_task_was_created_means_it_never_starts():
    v = view(None, stop="Task stopped by user")
    assert (v.entry["lastStatus"], v.entry["stopCode"]) == ("STOPPED", "UserInitiated")
    assert t.launched(v.entry)


def test_a_pod_deleted_by_someone_else_stops_the_task():
    e = view(pod(phase="Running", statuses=ALL_RUNNING)).entry
    assert t.launched(e)
    gone = t.task_view(index=0, base={}, pod=None, previous=e, stop_reason=None, now=NOW)
    assert (gone.entry["lastStatus"], gone.entry["stopCode"]) == ("STOPPED", "UserInitiated") and gone.stopped_now
    evicted = view(
        pod(
            phase="Running",
            statuses=ALL_RUNNING,
            deleting=True,
            conditions=[
                {
                    "type": "DisruptionTarget",
                    "status": "True",
                    "reason": "EvictionByEvictionAPI",
                    "message": "Eviction API: evicting",
                }
            ],
        )
    )
    assert evicted.entry["stopCode"] == "TerminationNotice" and not evicted.delete_pod


def test_last_status_never_goes_back():
    e = view(pod(phase="Running", statuses=ALL_RUNNING)).entry
    again = view(pod(phase="Pending"), previous=e)
    assert again.entry["lastStatus"] == "RUNNING"


# -- the ECSTask ----------------------------------------------------------------------------------


def test_ecs_status_summarises_the_tasks():
    pods = {
        0: pod(0, phase="Succeeded", statuses=[exited("app-main", 0), exited("sidecar", 0), exited("helper", 0)]),
        1: pod(1, phase="Running", statuses=ALL_RUNNING),
    }
    bases = [{}, {}, {"taskArn": t.task_arn(None, "uid-1", 2), "podName": "job-2"}]
    r = t.ecs_status(bases=bases, pods=pods, previous={}, stop_reason=None, now=NOW, task_definition="batch:3")
    st = r.status
    assert [x["lastStatus"] for x in st["tasks"]] == ["STOPPED", "RUNNING", "PROVISIONING"]
    assert (st["lastStatus"], st["desiredStatus"], st["taskArn"]) == (
        "PROVISIONING",
        "RUNNING",
        st["tasks"][0]["taskArn"],
    )
    assert st["stopCode"] is None and st["stoppedAt"] is None and st["taskDefinitionArn"] == "batch:3"
    assert len(r.stopped) == 1 and r.delete_pods == []
    conds = t.conditions(st, name="job", generation=1, now=NOW)
    assert [(c["type"], c["status"], c["reason"]) for c in conds] == [("Ready", "False", "Provisioning")]


def test_count_1_reports_the_task_and_ready_follows_running():
    r = t.ecs_status(
        bases=[{}],
        pods={0: pod(phase="Running", statuses=ALL_RUNNING)},
        previous={},
        stop_reason=None,
        now=NOW,
        task_definition="batch:3",
    )
    st = r.status
    assert (st["lastStatus"], st["desiredStatus"], st["startedAt"]) == ("RUNNING", "RUNNING", "2026-01-01T00:00:10Z")
    conds = t.conditions(st, name="job", generation=4, now=NOW)
    assert [(c["type"], c["status"], c["reason"], c["observedGeneration"]) for c in conds] == [
        ("Ready", "True", "Running", 4)
    ]


def test_stopped_tasks_are_complete_or_failed_like_jobs():
    ok = t.ecs_status(
        bases=[{}],
        pods={0: pod(phase="Succeeded", statuses=[exited("app-main", 0), exited("sidecar", 0), exited("helper", 0)])},
        previous={},
        stop_reason=None,
        now=NOW,
        task_definition="batch:3",
    ).status
    assert (ok["lastStatus"], ok["stopCode"], ok["stoppedReason"]) == (
        "STOPPED",
        "EssentialContainerExited",
        "Essential container in task exited",
    )
    conds = {c["type"]: c for c in t.conditions(ok, name="job", generation=1, now=NOW)}
    assert conds["Ready"]["status"] == "False" and conds["Ready"]["reason"] == "EssentialContainerExited"
    assert conds["Complete"]["status"] == "True" and "Failed" not in conds

    bad = t.ecs_status(
        bases=[{}],
        pods={0: pod(phase="Failed", statuses=[exited("app-main", 3), exited("sidecar", 0), exited("helper", 0)])},
        previous={},
        stop_reason=None,
        now=NOW,
        task_definition="batch:3",
    ).status
    conds = {c["type"]: c for c in t.conditions(bad, name="job", generation=1, now=NOW)}
    assert conds["Failed"]["status"] == "True" and conds["Failed"]["reason"] == "EssentialContainerExited"
    assert "app_main=3" in conds["Failed"]["message"] and "Complete" not in conds


def test_count_1_shows_the_stop_code_while_deprovisioning():
    st = t.ecs_status(
        bases=[{}],
        pods={0: pod(phase="Running", statuses=ALL_RUNNING)},
        previous={},
        stop_reason="cancel",
        now=NOW,
        task_definition="batch:3",
    ).status
    assert (st["lastStatus"], st["desiredStatus"], st["stopCode"], st["stoppedReason"]) == (
        "DEPROVISIONING",
        "STOPPED",
        "UserInitiated",
        "cancel",
    )


def test_placement_failures_are_reported_once():
    cond = {
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": "0/6 nodes: Insufficient cpu",
    }
    r = t.ecs_status(
        bases=[{}],
        pods={0: pod(node=None, conditions=[cond])},
        previous={},
        stop_reason=None,
        now=NOW,
        task_definition="batch:3",
    )
    assert r.status["failures"][0]["reason"] == "RESOURCE:CPU" and len(r.new_failures) == 1
    assert t.conditions(r.status, name="job", generation=1, now=NOW)[0]["reason"] == "Unschedulable"
    again = t.ecs_status(
        bases=[{}],
        pods={0: pod(node=None, conditions=[cond])},
        previous=r.status,
        stop_reason=None,
        now=NOW,
        task_definition="batch:3",
    )
    assert again.new_failures == [] and again.status == r.status


def test_recomputing_from_the_same_pods_is_stable():
    pods = {0: pod(phase="Running", statuses=[exited("app-main", 1), running("sidecar"), running("helper")])}
    first = t.ecs_status(bases=[{}], pods=pods, previous={}, stop_reason=None, now=NOW, task_definition="batch:3")
    second = t.ecs_status(
        bases=[{}],
        pods=pods,
        previous=first.status,
        stop_reason=None,
        now="2026-01-01T00:09:00Z",
        task_definition="batch:3",
    )
    assert second.status == first.status and second.stopped == []
    assert second.delete_pods == ["job-0"], "still to delete until the pod is terminating"


def test_expiry_of_stopped_tasks():
    now = datetime(2026, 1, 1, 1, 0, 0, tzinfo=UTC)
    st = {"lastStatus": "STOPPED", "stoppedAt": "2026-01-01T00:00:00Z"}
    assert t.expired(st, now, 3600) and not t.expired(st, now, 3601)
    assert not t.expired({**st, "lastStatus": "RUNNING"}, now, 0)
    assert not t.expired({"lastStatus": "STOPPED"}, now, 0)
    assert not t.expired(st, now, -1), "a negative TTL keeps stopped tasks"


@pytest.mark.parametrize(
    "container, probes",
    [
        # a health check reports health (readiness) but never stops a standalone task (no liveness)
        ({"healthCheck": {"command": ["CMD-SHELL", "exit 1"]}}, {"readinessProbe"}),
        ({"healthCheck": {"command": ["CMD-SHELL", "true"], "startPeriod": 10}}, {"readinessProbe", "startupProbe"}),
        ({}, set()),
    ],
)
def test_task_pods_report_health_but_are_never_killed_for_it(container, probes):
    tr = translation(
        {"family": "batch", "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 64, **container}]}
    )
    assert ("livenessProbe" in tr.template["spec"]["containers"][0]) == bool(container), "services keep liveness"
    p = t.task_pod(
        tr.template,
        name="job",
        namespace="ns",
        index=0,
        owner=OWNER,
        req=req(),
        family="batch",
        task_definition="batch:3",
    )
    (c,) = p["spec"]["containers"]
    assert {k for k in c if k.endswith("Probe")} == probes


@pytest.mark.parametrize(
    "probe, ready, health",
    [
        ("readinessProbe", True, "HEALTHY"),
        ("readinessProbe", False, "UNHEALTHY"),
        ("startupProbe", True, "HEALTHY"),  # a HEALTHY dependency target (native sidecar)
        ("startupProbe", False, "UNHEALTHY"),
        (None, True, None),  # no health check: no healthStatus
    ],
)
def test_container_health_status_comes_from_its_probes(probe, ready, health):
    p = pod(phase="Running", statuses=ALL_RUNNING)
    (helper,) = [c for c in p["spec"]["containers"] if c["name"] == "helper"]
    if probe:
        helper[probe] = {"exec": {"command": ["true"]}}
    p["status"]["containerStatuses"] = [running("app-main"), running("sidecar"), {**running("helper"), "ready": ready}]
    c = {c["name"]: c for c in view(p).entry["containers"]}
    assert c["helper"].get("healthStatus") == health


def test_a_lost_container_instance_stops_the_task_with_ecs_own_words():
    lost = view(
        pod(
            phase="Running",
            statuses=ALL_RUNNING,
            deleting=True,
            conditions=[
                {
                    "type": "DisruptionTarget",
                    "status": "True",
                    "reason": "ContainerInstanceLost",
                    "message": "Host EC2 (instance i-0abc) stopped/terminated",
                }
            ],
        )
    )
    assert (lost.entry["stopCode"], lost.entry["stoppedReason"]) == (
        "TerminationNotice",
        "Host EC2 (instance i-0abc) stopped/terminated",
    )


def _restarted(name: str, code: int) -> dict:
    """A container restarted in place after exiting with ``code``: running again, its exit in lastState."""
    return {
        **running(name),
        "restartCount": 1,
        "lastState": exited(name, code)["state"],
    }


@pytest.mark.parametrize(
    ("own_policy", "status", "stops"),
    [
        # an ECS restartPolicy on the essential container: the kubelet restarts it, the task runs on
        (True, _restarted("app-main", 3), False),
        # left stopped (an ignored exit code): the essential container has exited, the task stops
        (True, exited("app-main", 0), True),
        # without a restart policy of its own, an earlier exit of a restarted container counts
        (False, _restarted("app-main", 3), True),
    ],
)
def test_an_essential_container_restarted_in_place_keeps_the_task_running(own_policy, status, stops):
    p = pod(phase="Running", statuses=[status, running("sidecar"), running("helper")])
    if own_policy:
        main = next(c for c in p["spec"]["containers"] if c["name"] == "app-main")
        main["restartPolicy"] = "Always"
    v = view(p)
    assert (v.entry.get("stopCode") == "EssentialContainerExited") is stops
    assert v.delete_pod is stops
