"""The capacity provider operations on an in-memory Kubernetes: ECS's behaviours, table-driven;
every answer fits the operation's output shape."""

from __future__ import annotations

import pytest
from ecs_operator import API_VERSION
from ecs_operator.api import names

from .api_calls import call, fails
from .api_fakes import FakeKube, context

ARN = "arn:aws:ecs:eu-west-1:123456789012:capacity-provider/"
ASG = {"autoScalingGroupArn": "arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:x:autoScalingGroupName/pool"}


@pytest.fixture
def kube():
    return FakeKube()


@pytest.fixture
def ctx(kube):
    return context(kube)


def create(ctx, name: str, **extra) -> dict:
    return call(ctx, "CreateCapacityProvider", name=name, autoScalingGroupProvider=ASG, **extra)["capacityProvider"]


def test_fargate_providers_exist_built_in(ctx):
    out = call(ctx, "DescribeCapacityProviders")
    assert [(p["name"], p["capacityProviderArn"], p["status"]) for p in out["capacityProviders"]] == [
        ("FARGATE", ARN + "FARGATE", "ACTIVE"),
        ("FARGATE_SPOT", ARN + "FARGATE_SPOT", "ACTIVE"),
    ]
    assert out["failures"] == [] and "nextToken" not in out
    got = call(ctx, "DescribeCapacityProviders", capacityProviders=[ARN + "FARGATE_SPOT"], include=["TAGS"])
    assert got["capacityProviders"][0]["tags"] == [] and got["capacityProviders"][0]["type"] == "FARGATE_SPOT"


def test_create_keeps_the_ecs_name_and_describes_it(ctx, kube):
    made = create(ctx, "Pool_A", tags=[{"key": "team", "value": "a"}])
    assert made["capacityProviderArn"] == ARN + "Pool_A" and made["name"] == "Pool_A"
    assert (made["status"], made["updateStatus"], made["type"]) == ("ACTIVE", "CREATE_IN_PROGRESS", "EC2_AUTOSCALING")
    assert "tags" not in made
    obj = kube.get(API_VERSION, "CapacityProvider", "team-a", names.object_name("Pool_A"))
    assert obj["spec"] == {"name": "Pool_A", "autoScalingGroupProvider": ASG, "tags": [{"key": "team", "value": "a"}]}
    obj["status"] = {"observedGeneration": 1, "status": "ACTIVE", "conditions": [{"type": "Ready", "status": "True"}]}
    kube.objects[(API_VERSION, "CapacityProvider", "team-a", obj["metadata"]["name"])] = obj
    got = call(ctx, "DescribeCapacityProviders", capacityProviders=["Pool_A"], include=["TAGS"])["capacityProviders"]
    assert got[0]["updateStatus"] == "CREATE_COMPLETE" and got[0]["tags"] == [{"key": "team", "value": "a"}]
    # the cluster operations see it
    cluster = call(ctx, "CreateCluster", clusterName="c", capacityProviders=["Pool_A"])["cluster"]
    assert cluster["capacityProviders"] == ["Pool_A"]


@pytest.mark.parametrize(
    "name,params,code",
    [
        ("FARGATE", {}, "InvalidParameterException"),
        ("FARGATE_SPOT", {}, "InvalidParameterException"),
        ("fargate-pool", {}, "InvalidParameterException"),
        ("ECS_pool", {}, "InvalidParameterException"),
        ("aws1", {}, "InvalidParameterException"),
        ("bad name", {}, "InvalidParameterException"),
        ("pool", {"autoScalingGroupProvider": None}, "InvalidParameterException"),
        ("pool", {"cluster": "nope"}, "ClusterNotFoundException"),
        ("pool", {"tags": [{"key": "aws:owner", "value": "x"}]}, "InvalidParameterException"),
        (
            "pool",
            {"autoScalingGroupProvider": {**ASG, "managedScaling": {"targetCapacity": 0}}},
            "InvalidParameterException",
        ),
    ],
)
def test_create_refuses_what_ecs_refuses(ctx, kube, name, params, code):
    params = {"autoScalingGroupProvider": ASG, **params}
    fails(ctx, "CreateCapacityProvider", code, name=name, **{k: v for k, v in params.items() if v is not None})
    assert kube.objects == {}


def test_create_twice_is_a_client_error(ctx):
    create(ctx, "pool")
    fails(ctx, "CreateCapacityProvider", "ClientException", name="pool", autoScalingGroupProvider=ASG)


def test_describe_names_arns_and_missing(ctx):
    create(ctx, "pool")
    out = call(
        ctx, "DescribeCapacityProviders", capacityProviders=["FARGATE", ARN + "pool", "missing", "pool", "bad name"]
    )
    assert [p["name"] for p in out["capacityProviders"]] == ["FARGATE", "pool"]
    assert out["failures"] == [
        {"arn": ARN + "missing", "reason": "MISSING"},
        {"arn": ARN + "bad name", "reason": "MISSING"},
    ]


@pytest.mark.parametrize("count,max_results,pages", [(0, None, [2]), (12, None, [10, 4]), (3, 2, [2, 2, 1])])
def test_describe_pages(ctx, count, max_results, pages):
    for i in range(count):
        create(ctx, f"pool{i:02d}")
    params: dict = {"maxResults": max_results} if max_results else {}
    sizes, seen = [], []
    while True:
        out = call(ctx, "DescribeCapacityProviders", **params)
        sizes.append(len(out["capacityProviders"]))
        seen += [p["name"] for p in out["capacityProviders"]]
        if not out.get("nextToken"):
            break
        params["nextToken"] = out["nextToken"]
    assert sizes == pages
    assert seen == ["FARGATE", "FARGATE_SPOT"] + [f"pool{i:02d}" for i in range(count)]


@pytest.mark.parametrize("max_results", [0, 11])
def test_describe_page_size_is_one_to_ten(ctx, max_results):
    fails(ctx, "DescribeCapacityProviders", "InvalidParameterException", maxResults=max_results)


def test_describe_by_cluster(ctx):
    create(ctx, "used")
    create(ctx, "unused")
    call(ctx, "CreateCluster", clusterName="c", capacityProviders=["used", "FARGATE"])
    out = call(ctx, "DescribeCapacityProviders", cluster="c")
    assert [p["name"] for p in out["capacityProviders"]] == ["FARGATE", "used"]
    fails(ctx, "DescribeCapacityProviders", "ClusterNotFoundException", cluster="other")


def test_operator_status_shows(ctx, kube):
    create(ctx, "pool")
    key = (API_VERSION, "CapacityProvider", "team-a", "pool")
    kube.objects[key]["status"] = {
        "observedGeneration": 1,
        "status": "INACTIVE",
        "conditions": [{"type": "Ready", "status": "False", "message": "bad pool"}],
    }
    got = call(ctx, "DescribeCapacityProviders", capacityProviders=["pool"])["capacityProviders"][0]
    assert (got["status"], got["updateStatus"], got["updateStatusReason"]) == ("INACTIVE", "CREATE_FAILED", "bad pool")


def test_update_merges_the_auto_scaling_settings(ctx, kube):
    create(ctx, "pool")
    out = call(
        ctx,
        "UpdateCapacityProvider",
        name=ARN + "pool",
        autoScalingGroupProvider={"managedScaling": {"status": "ENABLED", "targetCapacity": 80}},
    )["capacityProvider"]
    assert out["updateStatus"] == "UPDATE_IN_PROGRESS"
    spec = kube.get(API_VERSION, "CapacityProvider", "team-a", "pool")["spec"]
    assert spec["autoScalingGroupProvider"] == {**ASG, "managedScaling": {"status": "ENABLED", "targetCapacity": 80}}


@pytest.mark.parametrize(
    "name,params,code",
    [
        ("FARGATE", {"autoScalingGroupProvider": {"managedDraining": "ENABLED"}}, "InvalidParameterException"),
        ("missing", {"autoScalingGroupProvider": {"managedDraining": "ENABLED"}}, "ClientException"),
        (
            "pool",
            {"autoScalingGroupProvider": {"managedScaling": {"maximumScalingStepSize": 0}}},
            "InvalidParameterException",
        ),
    ],
)
def test_update_refusals(ctx, name, params, code):
    create(ctx, "pool")
    fails(ctx, "UpdateCapacityProvider", code, name=name, **params)


def test_delete_refuses_a_provider_in_use_then_deletes(ctx, kube):
    create(ctx, "pool")
    call(ctx, "CreateCluster", clusterName="c", capacityProviders=["pool"])
    assert "cluster c" in fails(ctx, "DeleteCapacityProvider", "ClientException", capacityProvider="pool").message
    call(ctx, "PutClusterCapacityProviders", cluster="c", capacityProviders=[], defaultCapacityProviderStrategy=[])
    kube.create(
        {
            "apiVersion": API_VERSION,
            "kind": "ECSService",
            "metadata": {"name": "web", "namespace": "team-a"},
            "spec": {"capacityProviderStrategy": [{"capacityProvider": "pool", "weight": 1}]},
        }
    )
    fails(ctx, "DeleteCapacityProvider", "ClientException", capacityProvider=ARN + "pool")
    kube.delete(API_VERSION, "ECSService", "team-a", "web")
    out = call(ctx, "DeleteCapacityProvider", capacityProvider=ARN + "pool")["capacityProvider"]
    assert (out["name"], out["updateStatus"]) == ("pool", "DELETE_IN_PROGRESS")
    got = call(ctx, "DescribeCapacityProviders", capacityProviders=["pool"])
    assert got["capacityProviders"] == [] and got["failures"][0]["reason"] == "MISSING"


@pytest.mark.parametrize("ref,code", [("FARGATE", "InvalidParameterException"), ("nope", "ClientException")])
def test_delete_refusals(ctx, ref, code):
    fails(ctx, "DeleteCapacityProvider", code, capacityProvider=ref)


def test_objects_made_with_kubectl_are_found_by_their_spec_name(ctx, kube):
    kube.create(
        {
            "apiVersion": API_VERSION,
            "kind": "CapacityProvider",
            "metadata": {"name": "gpu-nodes", "namespace": "team-a"},
            "spec": {"name": "GPU_Nodes", "kubernetes": {"nodeSelector": {"gpu": "true"}}},
        }
    )
    got = call(ctx, "DescribeCapacityProviders", capacityProviders=["GPU_Nodes"])["capacityProviders"]
    assert got[0]["capacityProviderArn"] == ARN + "GPU_Nodes" and "autoScalingGroupProvider" not in got[0]


def test_pages_keep_the_built_in_providers_first(ctx):
    for name in ["Zed", "A_pool", "EC2pool"]:
        create(ctx, name)
    params: dict = {"maxResults": 1}
    seen = []
    while True:
        out = call(ctx, "DescribeCapacityProviders", **params)
        seen += [p["name"] for p in out["capacityProviders"]]
        if "nextToken" not in out:
            break
        params["nextToken"] = out["nextToken"]
    assert seen == ["FARGATE", "FARGATE_SPOT", "A_pool", "EC2pool", "Zed"]
