"""The cluster and task definition operations on an in-memory Kubernetes (and a miniature of
the operator's TaskDefinition handler): ECS's behaviours, table-driven."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from ecs_operator import API_VERSION
from ecs_operator.api import arns, names
from ecs_operator.api.errors import EcsApiError
from ecs_operator.api.operations import OPERATIONS, decode_token, encode_token, load, paginate

from .api_fakes import context, kube_with_operator

load()


def op(name, ctx, **params):
    return OPERATIONS[name](ctx, params)


@pytest.fixture
def kube():
    return kube_with_operator()


@pytest.fixture
def ctx(kube):
    return context(kube)


def td(family="web", image="nginx", **extra):
    return {"family": family, "containerDefinitions": [{"name": "c", "image": image, "memory": 128}], **extra}


# --- names, ARNs, pages ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "ecs,k8s",
    [("web", "web"), ("web-1", "web-1"), ("Web", None), ("my_app", None), ("a" * 255, None), ("-x", None)],
)
def test_object_names_are_valid_and_collision_free(ecs, k8s):
    name = names.object_name(ecs)
    assert len(name) <= 63 and name == name.lower() and name[0].isalnum() and name[-1].isalnum()
    if k8s is not None:
        assert name == k8s
    assert names.object_name(ecs.swapcase()) != name or ecs == ecs.swapcase()


@pytest.mark.parametrize(
    "ref,kind,name",
    [
        ("arn:aws:ecs:eu-west-1:123456789012:cluster/prod", "cluster", "prod"),
        ("prod", "cluster", "prod"),
        ("arn:aws:ecs:eu-west-1:123456789012:service/prod/web", "service", "web"),
        (
            "arn:aws:ecs:eu-west-1:123456789012:service/prod/web",
            "cluster",
            "arn:aws:ecs:eu-west-1:123456789012:service/prod/web",
        ),
    ],
)
def test_arn_names(ref, kind, name):
    assert arns.name_of(ref, kind) == name


def test_arn_forms():
    assert arns.service("r", "1", "c", "s") == "arn:aws:ecs:r:1:service/c/s"
    assert arns.task_definition("r", "1", "web", 3) == "arn:aws:ecs:r:1:task-definition/web:3"
    assert arns.capacity_provider("r", "1", "cp") == "arn:aws:ecs:r:1:capacity-provider/cp"
    assert str(arns.parse("arn:aws:ecs:r:1:task/c/abc")) == "arn:aws:ecs:r:1:task/c/abc"
    assert arns.parse("not-an-arn") is None


@pytest.mark.parametrize("size,max_results,pages", [(0, None, [0]), (5, 2, [2, 2, 1]), (4, 2, [2, 2]), (3, 10, [3])])
def test_pagination(size, max_results, pages):
    items = [f"c{i:02d}" for i in range(size)]
    params = {"maxResults": max_results} if max_results else {}
    got, seen = [], []
    while True:
        page, token = paginate(items, lambda x: x, params)
        got.append(len(page))
        seen += page
        if not token:
            break
        params = {**params, "nextToken": token}
    assert got == pages and seen == items


def test_bad_tokens_are_invalid_parameters():
    with pytest.raises(EcsApiError) as e:
        paginate(["a"], lambda x: x, {"nextToken": "%%%"})
    assert e.value.code == "InvalidParameterException"
    assert decode_token(encode_token(["web", 3])) == ["web", 3]


# --- clusters ---------------------------------------------------------------------------------


def test_default_is_not_created_by_the_api(ctx):
    out = op("DescribeClusters", ctx)
    assert out["clusters"] == []
    assert out["failures"] == [{"arn": "arn:aws:ecs:eu-west-1:123456789012:cluster/default", "reason": "MISSING"}]
    for name, params in [
        ("UpdateClusterSettings", {"cluster": "default", "settings": []}),
        ("DeleteCluster", {"cluster": "default"}),
    ]:
        with pytest.raises(EcsApiError) as e:
            op(name, ctx, **params)
        assert e.value.code == "ClusterNotFoundException"


def test_create_keeps_the_ecs_name_and_is_idempotent(ctx, kube):
    first = op("CreateCluster", ctx, clusterName="Team_Prod", tags=[{"key": "k", "value": "v"}])["cluster"]
    again = op("CreateCluster", ctx, clusterName="Team_Prod")["cluster"]
    assert first == again and first["clusterName"] == "Team_Prod" and first["status"] == "ACTIVE"
    obj = kube.get(API_VERSION, "ECSCluster", "team-a", names.object_name("Team_Prod"))
    assert obj["spec"]["clusterName"] == "Team_Prod" and obj["metadata"]["name"] != "Team_Prod"
    assert "tags" not in first
    described = op("DescribeClusters", ctx, clusters=[first["clusterArn"]], include=["TAGS"])["clusters"][0]
    assert described["tags"] == [{"key": "k", "value": "v"}]


def test_create_refuses_bad_names_and_unknown_providers(ctx):
    for params, code in [
        ({"clusterName": "bad name"}, "InvalidParameterException"),
        ({"clusterName": "c", "capacityProviders": ["nope"]}, "InvalidParameterException"),
        (
            {
                "clusterName": "c",
                "capacityProviders": ["FARGATE"],
                "defaultCapacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT"}],
            },
            "InvalidParameterException",
        ),
    ]:
        with pytest.raises(EcsApiError) as e:
            op("CreateCluster", ctx, **params)
        assert e.value.code == code


def test_describe_reads_the_operators_status(ctx, kube):
    op("CreateCluster", ctx, clusterName="prod")
    kube.objects[(API_VERSION, "ECSCluster", "team-a", "prod")]["status"] = {
        "status": "ACTIVE",
        "registeredContainerInstancesCount": 3,
        "runningTasksCount": 2,
        "activeServicesCount": 1,
    }
    c = op("DescribeClusters", ctx, clusters=["prod"])["clusters"][0]
    assert (c["registeredContainerInstancesCount"], c["runningTasksCount"], c["activeServicesCount"]) == (3, 2, 1)


def test_a_cluster_being_deleted_is_inactive(ctx, kube):
    op("CreateCluster", ctx, clusterName="prod")
    kube.objects[(API_VERSION, "ECSCluster", "team-a", "prod")]["metadata"]["deletionTimestamp"] = (
        "2025-03-01T12:00:00Z"
    )
    assert op("DescribeClusters", ctx, clusters=["prod"])["clusters"][0]["status"] == "INACTIVE"
    assert op("ListClusters", ctx)["clusterArns"] == []
    with pytest.raises(EcsApiError) as e:
        op("UpdateCluster", ctx, cluster="prod")
    assert e.value.code == "ClusterNotFoundException"


def test_list_clusters_pages(ctx):
    for n in ["b", "a", "c"]:
        op("CreateCluster", ctx, clusterName=n)
    first = op("ListClusters", ctx, maxResults=2)
    second = op("ListClusters", ctx, maxResults=2, nextToken=first["nextToken"])
    assert [a.rsplit("/", 1)[1] for a in first["clusterArns"] + second["clusterArns"]] == ["a", "b", "c"]
    assert second["nextToken"] is None


def test_updates_write_the_spec(ctx, kube):
    op("CreateCluster", ctx, clusterName="prod", settings=[{"name": "containerInsights", "value": "enabled"}])
    out = op(
        "UpdateClusterSettings", ctx, cluster="prod", settings=[{"name": "containerInsights", "value": "disabled"}]
    )
    assert out["cluster"]["settings"] == [{"name": "containerInsights", "value": "disabled"}]
    out = op(
        "PutClusterCapacityProviders",
        ctx,
        cluster="prod",
        capacityProviders=["FARGATE", "FARGATE_SPOT"],
        defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE_SPOT", "weight": 1}],
    )
    assert out["cluster"]["capacityProviders"] == ["FARGATE", "FARGATE_SPOT"]
    spec = kube.get(API_VERSION, "ECSCluster", "team-a", "prod")["spec"]
    assert spec["defaultCapacityProviderStrategy"] == [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]


@pytest.mark.parametrize(
    "instances,code",
    [
        (0, None),
        (2, "ClusterContainsContainerInstancesException"),  # the operator's count: nodes, DRAINING too
    ],
)
def test_delete_refuses_a_cluster_with_container_instances(ctx, kube, instances, code):
    """FARGATE's virtual nodes are not counted by the operator (no container instances in ECS),
    so a cluster running only on Fargate can be deleted."""
    op("CreateCluster", ctx, clusterName="prod")
    kube.merge_patch(
        API_VERSION,
        "ECSCluster",
        "team-a",
        "prod",
        {"status": {"registeredContainerInstancesCount": instances}},
        subresource="status",
    )
    if code is None:
        assert op("DeleteCluster", ctx, cluster="prod")["cluster"]["status"] == "INACTIVE"
        return
    with pytest.raises(EcsApiError) as e:
        op("DeleteCluster", ctx, cluster="prod")
    assert (e.value.code, e.value.status) == (code, 400)
    assert e.value.message == "The Cluster cannot be deleted while Container Instances are active or draining."
    assert op("DescribeClusters", ctx, clusters=["prod"])["clusters"][0]["status"] == "ACTIVE"


@pytest.mark.parametrize(
    "kind,spec,status,code",
    [
        ("ECSService", {"cluster": "prod"}, None, "ClusterContainsServicesException"),
        ("ECSService", {"cluster": "arn:aws:ecs:r:1:cluster/prod"}, None, "ClusterContainsServicesException"),
        ("ECSTask", {"cluster": "prod"}, {"lastStatus": "RUNNING"}, "ClusterContainsTasksException"),
        ("ECSTask", {"cluster": "prod"}, {"lastStatus": "STOPPED"}, None),
        ("ECSService", {"cluster": "other"}, None, None),
        ("ECSService", {}, None, None),  # no cluster: default
    ],
)
def test_delete_refuses_a_cluster_in_use(ctx, kube, kind, spec, status, code):
    op("CreateCluster", ctx, clusterName="prod")
    kube.create(
        {
            "apiVersion": API_VERSION,
            "kind": kind,
            "metadata": {"name": "x", "namespace": "team-a"},
            "spec": spec,
            "status": status,
        }
    )
    if code is None:
        assert op("DeleteCluster", ctx, cluster="prod")["cluster"]["status"] == "INACTIVE"
        assert op("ListClusters", ctx)["clusterArns"] == []
        return
    with pytest.raises(EcsApiError) as e:
        op("DeleteCluster", ctx, cluster="prod")
    assert e.value.code == code


# --- task definitions -------------------------------------------------------------------------


def test_register_gives_revisions_and_describe_reads_them(ctx, kube):
    one = op("RegisterTaskDefinition", ctx, **td())["taskDefinition"]
    two = op("RegisterTaskDefinition", ctx, **td(image="httpd"))["taskDefinition"]
    assert (one["revision"], two["revision"]) == (1, 2)
    assert two["taskDefinitionArn"] == "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:2"
    assert two["containerDefinitions"][0]["image"] == "httpd" and two["status"] == "ACTIVE"
    assert op("DescribeTaskDefinition", ctx, taskDefinition="web")["taskDefinition"]["revision"] == 2
    assert (
        op("DescribeTaskDefinition", ctx, taskDefinition="web:1")["taskDefinition"]["containerDefinitions"][0]["image"]
        == "nginx"
    )
    arn = one["taskDefinitionArn"]
    assert op("DescribeTaskDefinition", ctx, taskDefinition=arn)["taskDefinition"]["revision"] == 1
    # one TaskDefinition object per family, holding the latest spec
    assert (
        kube.get(API_VERSION, "TaskDefinition", "team-a", "web")["spec"]["containerDefinitions"][0]["image"] == "httpd"
    )


def test_register_the_same_spec_again_registers_a_new_revision_as_ecs_does(ctx, kube):
    assert op("RegisterTaskDefinition", ctx, **td())["taskDefinition"]["revision"] == 1
    again = op("RegisterTaskDefinition", ctx, **td())["taskDefinition"]
    assert again["revision"] == 2 and again["containerDefinitions"] == td()["containerDefinitions"]
    # the object itself is unchanged but for the request id: a re-run of the operator adds nothing
    obj = kube.get(API_VERSION, "TaskDefinition", "team-a", "web")
    assert obj["metadata"]["generation"] == 1 and obj["spec"] == td()
    kube.operator.reconcile(obj)
    arns = op("ListTaskDefinitions", ctx)["taskDefinitionArns"]
    assert [a.rsplit("/", 1)[1] for a in arns] == ["web:1", "web:2"]


def test_a_refused_spec_is_rolled_back(ctx, kube):
    op("RegisterTaskDefinition", ctx, **td())
    with pytest.raises(EcsApiError) as e:
        op("RegisterTaskDefinition", ctx, **td(image="refused"))
    assert e.value.code == "ClientException" and "refused image" in e.value.message
    assert kube.get(API_VERSION, "TaskDefinition", "team-a", "web")["spec"] == td()
    with pytest.raises(EcsApiError):
        op("RegisterTaskDefinition", ctx, **td(family="new", image="refused"))
    assert kube.get(API_VERSION, "TaskDefinition", "team-a", "new") is None


def test_register_times_out_as_a_server_error_when_the_operator_is_away(ctx, kube):
    """ServerException (500, which SDKs retry): the operator is not answering, not the caller's
    mistake. A retry while the first registration is still pending registers nothing of its own."""
    kube.operator.paused = True
    with pytest.raises(EcsApiError) as e:
        op("RegisterTaskDefinition", ctx, **td())
    assert (e.value.status, e.value.code) == (500, "ServerException") and "not registered within" in e.value.message
    with pytest.raises(EcsApiError) as e:
        op("RegisterTaskDefinition", ctx, **td())
    assert e.value.status == 500 and "nothing was registered for this call" in e.value.message
    kube.operator.paused = False  # the operator comes back: the pending call's revision, then the next
    kube.operator.reconcile(kube.get(API_VERSION, "TaskDefinition", "team-a", "web"))
    assert op("RegisterTaskDefinition", ctx, **td())["taskDefinition"]["revision"] == 2


@pytest.mark.parametrize("same_spec", [False, True], ids=["different-specs", "identical-specs"])
def test_concurrent_registrations_get_distinct_consecutive_revisions(ctx, kube, same_spec):
    """The operator works on its own (a background loop, as kopf does); eight clients register
    eight specs of one family at once (different ones, or all the same): revisions 1..8, each the
    one its caller sent."""
    kube.operator.paused = True
    stop = threading.Event()

    def operator_loop():
        while not stop.is_set():
            for key, obj in list(kube.objects.items()):
                if key[1] == "TaskDefinition":
                    kube.operator.reconcile(dict(obj))
            time.sleep(0.005)

    loop = threading.Thread(target=operator_loop)
    loop.start()
    ctx.wait_timeout = 20
    try:
        with ThreadPoolExecutor(8) as pool:
            images = ["img"] * 8 if same_spec else [f"img{i}" for i in range(8)]
            results = list(pool.map(lambda image: op("RegisterTaskDefinition", ctx, **td(image=image)), images))
    finally:
        stop.set()
        loop.join()
    revs = {r["taskDefinition"]["revision"]: r["taskDefinition"]["containerDefinitions"][0]["image"] for r in results}
    assert sorted(revs) == list(range(1, 9))
    for rev, image in revs.items():
        assert (
            op("DescribeTaskDefinition", ctx, taskDefinition=f"web:{rev}")["taskDefinition"]["containerDefinitions"][0][
                "image"
            ]
            == image
        )


def test_invalid_definitions_are_refused_before_anything_is_written(ctx, kube):
    with pytest.raises(EcsApiError) as e:
        op("RegisterTaskDefinition", ctx, family="web", containerDefinitions=[])
    assert e.value.code == "ClientException" and "containerDefinitions" in e.value.message
    with pytest.raises(EcsApiError):
        op("RegisterTaskDefinition", ctx, **td(family="bad family"))
    assert kube.objects == {}


def test_describe_missing(ctx):
    for ref in ["nope", "nope:1", "web:bad"]:
        with pytest.raises(EcsApiError) as e:
            op("DescribeTaskDefinition", ctx, taskDefinition=ref)
        assert e.value.code == "ClientException"


def test_list_task_definitions_filters_sorts_and_pages(ctx):
    for image in ["a", "b", "c"]:
        op("RegisterTaskDefinition", ctx, **td(image=image))
    op("RegisterTaskDefinition", ctx, **td(family="api"))
    op("DeregisterTaskDefinition", ctx, taskDefinition="web:2")

    def short(arns_):
        return [a.rsplit("/", 1)[1] for a in arns_]

    assert short(op("ListTaskDefinitions", ctx)["taskDefinitionArns"]) == ["api:1", "web:1", "web:3"]
    assert short(op("ListTaskDefinitions", ctx, sort="DESC")["taskDefinitionArns"]) == ["web:3", "web:1", "api:1"]
    assert short(op("ListTaskDefinitions", ctx, familyPrefix="web")["taskDefinitionArns"]) == ["web:1", "web:3"]
    assert short(op("ListTaskDefinitions", ctx, familyPrefix="we")["taskDefinitionArns"]) == []
    assert short(op("ListTaskDefinitions", ctx, status="INACTIVE")["taskDefinitionArns"]) == ["web:2"]
    page = op("ListTaskDefinitions", ctx, sort="DESC", maxResults=2)
    rest = op("ListTaskDefinitions", ctx, sort="DESC", maxResults=2, nextToken=page["nextToken"])
    assert short(page["taskDefinitionArns"] + rest["taskDefinitionArns"]) == ["web:3", "web:1", "api:1"]


def test_families(ctx):
    op("RegisterTaskDefinition", ctx, **td())
    op("RegisterTaskDefinition", ctx, **td(family="worker"))
    op("DeregisterTaskDefinition", ctx, taskDefinition="worker:1")
    assert op("ListTaskDefinitionFamilies", ctx)["families"] == ["web", "worker"]
    assert op("ListTaskDefinitionFamilies", ctx, status="ACTIVE")["families"] == ["web"]
    assert op("ListTaskDefinitionFamilies", ctx, status="INACTIVE")["families"] == ["worker"]
    assert op("ListTaskDefinitionFamilies", ctx, familyPrefix="wo")["families"] == ["worker"]


def test_deregister_and_delete(ctx, kube):
    op("RegisterTaskDefinition", ctx, **td())
    op("RegisterTaskDefinition", ctx, **td(image="httpd"))
    with pytest.raises(EcsApiError):
        op("DeregisterTaskDefinition", ctx, taskDefinition="web")  # a revision is required
    out = op("DeleteTaskDefinitions", ctx, taskDefinitions=["web:1", "web:7"])
    assert out["taskDefinitions"] == []
    assert [f["reason"] for f in out["failures"]][1] == "MISSING" and "ACTIVE" in out["failures"][0]["reason"]
    gone = op("DeregisterTaskDefinition", ctx, taskDefinition="web:1")["taskDefinition"]
    assert gone["status"] == "INACTIVE" and gone["deregisteredAt"]
    assert op("DescribeTaskDefinition", ctx, taskDefinition="web")["taskDefinition"]["revision"] == 2
    out = op("DeleteTaskDefinitions", ctx, taskDefinitions=["web:1"])
    assert [t["status"] for t in out["taskDefinitions"]] == ["DELETE_IN_PROGRESS"] and out["failures"] == []
    # the family's numbering goes on from the highest revision
    op("DeregisterTaskDefinition", ctx, taskDefinition="web:2")
    op("DeleteTaskDefinitions", ctx, taskDefinitions=["web:2"])
    assert op("RegisterTaskDefinition", ctx, **td(image="busybox"))["taskDefinition"]["revision"] == 3


def test_a_registration_keeps_the_objects_finalizers_owners_labels_and_annotations(ctx, kube):
    op("RegisterTaskDefinition", ctx, **td())
    key = (API_VERSION, "TaskDefinition", "team-a", "web")
    md = kube.objects[key]["metadata"]
    md.update(finalizers=["gitops.example/keep"], ownerReferences=[{"kind": "App", "name": "a", "uid": "u"}])
    md.update(labels={"team": "a"}, annotations={"note": "kept"})
    op("RegisterTaskDefinition", ctx, **td(image="httpd"))
    md = kube.objects[key]["metadata"]
    assert md["finalizers"] == ["gitops.example/keep"] and md["ownerReferences"][0]["name"] == "a"
    assert md["labels"] == {"team": "a"} and md["annotations"]["note"] == "kept"
