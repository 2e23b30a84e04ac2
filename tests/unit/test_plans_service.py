"""The ECSService plan (pure): status, circuit breaker and rollback, stale workloads, drain marks,
events and follow-ups, decided from snapshots built here (no cluster)."""

import pytest
from ecs_operator.models.generated import CapacityProviderStrategyItem, CreateServiceRequest
from ecs_operator.plans import service as p
from ecs_operator.state.services import ServiceSnapshot
from ecs_operator.translate.service_drain import DELETION_COST

UID = "svc-uid"
REV = "deployment.kubernetes.io/revision"
TD = "ecs.seed.dev/task-definition"
CB = {"deploymentCircuitBreaker": {"enable": True, "rollback": True}}
CB_NO_ROLLBACK = {"deploymentCircuitBreaker": {"enable": True, "rollback": False}}


def service(desired=2, **extra):
    return CreateServiceRequest.model_validate({"taskDefinition": "web", "desiredCount": desired, **extra})


def deployment(name="web", replicas=2, ready=None, revision="2", uid=None, owner=UID):
    ready = replicas if ready is None else ready
    return {
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "uid": uid or f"d-{name}",
            "generation": 1,
            "annotations": {REV: revision},
            "ownerReferences": [{"uid": owner}],
        },
        "spec": {"replicas": replicas},
        "status": {
            "observedGeneration": 1,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "availableReplicas": ready,
        },
    }


def replicaset(uid, owner, replicas, td, revision):
    return {
        "metadata": {
            "uid": uid,
            "ownerReferences": [{"uid": owner}],
            "labels": {"pod-template-hash": uid},
            "annotations": {REV: revision},
        },
        "spec": {"replicas": replicas, "template": {"metadata": {"annotations": {TD: td}}}},
    }


def pod(name, rs, phase="Running", restarts=0, node="n1", marked=False):
    annotations = {DELETION_COST: p.DRAINING_COST} if marked else {}
    return {
        "metadata": {
            "name": name,
            "ownerReferences": [{"uid": rs}],
            "labels": {"pod-template-hash": rs},
            "annotations": annotations,
        },
        "spec": {"nodeName": node},
        "status": {"phase": phase, "containerStatuses": [{"name": "web", "restartCount": restarts}]},
    }


def snapshot(status=None, workloads=(), replicasets=(), pods=(), services=(), budgets=(), draining=(), generation=2):
    body = {
        "apiVersion": "ecs.seed.dev/v1alpha1",
        "kind": "ECSService",
        "metadata": {"name": "web", "namespace": "ns", "uid": UID, "generation": generation},
        "spec": {},
        "status": status or {},
    }
    return ServiceSnapshot(
        body=body,
        workloads=list(workloads),
        replicasets=list(replicasets),
        pods=list(pods),
        services=list(services),
        budgets=list(budgets),
        draining=frozenset(draining),
    )


def ready(status):
    return next(c for c in status["conditions"] if c["type"] == "Ready")


STEADY = {
    "workloads": [deployment()],
    "replicasets": [replicaset("r2", "d-web", 2, "web:2", "2")],
    "pods": [pod("a", "r2"), pod("b", "r2")],
}
ROLLING = {
    "workloads": [deployment(ready=1)],
    "replicasets": [replicaset("r1", "d-web", 1, "web:1", "1"), replicaset("r2", "d-web", 2, "web:2", "2")],
    "pods": [pod("a", "r1"), pod("b", "r2"), pod("c", "r2", phase="Pending")],
}
CRASHING = {
    "workloads": [deployment(ready=0)],
    "replicasets": [replicaset("r2", "d-web", 2, "web:2", "2")],
    "pods": [pod("a", "r2", restarts=2), pod("b", "r2", restarts=1)],
}
LAST_GOOD = {"lastCompletedTaskDefinition": "web:1", "rolloutState": "COMPLETED"}


@pytest.mark.parametrize(
    "case, svc, snap, expect",
    [
        (
            "steady state",
            service(),
            snapshot(**STEADY),
            {
                "rollout": "COMPLETED",
                "ready": ("True", "SteadyState"),
                "follow_up": False,
                "last_completed": "web:2",
                "events": ["(service web) has reached a steady state."],
            },
        ),
        (
            "rollout in progress",
            service(),
            snapshot(**ROLLING),
            {
                "rollout": "IN_PROGRESS",
                "ready": ("False", "NotSteady"),
                "follow_up": False,
                "last_completed": None,
                "events": [],
            },
        ),
        (
            "circuit breaker trips and rolls back",
            service(deploymentConfiguration=CB),
            snapshot(status=LAST_GOOD, **CRASHING),
            {
                "rollout": "FAILED",
                "ready": ("False", "RolledBack"),
                "follow_up": True,
                "last_completed": "web:1",
                "rolled_back": ("web:2", 2),
                "warning": "(service web) rolling back to deployment of web:1: deployment circuit breaker tripped.",
            },
        ),
        (
            "circuit breaker trips without rollback",
            service(deploymentConfiguration=CB_NO_ROLLBACK),
            snapshot(status=LAST_GOOD, **CRASHING),
            {
                "rollout": "FAILED",
                "ready": ("False", "DeploymentFailed"),
                "follow_up": False,
                "last_completed": "web:1",
            },
        ),
        (
            "no rollback to the task definition that failed",
            service(deploymentConfiguration=CB),
            snapshot(status={"lastCompletedTaskDefinition": "web:2"}, **CRASHING),
            {
                "rollout": "FAILED",
                "ready": ("False", "DeploymentFailed"),
                "follow_up": False,
                "last_completed": "web:2",
            },
        ),
        (
            "generation rolled back already",
            service(deploymentConfiguration=CB),
            snapshot(
                status={
                    **LAST_GOOD,
                    "rolloutState": "FAILED",
                    "rolledBackTaskDefinition": "web:2",
                    "rolledBackGeneration": 2,
                },
                **CRASHING,
            ),
            {
                "rollout": "FAILED",
                "ready": ("False", "RolledBack"),
                "follow_up": False,
                "last_completed": "web:1",
                "rolled_back": ("web:2", 2),
            },
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_status_rollout_and_circuit_breaker(case, svc, snap, expect):
    plan = p.plan_status(snap, svc, p.Desired(task_definition="web:2"), started=[], stopped=[], now="T")
    st = plan.status
    assert st["rolloutState"] == expect["rollout"]
    assert (ready(st)["status"], ready(st)["reason"]) == expect["ready"]
    assert plan.follow_up == expect["follow_up"]
    assert st.get("lastCompletedTaskDefinition") == expect["last_completed"]
    assert plan.write
    if "rolled_back" in expect:
        assert (st["rolledBackTaskDefinition"], st["rolledBackGeneration"]) == expect["rolled_back"]
    else:
        assert "rolledBackGeneration" not in st
    warnings = [e.message for e in plan.events if e.warning]
    assert warnings == ([expect["warning"]] if "warning" in expect else [])
    if "warning" in expect:
        assert st["events"][0] == {"id": "rollback-2", "createdAt": "T", "message": expect["warning"]}
    if "events" in expect:
        assert [e.message for e in plan.events if not e.warning if "steady" in e.message] == expect["events"]
    assert all(e.reason == "ServiceEvent" for e in plan.events)


def test_nothing_new_is_no_write_and_no_event():
    svc = service()
    first = p.plan_status(snapshot(**STEADY), svc, p.Desired(task_definition="web:2"), started=[], stopped=[], now="T1")
    assert first.write and first.events
    again = p.plan_status(snapshot(status=first.status, **STEADY), svc, p.Desired(), started=[], stopped=[], now="T2")
    assert not again.write
    assert again.events == ()
    assert again.status == first.status


@pytest.mark.parametrize(
    "started, stopped, previous_events, expect",
    [
        (["t1", "t2"], [], [], ["(service web) has started 2 tasks: (task t1) (task t2)."]),
        ([], ["t3"], [], ["(service web) has stopped 1 running tasks: (task t3)."]),
        ([], [], [], []),
    ],
)
def test_events_only_when_new(started, stopped, previous_events, expect):
    steady_before = {
        "rolloutState": "COMPLETED",
        "conditions": [{"type": "Ready", "status": "True"}],
        "events": previous_events,
    }
    snap = snapshot(status=steady_before, **STEADY)
    first = p.plan_status(
        snap, service(), p.Desired(task_definition="web:2"), started=started, stopped=stopped, now="T"
    )
    posted = [e.message for e in first.events if "deployment completed" not in e.message]
    assert posted == expect
    # The same events in the previous status are not posted again.
    again = p.plan_status(
        snapshot(status=first.status, **STEADY), service(), p.Desired(), started=[], stopped=[], now="T"
    )
    assert again.events == ()


@pytest.mark.parametrize(
    "new_ready, delete",
    [
        (2, (("Deployment", "web"),)),  # the new Deployments run every task: the former one stops
        (1, ()),  # not yet: it keeps running
    ],
)
def test_stale_workloads_are_deleted_only_when_the_new_ones_are_complete(new_ready, delete):
    svc = service(
        capacityProviderStrategy=[
            {"capacityProvider": "a", "base": 1, "weight": 1},
            {"capacityProvider": "b", "weight": 1},
        ]
    )
    new = [deployment("web-a", 1, uid="da"), deployment("web-b", 1, ready=new_ready - 1, uid="db")]
    old = deployment("web", 2, uid="dold")
    snap = snapshot(
        workloads=[old, *new],
        replicasets=[replicaset("ra", "da", 1, "web:2", "2"), replicaset("rb", "db", 1, "web:2", "2")],
        pods=[pod("a", "ra"), pod("b", "rb")],
    )
    desired = p.Desired(
        task_definition="web:2",
        workloads=["Deployment/web-a", "Deployment/web-b"],
        strategy=[CapacityProviderStrategyItem.model_validate(i) for i in [{"capacityProvider": "a"}]],
    )
    plan = p.plan_status(snap, svc, desired, started=[], stopped=[], now="T")
    assert plan.delete == delete
    assert plan.status["workloads"] == ["Deployment/web-a", "Deployment/web-b"]


@pytest.mark.parametrize(
    "pods, draining, desired, unmark, follow_up",
    [
        ([pod("a", "r2", node="n1", marked=True), pod("b", "r2")], (), p.Desired(), ("a",), False),
        ([pod("a", "r2", node="n1", marked=True), pod("b", "r2")], ("n1",), p.Desired(), (), True),
        (
            [pod("a", "r2", node="n1", marked=True), pod("b", "r2")],
            ("n1",),
            p.Desired(task_definition="web:2", workloads=["Deployment/web"]),
            (),
            False,  # a reconcile's own status write does not reconcile again
        ),
        ([pod("a", "r2", node="n1", marked=True, phase="Succeeded")], (), p.Desired(), (), False),
        ([pod("a", "r2", node="n2"), pod("b", "r2")], ("n9",), p.Desired(), (), False),
    ],
)
def test_drained_pods_are_unmarked_and_the_drain_moves_on(pods, draining, desired, unmark, follow_up):
    snap = snapshot(workloads=STEADY["workloads"], replicasets=STEADY["replicasets"], pods=pods, draining=draining)
    plan = p.plan_status(snap, service(), desired, started=[], stopped=[], now="T")
    assert plan.unmark == unmark
    assert plan.follow_up == follow_up


@pytest.mark.parametrize(
    "status, generation, expect",
    [
        ({}, 3, None),
        ({"rolledBackGeneration": 3, "lastCompletedTaskDefinition": "web:1"}, 3, "web:1"),
        ({"rolledBackGeneration": 2, "lastCompletedTaskDefinition": "web:1"}, 3, None),  # the spec changed since
        ({"rolledBackGeneration": 3}, 3, None),
    ],
)
def test_pinned_task_definition(status, generation, expect):
    assert p.pinned_task_definition(status, generation) == expect


def _owned(kind, name, owner=UID):
    return {"kind": kind, "metadata": {"name": name, "ownerReferences": [{"uid": owner}]}}


def _manifest(name="web", replicas=2):
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"ecs.seed.dev/service": "web"}}},
    }


def _task(name, node, marked=False):
    t = pod(name, "r2", node=node, marked=marked)
    t["metadata"]["labels"]["ecs.seed.dev/service"] = "web"
    t["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    return t


@pytest.mark.parametrize(
    "svc, snap, expect",
    [
        (
            service(),
            snapshot(workloads=[_owned("DaemonSet", "web"), _owned("Deployment", "web")]),
            {"delete_workloads": (("DaemonSet", "web"),)},
        ),
        (
            service(None, schedulingStrategy="DAEMON"),
            snapshot(workloads=[_owned("DaemonSet", "web"), _owned("Deployment", "web")]),
            {"delete_workloads": (("Deployment", "web"),), "manifests_replicas": [2]},
        ),
        (
            service(),
            snapshot(
                services=[_owned("Service", "web"), _owned("Service", "old"), _owned("Service", "theirs", "other")],
                budgets=[_owned("PodDisruptionBudget", "web"), _owned("PodDisruptionBudget", "gone")],
            ),
            {"delete_services": ("old",), "delete_budgets": ("gone",)},
        ),
        (
            service(),
            snapshot(pods=[_task("a", "n1"), _task("b", "n1", marked=True), _task("c", "n2")], draining=("n1",)),
            {"mark": ("a",), "manifests_replicas": [4]},  # b is marked already; both surge (maximumPercent 200)
        ),
        (
            service(),
            snapshot(pods=[_task("a", "n1"), _task("b", "n2")]),
            {"mark": (), "stop": (), "manifests_replicas": [2]},  # no node drains: nothing to read or move
        ),
    ],
)
def test_plan_apply(svc, snap, expect):
    network = [_owned("Service", "web")]
    budgets = [_owned("PodDisruptionBudget", "web")]
    plan = p.plan_apply(snap, svc, manifests=(_manifest(),), network=network, budgets=budgets)
    assert plan.delete_workloads == expect.get("delete_workloads", ())
    assert plan.delete_services == expect.get("delete_services", ())
    assert plan.delete_budgets == expect.get("delete_budgets", ())
    assert plan.mark == expect.get("mark", ())
    assert plan.stop == expect.get("stop", ())
    assert [m["spec"]["replicas"] for m in plan.manifests] == expect.get("manifests_replicas", [2])
    assert plan.network == tuple(network) and plan.budgets == tuple(budgets)


@pytest.mark.parametrize(
    "reason, message",
    [("ClusterNotFoundException", "cluster: Cluster not found"), ("InvalidParameterException", "desiredCount: x")],
)
def test_failure_status(reason, message):
    previous = {"conditions": [{"type": "Ready", "status": "False", "reason": reason, "lastTransitionTime": "T0"}]}
    st = p.failure_status(previous, 4, reason, message, "T1")
    assert st["observedGeneration"] == 4
    assert [(c["type"], c["status"], c["reason"], c["message"]) for c in st["conditions"]] == [
        ("Ready", "False", reason, message),
        ("Progressing", "False", reason, message),
    ]
    assert st["conditions"][0]["lastTransitionTime"] == "T0"  # unchanged status keeps its transition time


def _with_template(workload, td):
    workload["spec"]["template"] = {"metadata": {"annotations": {TD: td}}}
    return workload


@pytest.mark.parametrize(
    ("template_td", "primary", "active"),
    [
        ("web:3", ("web:3", 0, 2), [("web:2", 2, 2)]),  # applied, the new ReplicaSet not made yet
        ("web:2", ("web:2", 2, 2), []),  # the ReplicaSet of the template's revision exists
    ],
    ids=["new-replicaset-pending", "settled"],
)
def test_primary_deployment_and_task_definition_agree(template_td, primary, active):
    """status.taskDefinition is the PRIMARY deployment's, and the PRIMARY deployment is the
    revision the workload's template names even before its ReplicaSet exists."""
    snap = snapshot(
        workloads=[_with_template(deployment(), template_td)],
        replicasets=[replicaset("r2", "d-web", 2, "web:2", "2")],
        pods=[pod("a", "r2"), pod("b", "r2")],
    )
    out = p.plan_status(snap, service(), p.Desired(task_definition=template_td), started=[], stopped=[], now="t")
    deployments = out.status["deployments"]
    first = deployments[0]
    assert (first["status"], first["taskDefinition"], first["runningCount"], first["desiredCount"]) == (
        "PRIMARY",
        *primary,
    )
    assert [(d["taskDefinition"], d["runningCount"], d["desiredCount"]) for d in deployments[1:]] == active
    assert out.status["taskDefinition"] == first["taskDefinition"]


def test_status_task_definition_follows_the_primary_while_the_index_lags():
    """A refresh that still sees the former template: both say the former revision."""
    snap = snapshot(
        status={"taskDefinition": "web:3"},
        workloads=[_with_template(deployment(), "web:2")],
        replicasets=[replicaset("r2", "d-web", 2, "web:2", "2")],
        pods=[pod("a", "r2"), pod("b", "r2")],
    )
    out = p.plan_status(snap, service(), p.Desired(), started=[], stopped=[], now="t")
    assert out.status["taskDefinition"] == out.status["deployments"][0]["taskDefinition"] == "web:2"


@pytest.mark.parametrize(
    ("replicas", "listed", "kind", "drifted"),
    [
        ([2], ["Deployment/web"], "REPLICA", False),
        ([7], ["Deployment/web"], "REPLICA", True),  # another writer resized it
        ([7], [], "REPLICA", False),  # no status yet: the reconcile is coming anyway
        ([7], ["Deployment/other"], "REPLICA", False),  # a Deployment the service no longer wants
        ([7], ["Deployment/web"], "DAEMON", False),
    ],
    ids=["same", "resized", "no-status", "stale", "daemon"],
)
def test_replicas_drifted(replicas, listed, kind, drifted):
    snap = snapshot(status={"workloads": listed}, workloads=[deployment(replicas=r) for r in replicas])
    svc_ = (
        service()
        if kind == "REPLICA"
        else CreateServiceRequest.model_validate({"taskDefinition": "web", "schedulingStrategy": "DAEMON"})
    )
    assert p.replicas_drifted(snap, svc_) is drifted


@pytest.mark.parametrize(
    ("metadata", "status", "behind"),
    [
        pytest.param({"generation": 3}, {"observedGeneration": 1}, True, id="changed-back-while-retrying"),
        pytest.param({"generation": 3}, {"observedGeneration": 3}, False, id="up-to-date"),
        pytest.param({"generation": 1}, {}, False, id="never-reconciled-yet"),
        pytest.param({"generation": 1}, None, False, id="no-status"),
        pytest.param({"generation": 3, "deletionTimestamp": "t"}, {"observedGeneration": 1}, False, id="deleting"),
    ],
)
def test_status_behind_spec(metadata, status, behind):
    body = {"metadata": metadata} | ({"status": status} if status is not None else {})
    assert p.behind_spec(body) is behind
