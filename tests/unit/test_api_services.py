"""The service operations on an in-memory Kubernetes: ECS's behaviours (names per cluster, a
PRIMARY deployment at once, DRAINING then INACTIVE after DeleteService, forceNewDeployment), the
waiters' acceptors evaluated on the answers, every answer checked against its output shape."""

from __future__ import annotations

from datetime import timedelta

import jmespath
import pytest
from botocore.loaders import Loader
from ecs_operator import API_VERSION
from ecs_operator.api import model, names
from ecs_operator.api.errors import EcsApiError
from ecs_operator.api.operations import OPERATIONS, load, services

from .api_fakes import assert_output_conforms, context, kube_with_operator

load()
NS = "team-a"
ARN = "arn:aws:ecs:eu-west-1:123456789012"
WAITERS = Loader().load_service_model("ecs", "waiters-2")["waiters"]


def op(name, ctx, **params):
    """Call an operation and check its answer against the output shape (as the server sends it)."""
    operation = model.operation(name)
    model.validate_input(operation, params)
    out = OPERATIONS[name](ctx, params)
    shaped = model.serialize_output(operation, out)
    assert_output_conforms(name, shaped)
    return shaped


def waiter(name, answer):
    """The state botocore's waiter ``name`` reaches on ``answer`` (None: it keeps waiting)."""
    for acceptor in WAITERS[name]["acceptors"]:
        got = jmespath.search(acceptor["argument"], answer)
        matcher, expected = acceptor["matcher"], acceptor["expected"]
        if (
            (matcher == "path" and got == expected)
            or (matcher == "pathAny" and isinstance(got, list) and expected in got)
            or (matcher == "pathAll" and isinstance(got, list) and got and all(g == expected for g in got))
        ):
            return acceptor["state"]
    return None


def err(name, ctx, **params):
    with pytest.raises(EcsApiError) as e:
        OPERATIONS[name](ctx, params)
    return e.value


@pytest.fixture
def kube():
    return kube_with_operator()


@pytest.fixture
def ctx(kube):
    c = context(kube)
    OPERATIONS["RegisterTaskDefinition"](
        c, {"family": "web", "containerDefinitions": [{"name": "web", "image": "nginx:1", "memory": 128}]}
    )
    OPERATIONS["CreateCluster"](c, {})
    return c


def svc_obj(kube, cluster, name):
    return kube.get(API_VERSION, "ECSService", NS, services.object_name(cluster, name))


def report(kube, cluster, name, *, running, td="web:1", generation=None, extra=None, updated="2025-03-01T12:00:05Z"):
    """What the operator writes once the service's tasks run."""
    key = (API_VERSION, "ECSService", NS, services.object_name(cluster, name))
    obj = kube.objects[key]
    desired = obj["spec"].get("desiredCount", 0)
    primary = {
        "id": "ecs-svc/1",
        "status": "PRIMARY",
        "taskDefinition": td,
        "desiredCount": desired,
        "runningCount": running,
        "pendingCount": 0,
        "failedTasks": 0,
        "createdAt": "2025-03-01T12:00:00Z",
        "updatedAt": updated,
        "rolloutState": "COMPLETED" if running == desired else "IN_PROGRESS",
    }
    obj["status"] = {
        "observedGeneration": generation or obj["metadata"]["generation"],
        "desiredCount": desired,
        "runningCount": running,
        "pendingCount": 0,
        "taskDefinition": td,
        "deployments": [primary, *(extra or [])],
        "workloads": ["Deployment/" + obj["metadata"]["name"]],
        "events": [{"id": "e1", "createdAt": "2025-03-01T12:00:05Z", "message": "(service web) steady"}],
    }


# --- CreateService ------------------------------------------------------------------------------


def test_create_needs_the_cluster_and_shows_a_primary_deployment_at_once(kube):
    c = context(kube)
    OPERATIONS["RegisterTaskDefinition"](c, {"family": "web", "containerDefinitions": [{"name": "w", "image": "x"}]})
    assert err("CreateService", c, serviceName="web", taskDefinition="web", desiredCount=1).code == (
        "ClusterNotFoundException"
    )
    OPERATIONS["CreateCluster"](c, {})
    s = op("CreateService", c, serviceName="web", taskDefinition="web", desiredCount=2)["service"]
    assert s["serviceArn"] == f"{ARN}:service/default/web" and s["clusterArn"] == f"{ARN}:cluster/default"
    assert (s["status"], s["desiredCount"], s["runningCount"], s["launchType"]) == ("ACTIVE", 2, 0, "EC2")
    assert s["taskDefinition"] == f"{ARN}:task-definition/web:1"
    (d,) = s["deployments"]
    assert (d["status"], d["rolloutState"], d["taskDefinition"]) == ("PRIMARY", "IN_PROGRESS", s["taskDefinition"])
    assert s["currentServiceDeployment"].startswith(f"{ARN}:service-deployment/default/web/")
    obj = kube.get(API_VERSION, "ECSService", NS, "web")
    assert obj["spec"] == {"cluster": "default", "serviceName": "web", "taskDefinition": "web:1", "desiredCount": 2}
    assert waiter("ServicesStable", {"services": [s]}) is None


def test_names_are_per_cluster_kept_exactly_and_collision_free(ctx, kube):
    op("CreateCluster", ctx, clusterName="Prod_1")
    a = op("CreateService", ctx, serviceName="Web_App", taskDefinition="web", desiredCount=1)["service"]
    b = op("CreateService", ctx, cluster="Prod_1", serviceName="Web_App", taskDefinition="web:1", desiredCount=1)
    assert a["serviceArn"] == f"{ARN}:service/default/Web_App"
    assert b["service"]["serviceArn"] == f"{ARN}:service/Prod_1/Web_App"
    objects = [o["metadata"]["name"] for o in kube.list_(API_VERSION, "ECSService", NS)]
    assert len(set(objects)) == 2 and all(n == n.lower() and len(n) <= 63 for n in objects)
    assert services.object_name("default", "web") == "web"
    assert services.object_name("prod", "web") != services.object_name("default", "prod-web")
    got = op("DescribeServices", ctx, cluster=f"{ARN}:cluster/Prod_1", services=[b["service"]["serviceArn"]])
    assert [s["serviceName"] for s in got["services"]] == ["Web_App"] and got["failures"] == []


@pytest.mark.parametrize(
    "params,code,message",
    [
        ({"serviceName": "bad name", "desiredCount": 1}, "InvalidParameterException", "Service name"),
        ({"taskDefinition": "nope", "desiredCount": 1}, "InvalidParameterException", "TaskDefinition not found."),
        ({"taskDefinition": "web:7", "desiredCount": 1}, "InvalidParameterException", "TaskDefinition not found."),
        ({"schedulingStrategy": "DAEMON", "desiredCount": 1}, "InvalidParameterException", "desiredCount"),
        ({}, "InvalidParameterException", "desiredCount is required"),
        (
            {"desiredCount": 1, "launchType": "EC2", "capacityProviderStrategy": [{"capacityProvider": "FARGATE"}]},
            "InvalidParameterException",
            "launchType",
        ),
        ({"cluster": "nope", "desiredCount": 1}, "ClusterNotFoundException", "Cluster not found."),
    ],
)
def test_create_refuses_what_ecs_refuses(ctx, kube, params, code, message):
    e = err("CreateService", ctx, **{"serviceName": "web", "taskDefinition": "web", **params})
    assert e.code == code and message in e.message
    assert kube.list_(API_VERSION, "ECSService", NS) == []


def test_create_twice_is_not_idempotent_and_a_draining_one_cannot_restart(ctx, kube):
    op("CreateService", ctx, serviceName="web", taskDefinition="web", desiredCount=1)
    assert (
        "not idempotent" in err("CreateService", ctx, serviceName="web", taskDefinition="web", desiredCount=1).message
    )
    kube.objects[(API_VERSION, "ECSService", NS, "web")]["metadata"]["deletionTimestamp"] = "2025-03-01T12:00:00Z"
    assert "Draining" in err("CreateService", ctx, serviceName="web", taskDefinition="web", desiredCount=1).message


# --- DescribeServices / ListServices ------------------------------------------------------------


def test_describe_reads_the_operators_status_and_the_stable_waiter_agrees(ctx, kube):
    op("CreateService", ctx, serviceName="web", taskDefinition="web", desiredCount=2, tags=[{"key": "k", "value": "v"}])
    report(kube, "default", "web", running=1)
    out = op("DescribeServices", ctx, services=["web", "gone"], include=["TAGS"])
    (s,) = out["services"]
    assert (s["runningCount"], s["desiredCount"], s["tags"]) == (1, 2, [{"key": "k", "value": "v"}])
    assert out["failures"] == [{"arn": f"{ARN}:service/default/gone", "reason": "MISSING"}]
    assert waiter("ServicesStable", out) == "failure"  # MISSING fails the waiter, as on AWS
    assert waiter("ServicesStable", op("DescribeServices", ctx, services=["web"])) is None
    report(kube, "default", "web", running=2)
    s = op("DescribeServices", ctx, services=["web"])
    assert waiter("ServicesStable", s) == "success"
    assert s["services"][0]["events"][0]["message"] == "(service web) steady"
    assert isinstance(s["services"][0]["createdAt"], float)
    assert "tags" not in s["services"][0]


def test_list_services_filters_and_pages(ctx, kube):
    for n in ["c", "a", "b"]:
        op("CreateService", ctx, serviceName=n, taskDefinition="web", desiredCount=1)
    op("CreateService", ctx, serviceName="f", taskDefinition="web", desiredCount=1, launchType="FARGATE")
    op("CreateService", ctx, serviceName="d", taskDefinition="web", schedulingStrategy="DAEMON")
    first = op("ListServices", ctx, maxResults=2)
    rest = op("ListServices", ctx, maxResults=2, nextToken=first["nextToken"])
    last = op("ListServices", ctx, maxResults=2, nextToken=rest["nextToken"])
    assert [a.rsplit("/", 1)[1] for a in first["serviceArns"] + rest["serviceArns"] + last["serviceArns"]] == [
        "a",
        "b",
        "c",
        "d",
        "f",
    ]
    assert "nextToken" not in last

    def names_(**f):
        return [a.rsplit("/", 1)[1] for a in op("ListServices", ctx, **f)["serviceArns"]]

    assert names_(launchType="FARGATE") == ["f"]
    assert names_(schedulingStrategy="DAEMON") == ["d"]
    assert names_(launchType="EC2", schedulingStrategy="REPLICA") == ["a", "b", "c"]
    assert err("ListServices", ctx, cluster="nope").code == "ClusterNotFoundException"


# --- UpdateService ------------------------------------------------------------------------------


def test_update_to_a_new_revision_shows_the_new_primary_until_the_operator_reports(ctx, kube):
    op("CreateService", ctx, serviceName="web", taskDefinition="web", desiredCount=2)
    report(kube, "default", "web", running=2)
    OPERATIONS["RegisterTaskDefinition"](
        ctx, {"family": "web", "containerDefinitions": [{"name": "web", "image": "nginx:2", "memory": 128}]}
    )
    s = op("UpdateService", ctx, service="web", taskDefinition="web:2")["service"]
    assert [(d["status"], d["taskDefinition"].rsplit("/", 1)[1]) for d in s["deployments"]] == [
        ("PRIMARY", "web:2"),
        ("ACTIVE", "web:1"),
    ]
    assert s["taskDefinition"] == f"{ARN}:task-definition/web:2"
    assert waiter("ServicesStable", op("DescribeServices", ctx, services=["web"])) is None
    report(kube, "default", "web", running=2, td="web:2")
    assert waiter("ServicesStable", op("DescribeServices", ctx, services=["web"])) == "success"


def test_update_writes_the_spec_as_ecs_allows(ctx, kube):
    op("CreateService", ctx, serviceName="web", taskDefinition="web", desiredCount=2, launchType="EC2")
    op(
        "UpdateService",
        ctx,
        service=f"{ARN}:service/default/web",
        desiredCount=5,
        deploymentConfiguration={"maximumPercent": 150, "minimumHealthyPercent": 50},
        capacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}],
    )
    spec = svc_obj(kube, "default", "web")["spec"]
    assert spec["desiredCount"] == 5 and "launchType" not in spec
    assert spec["capacityProviderStrategy"] == [{"capacityProvider": "FARGATE", "weight": 1}]
    assert spec["deploymentConfiguration"] == {"maximumPercent": 150, "minimumHealthyPercent": 50}


@pytest.mark.parametrize(
    "params,code",
    [
        ({"service": "nope"}, "ServiceNotFoundException"),
        ({"service": "web", "cluster": "nope"}, "ClusterNotFoundException"),
        ({"service": "web", "taskDefinition": "nope"}, "InvalidParameterException"),
        (
            {"service": "web", "deploymentConfiguration": {"maximumPercent": 50, "minimumHealthyPercent": 100}},
            "InvalidParameterException",
        ),
    ],
)
def test_update_refusals(ctx, params, code):
    op("CreateService", ctx, serviceName="web", taskDefinition="web", desiredCount=1)
    assert err("UpdateService", ctx, **params).code == code


def test_force_new_deployment_restarts_the_workloads_and_shows_a_new_primary(ctx, kube):
    op("CreateService", ctx, serviceName="web", taskDefinition="web", desiredCount=2)
    report(kube, "default", "web", running=2)
    kube.create(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": NS},
            "spec": {"template": {"metadata": {"labels": {"a": "b"}}}},
        }
    )
    ctx.now += timedelta(minutes=1)
    s = op("UpdateService", ctx, service="web", forceNewDeployment=True)["service"]
    dep = kube.get("apps/v1", "Deployment", NS, "web")
    assert dep["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] == (
        "2025-03-01T12:01:00Z"
    )
    assert [d["status"] for d in s["deployments"]] == ["PRIMARY", "ACTIVE"]
    assert waiter("ServicesStable", {"services": [s]}) is None
    report(kube, "default", "web", running=2, updated="2025-03-01T12:01:30Z")  # the operator caught up
    assert waiter("ServicesStable", op("DescribeServices", ctx, services=["web"])) == "success"


# --- DeleteService ------------------------------------------------------------------------------


def test_delete_drains_then_the_service_is_inactive_for_a_while(ctx, kube):
    op("CreateService", ctx, serviceName="web", taskDefinition="web", desiredCount=2)
    e = err("DeleteService", ctx, service="web")
    assert (e.code, e.message) == (
        "InvalidParameterException",
        "The service cannot be stopped while it is scaled above 0.",
    )
    gone = op("DeleteService", ctx, service="web", force=True)["service"]
    assert (gone["status"], gone["desiredCount"]) == ("DRAINING", 0)
    assert svc_obj(kube, "default", "web") is None
    out = op("DescribeServices", ctx, services=["web"])
    (s,) = out["services"]
    assert (s["status"], s["serviceArn"], s["taskDefinition"]) == (
        "INACTIVE",
        f"{ARN}:service/default/web",
        f"{ARN}:task-definition/web:1",
    )
    assert waiter("ServicesInactive", out) == "success" and waiter("ServicesStable", out) == "failure"
    assert op("ListServices", ctx)["serviceArns"] == []
    assert err("DeleteService", ctx, service="web").code == "ServiceNotActiveException"
    assert err("UpdateService", ctx, service="web", desiredCount=1).code == "ServiceNotActiveException"
    # a new service of the same name is a new ACTIVE service
    op("CreateService", ctx, serviceName="web", taskDefinition="web", desiredCount=0)
    assert op("DescribeServices", ctx, services=["web"])["services"][0]["status"] == "ACTIVE"
    op("DeleteService", ctx, service="web")  # scaled to 0: no force needed
    # the tombstone expires
    ctx.now += services.INACTIVE_TTL + timedelta(seconds=1)
    assert op("DescribeServices", ctx, services=["web"])["failures"][0]["reason"] == "MISSING"
    assert err("DeleteService", ctx, service="web").code == "ServiceNotFoundException"
    # nothing blocks the cluster's deletion
    assert op("DeleteCluster", ctx, cluster="default")["cluster"]["status"] == "INACTIVE"


def test_a_draining_service_is_described_as_draining(ctx, kube):
    op("CreateService", ctx, serviceName="web", taskDefinition="web", desiredCount=1)
    kube.objects[(API_VERSION, "ECSService", NS, "web")]["metadata"]["deletionTimestamp"] = "2025-03-01T12:00:00Z"
    out = op("DescribeServices", ctx, services=["web"])
    assert out["services"][0]["status"] == "DRAINING" and waiter("ServicesInactive", out) is None
    assert op("DeleteService", ctx, service="web")["service"]["status"] == "DRAINING"
    assert op("ListServices", ctx)["serviceArns"] == []


def test_tombstones_are_kept_per_service_and_expired_ones_pruned(ctx, kube):
    for n in ("a", "b"):
        op("CreateService", ctx, serviceName=n, taskDefinition="web", desiredCount=0)
        op("DeleteService", ctx, service=n)
        ctx.now += services.INACTIVE_TTL / 2 + timedelta(seconds=1)
    annotations = kube.get(API_VERSION, "ECSCluster", NS, "default")["metadata"]["annotations"]
    assert len([k for k in annotations if k.startswith(services.TOMBSTONE)]) == 2
    op("CreateService", ctx, serviceName="c", taskDefinition="web", desiredCount=0)
    op("DeleteService", ctx, service="c")  # a's tombstone has expired: pruned
    annotations = kube.get(API_VERSION, "ECSCluster", NS, "default")["metadata"]["annotations"]
    assert len([k for k in annotations if k.startswith(services.TOMBSTONE)]) == 2
    statuses = op("DescribeServices", ctx, services=["a", "b", "c"])
    assert [s["serviceName"] for s in statuses["services"]] == ["b", "c"]


def test_a_service_made_with_kubectl_is_described(ctx, kube):
    kube.create(
        {
            "apiVersion": API_VERSION,
            "kind": "ECSService",
            "metadata": {"name": "legacy", "namespace": NS},
            "spec": {"taskDefinition": "web", "desiredCount": 1},
        }
    )
    s = op("DescribeServices", ctx, services=["legacy"])["services"][0]
    assert (s["serviceName"], s["clusterArn"]) == ("legacy", f"{ARN}:cluster/default")
    assert op("ListServices", ctx)["serviceArns"] == [f"{ARN}:service/default/legacy"]
    assert names.object_name("legacy") == "legacy"


# --- deployments and revisions ------------------------------------------------------------------


def test_service_deployments_and_revisions(ctx, kube):
    op("CreateService", ctx, serviceName="web", taskDefinition="web", desiredCount=2)
    old = {
        "id": "ecs-svc/9",
        "status": "ACTIVE",
        "taskDefinition": "web:1",
        "desiredCount": 0,
        "runningCount": 1,
        "pendingCount": 0,
        "createdAt": "2025-03-01T11:00:00Z",
        "updatedAt": "2025-03-01T12:00:00Z",
        "rolloutState": "COMPLETED",
    }
    report(kube, "default", "web", running=1, extra=[old])
    listed = op("ListServiceDeployments", ctx, service="web")["serviceDeployments"]
    assert [(b["status"], b["serviceDeploymentArn"].rsplit("/", 1)[1]) for b in listed] == [
        ("IN_PROGRESS", "1"),
        ("SUCCESSFUL", "9"),
    ]
    assert op("ListServiceDeployments", ctx, service="web", status=["SUCCESSFUL"])["serviceDeployments"] == [listed[1]]
    assert op("ListServiceDeployments", ctx, service="web", createdAt={"after": 1740830000})["serviceDeployments"] == [
        listed[0]
    ]
    missing = f"{ARN}:service-deployment/default/web/77"
    out = op("DescribeServiceDeployments", ctx, serviceDeploymentArns=[listed[0]["serviceDeploymentArn"], missing])
    (d,) = out["serviceDeployments"]
    assert out["failures"] == [{"arn": missing, "reason": "MISSING"}]
    assert d["targetServiceRevision"]["requestedTaskCount"] == 2 and d["targetServiceRevision"]["runningTaskCount"] == 1
    assert [r["arn"].rsplit("/", 1)[1] for r in d["sourceServiceRevisions"]] == ["9"]
    assert d["deploymentCircuitBreaker"]["status"] == "DISABLED"
    revs = op("DescribeServiceRevisions", ctx, serviceRevisionArns=[d["targetServiceRevision"]["arn"], "bad"])
    (r,) = revs["serviceRevisions"]
    assert r["containerImages"] == [{"containerName": "web", "image": "nginx:1"}]
    assert r["taskDefinition"] == f"{ARN}:task-definition/web:1" and r["launchType"] == "EC2"
    assert revs["failures"] == [{"arn": "bad", "reason": "MISSING"}]
    assert err("ListServiceDeployments", ctx, service="nope").code == "ServiceNotFoundException"


# --- DescribeServices' Kubernetes reads -----------------------------------------------------------


class Counting:
    """The KubeAccess of ``kube``, counting the requests by verb."""

    def __init__(self, kube):
        self.kube, self.calls = kube, []

    def __getattr__(self, verb):
        def call(*args, **kwargs):
            self.calls.append(verb)
            return getattr(self.kube, verb)(*args, **kwargs)

        return call


@pytest.mark.parametrize("count", [1, 10])
def test_describe_services_reads_the_same_few_objects_for_one_service_or_ten(ctx, kube, count):
    """The cluster, one LIST of the services, one LIST of their families' revisions (two
    families here), whatever the number of services; a deleted one from the cluster's tombstone
    and a missing one cost nothing more."""
    OPERATIONS["RegisterTaskDefinition"](ctx, {"family": "api", "containerDefinitions": [{"name": "a", "image": "x"}]})
    names_ = [f"svc-{i}" for i in range(count)]
    for i, name in enumerate(names_):
        op("CreateService", ctx, serviceName=name, taskDefinition="web" if i % 2 else "api", desiredCount=1)
    op("CreateService", ctx, serviceName="gone", taskDefinition="web", desiredCount=0)
    op("DeleteService", ctx, service="gone")
    counting = Counting(kube)
    c = context(counting)
    out = op("DescribeServices", c, services=[*names_, "gone", "missing"])
    assert [s["serviceName"] for s in out["services"]] == [*names_, "gone"]
    assert [s["status"] for s in out["services"]] == ["ACTIVE"] * count + ["INACTIVE"]
    assert [f["arn"].rsplit("/", 1)[1] for f in out["failures"]] == ["missing"]
    tds = {s["serviceName"]: s["taskDefinition"].rsplit("/", 1)[1] for s in out["services"][:count]}
    assert tds == {n: ("web:1" if i % 2 else "api:1") for i, n in enumerate(names_)}
    assert sorted(counting.calls) == ["get", "list_", "list_"]


def test_availability_zone_rebalancing_shows_createservices_default(ctx):
    assert op("CreateService", ctx, serviceName="web", taskDefinition="web", desiredCount=1)["service"][
        "availabilityZoneRebalancing"
    ] == ("ENABLED")
    made = op(
        "CreateService",
        ctx,
        serviceName="api",
        taskDefinition="web",
        desiredCount=1,
        availabilityZoneRebalancing="DISABLED",
    )
    assert made["service"]["availabilityZoneRebalancing"] == "DISABLED"
    got = op("DescribeServices", ctx, services=["web", "api"])["services"]
    assert [s["availabilityZoneRebalancing"] for s in got] == ["ENABLED", "DISABLED"]


def test_service_deployments_come_from_the_operator_records_where_there_are_some(ctx, kube):
    """A ServiceDeployment record (what the operator keeps of a deployment) gives the state, the
    lifecycle stage, hooks, rollback and traffic weights; a deployment only its record remembers
    is listed and described too."""
    op("CreateService", ctx, serviceName="web", taskDefinition="web", desiredCount=2)
    report(kube, "default", "web", running=2)
    obj_name = services.object_name("default", "web")

    def record(number, **status):
        kube.create(
            {
                "apiVersion": API_VERSION,
                "kind": "ServiceDeployment",
                "metadata": {
                    "name": f"{obj_name}-{number}",
                    "namespace": NS,
                    "labels": {"ecs.seed.dev/service": obj_name, "ecs.seed.dev/service-revision": number},
                },
                "spec": {"service": obj_name},
                "status": {"id": f"ecs-svc/{number}", **status},
            }
        )

    record(
        "1",
        status="IN_PROGRESS",
        lifecycleStage="POST_SCALE_UP",
        createdAt="2025-03-01T12:00:00Z",
        lifecycleHookDetails=[{"hookId": "post-scale-up-0", "targetType": "PAUSE", "status": "AWAITING_ACTION"}],
        targetServiceRevision={"arn": "ecs-svc/1", "requestedTaskCount": 2, "requestedProductionTrafficWeight": 0.0},
        sourceServiceRevisions=[
            {"arn": "ecs-svc/5", "requestedTaskCount": 2, "requestedProductionTrafficWeight": 100.0}
        ],
    )
    record(
        "5",
        status="ROLLBACK_SUCCESSFUL",
        statusReason="rolled back",
        lifecycleStage="CLEAN_UP",
        createdAt="2025-02-01T12:00:00Z",
        rollback={"reason": "rolled back", "startedAt": "2025-02-01T12:10:00Z"},
        sourceServiceRevisions=[{"arn": "ecs-svc/4"}],
    )
    listed = op("ListServiceDeployments", ctx, service="web")["serviceDeployments"]
    assert [(b["serviceDeploymentArn"].rsplit("/", 1)[1], b["status"]) for b in listed] == [
        ("1", "IN_PROGRESS"),
        ("5", "ROLLBACK_SUCCESSFUL"),
    ]
    out = op("DescribeServiceDeployments", ctx, serviceDeploymentArns=[b["serviceDeploymentArn"] for b in listed])
    current, old = out["serviceDeployments"]
    assert current["lifecycleStage"] == "POST_SCALE_UP"
    assert current["lifecycleHookDetails"][0]["status"] == "AWAITING_ACTION"
    assert current["targetServiceRevision"]["arn"].endswith(":service-revision/default/web/1")
    assert [r["requestedProductionTrafficWeight"] for r in current["sourceServiceRevisions"]] == [100.0]
    assert (old["status"], old["lifecycleStage"], old["statusReason"]) == (
        "ROLLBACK_SUCCESSFUL",
        "CLEAN_UP",
        "rolled back",
    )
    assert old["rollback"]["serviceRevisionArn"].endswith(":service-revision/default/web/4")
    assert out["failures"] == []


def test_a_service_revision_shows_the_digests_its_record_holds(ctx, kube):
    op("CreateService", ctx, serviceName="web", taskDefinition="web", desiredCount=1)
    report(kube, "default", "web", running=1)
    obj_name = services.object_name("default", "web")
    pinned = [{"containerName": "web", "image": "nginx:1", "imageDigest": "sha256:" + "a" * 64}]
    kube.create(
        {
            "apiVersion": API_VERSION,
            "kind": "ServiceRevision",
            "metadata": {"name": f"{obj_name}-1", "namespace": NS},
            "spec": {"service": obj_name, "containerImages": pinned},
        }
    )
    (d,) = op("ListServiceDeployments", ctx, service="web")["serviceDeployments"]
    arn = d["targetServiceRevisionArn"]
    (r,) = op("DescribeServiceRevisions", ctx, serviceRevisionArns=[arn])["serviceRevisions"]
    assert r["containerImages"] == pinned
