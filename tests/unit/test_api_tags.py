"""TagResource, UntagResource and ListTagsForResource on an in-memory Kubernetes for every
taggable kind: where the tags are kept, that tagging changes nothing else (no new generation of
a service, no new task definition revision), ECS's limits and errors; every answer fits its
output shape."""

from __future__ import annotations

import json

import pytest
from ecs_operator import API_VERSION
from ecs_operator.api import tagging
from ecs_operator.translate.task import task_id

from .api_calls import call, fails
from .api_fakes import context, kube_with_operator

P = "arn:aws:ecs:eu-west-1:123456789012:"
ASG = {"autoScalingGroupArn": "asg"}
TEAM = [{"key": "team", "value": "a"}]


@pytest.fixture
def kube():
    return kube_with_operator()


@pytest.fixture
def ctx(kube):
    return context(kube)


def _object(kube, kind: str, name: str, spec: dict, status: dict | None = None) -> dict:
    obj = {"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": name, "namespace": "team-a"}, "spec": spec}
    if status:
        obj["status"] = status
    return kube.create(obj)


def make_cluster(ctx, kube) -> tuple[str, tuple]:
    call(ctx, "CreateCluster", clusterName="prod", tags=TEAM)
    return P + "cluster/prod", (API_VERSION, "ECSCluster", "team-a", "prod")


def make_provider(ctx, kube) -> tuple[str, tuple]:
    call(ctx, "CreateCapacityProvider", name="pool", autoScalingGroupProvider=ASG, tags=TEAM)
    return P + "capacity-provider/pool", (API_VERSION, "CapacityProvider", "team-a", "pool")


def make_service(ctx, kube) -> tuple[str, tuple]:
    call(ctx, "CreateCluster", clusterName="prod")
    _object(kube, "ECSService", "prod.web", {"cluster": "prod", "serviceName": "web", "tags": TEAM})
    return P + "service/prod/web", (API_VERSION, "ECSService", "team-a", "prod.web")


def make_task(ctx, kube) -> tuple[str, tuple]:
    call(ctx, "CreateCluster", clusterName="prod")
    obj = _object(kube, "ECSTask", "job", {"cluster": "prod", "count": 2, "tags": TEAM})
    return P + f"task/prod/{task_id(obj['metadata']['uid'], 1)}", (API_VERSION, "ECSTask", "team-a", "job")


def make_task_definition(ctx, kube) -> tuple[str, tuple]:
    td = {"family": "web", "containerDefinitions": [{"name": "c", "image": "nginx", "memory": 128}], "tags": TEAM}
    arn = call(ctx, "RegisterTaskDefinition", **td)["taskDefinition"]["taskDefinitionArn"]
    name = kube.list_("apps/v1", "ControllerRevision", "team-a")[0]["metadata"]["name"]
    return arn, ("apps/v1", "ControllerRevision", "team-a", name)


def stored(kube, key: tuple, arn: str) -> list:
    """The tags as the object keeps them (see ecs_operator.api.tagging)."""
    obj = kube.objects[key]
    if key[1] in ("ECSCluster", "CapacityProvider"):
        assert tagging.ANNOTATION not in (obj["metadata"].get("annotations") or {})
        return obj["spec"]["tags"]
    annotation = tagging.task_annotation(arn.rsplit("/", 1)[1]) if key[1] == "ECSTask" else tagging.ANNOTATION
    return json.loads(obj["metadata"]["annotations"][annotation])


@pytest.mark.parametrize(
    "make", [make_cluster, make_provider, make_service, make_task, make_task_definition], ids=lambda f: f.__name__
)
def test_tag_untag_list_round_trip(ctx, kube, make):
    arn, key = make(ctx, kube)
    generation = kube.objects[key]["metadata"]["generation"]
    assert call(ctx, "ListTagsForResource", resourceArn=arn)["tags"] == TEAM
    assert (
        call(ctx, "TagResource", resourceArn=arn, tags=[{"key": "env", "value": "prod"}, {"key": "team", "value": "b"}])
        == {}
    )
    want = [{"key": "team", "value": "b"}, {"key": "env", "value": "prod"}]
    assert call(ctx, "ListTagsForResource", resourceArn=arn)["tags"] == want
    assert stored(kube, key, arn) == want
    assert call(ctx, "UntagResource", resourceArn=arn, tagKeys=["team", "not-there"]) == {}
    assert call(ctx, "ListTagsForResource", resourceArn=arn)["tags"] == [{"key": "env", "value": "prod"}]
    if key[1] not in ("ECSCluster", "CapacityProvider"):
        # kept beside the spec: no new generation of a service or task, no new revision
        assert kube.objects[key]["metadata"]["generation"] == generation
    assert len(kube.list_("apps/v1", "ControllerRevision", "team-a")) == (key[1] == "ControllerRevision")


def test_a_task_s_tags_are_its_own(ctx, kube):
    arn, _ = make_task(ctx, kube)
    sibling = arn[: arn.rindex("/") + 1] + task_id(
        kube.objects[(API_VERSION, "ECSTask", "team-a", "job")]["metadata"]["uid"], 0
    )
    call(ctx, "TagResource", resourceArn=arn, tags=[{"key": "only", "value": "one"}])
    assert call(ctx, "ListTagsForResource", resourceArn=sibling)["tags"] == TEAM


def test_tags_of_a_described_cluster_follow(ctx, kube):
    arn, _ = make_cluster(ctx, kube)
    call(ctx, "TagResource", resourceArn=arn, tags=[{"key": "env", "value": "x"}])
    got = call(ctx, "DescribeClusters", clusters=["prod"], include=["TAGS"])["clusters"][0]["tags"]
    assert got == [*TEAM, {"key": "env", "value": "x"}]


def _describe_service(ctx, arn):
    return call(ctx, "DescribeServices", cluster="prod", services=["web"], include=["TAGS"])["services"][0]["tags"]


def _describe_task(ctx, arn):
    return call(ctx, "DescribeTasks", cluster="prod", tasks=[arn], include=["TAGS"])["tasks"][0]["tags"]


def _describe_task_definition(ctx, arn):
    return call(ctx, "DescribeTaskDefinition", taskDefinition=arn, include=["TAGS"])["tags"]


@pytest.mark.parametrize(
    ("make", "describe"),
    [
        (make_service, _describe_service),
        (make_task, _describe_task),
        (make_task_definition, _describe_task_definition),
    ],
    ids=["service", "task", "task-definition"],
)
def test_describe_with_tags_shows_what_tag_resource_kept(ctx, kube, make, describe):
    arn, _ = make(ctx, kube)
    call(ctx, "TagResource", resourceArn=arn, tags=[{"key": "env", "value": "x"}])
    assert describe(ctx, arn) == [*TEAM, {"key": "env", "value": "x"}]


def test_fargate_providers_have_no_tags_and_take_none(ctx):
    assert call(ctx, "ListTagsForResource", resourceArn=P + "capacity-provider/FARGATE")["tags"] == []
    fails(ctx, "TagResource", "InvalidParameterException", resourceArn=P + "capacity-provider/FARGATE", tags=TEAM)


def _tags(n: int, prefix: str = "k") -> list:
    return [{"key": f"{prefix}{i}", "value": "v"} for i in range(n)]


@pytest.mark.parametrize(
    "tags,ok",
    [
        (_tags(49), True),  # 49 new + team = 50
        (_tags(50), False),  # 51
        ([{"key": "team", "value": "c"}, *_tags(49)], True),  # overwriting does not count twice
        ([{"key": "k" * 128, "value": "v" * 256}], True),
        ([{"key": "k" * 129, "value": "v"}], False),
        ([{"key": "k", "value": "v" * 257}], False),
        ([{"key": "", "value": "v"}], False),
        ([{"key": "aws:owner", "value": "v"}], False),
        ([{"key": "AWS:owner", "value": "v"}], False),
        ([{"key": "owner", "value": "Aws:x"}], False),
        ([{"key": "awsome", "value": "aws"}], True),
        ([{"key": "path/to.key=+-@_:", "value": "with space and ünïcode 1"}], True),
        ([{"key": "semi;colon", "value": "v"}], False),
        ([{"key": "k", "value": "new\nline"}], False),
        ([{"key": "k"}], True),
    ],
)
def test_ecs_tag_limits(ctx, kube, tags, ok):
    arn, _ = make_cluster(ctx, kube)
    if ok:
        call(ctx, "TagResource", resourceArn=arn, tags=tags)
        assert len(call(ctx, "ListTagsForResource", resourceArn=arn)["tags"]) <= 50
    else:
        fails(ctx, "TagResource", "InvalidParameterException", resourceArn=arn, tags=tags)
        assert call(ctx, "ListTagsForResource", resourceArn=arn)["tags"] == TEAM


def test_untag_refuses_reserved_keys(ctx, kube):
    arn, _ = make_cluster(ctx, kube)
    fails(ctx, "UntagResource", "InvalidParameterException", resourceArn=arn, tagKeys=["aws:cloudformation:stack"])


@pytest.mark.parametrize(
    "arn,code",
    [
        ("not-an-arn", "InvalidParameterException"),
        (P + "container-instance/prod/abc", "InvalidParameterException"),
        (P + "cluster/", "InvalidParameterException"),
        ("arn:aws:ecs:eu-west-1:999999999999:cluster/prod", "InvalidParameterException"),
        ("arn:aws:ecs:us-east-1:123456789012:cluster/prod", "InvalidParameterException"),
        (P + "cluster/missing", "ClusterNotFoundException"),
        (P + "service/missing/web", "ClusterNotFoundException"),
        (P + "service/prod/missing", "ResourceNotFoundException"),
        (P + "service/web", "ClusterNotFoundException"),  # the short form: the default cluster
        (P + "task/prod/0123456789abcdef0123456789abcdef", "ResourceNotFoundException"),
        (P + "task-definition/web:9", "ResourceNotFoundException"),
        (P + "task-definition/web", "ClientException"),  # a revision is required
        (P + "capacity-provider/missing", "ResourceNotFoundException"),
    ],
)
def test_errors(ctx, kube, arn, code):
    make_service(ctx, kube)
    make_task_definition(ctx, kube)
    for name, params in [
        ("ListTagsForResource", {}),
        ("TagResource", {"tags": TEAM}),
        ("UntagResource", {"tagKeys": ["team"]}),
    ]:
        fails(ctx, name, code, resourceArn=arn, **params)


def test_a_deleted_revision_is_not_found(ctx, kube):
    arn, _ = make_task_definition(ctx, kube)
    call(ctx, "DeregisterTaskDefinition", taskDefinition="web:1")
    assert call(ctx, "ListTagsForResource", resourceArn=arn)["tags"] == TEAM  # INACTIVE still has tags
    call(ctx, "DeleteTaskDefinitions", taskDefinitions=["web:1"])
    fails(ctx, "ListTagsForResource", "ResourceNotFoundException", resourceArn=arn)


def test_rbac_denial_passes_through(ctx, kube):
    from ecs_operator.k8s import ApiError

    arn, _ = make_cluster(ctx, kube)
    kube.deny.add(("patch", "ECSCluster"))
    with pytest.raises(ApiError) as e:
        call(ctx, "TagResource", resourceArn=arn, tags=TEAM)
    assert e.value.status == 403
