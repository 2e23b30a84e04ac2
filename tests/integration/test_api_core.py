"""The ECS API endpoint on the local cluster with real ECS clients (boto3 and the aws CLI):
`ecs-operator api serve` as its own process, a key made by `ecs-operator api keys create` for a
Kubernetes user that a Role in the test's namespace allows, the session's operator registering
the revisions. Proves: SigV4 with botocore's signer end to end, impersonation and RBAC
(AccessDeniedException), task definition revisions 1, 2, ... also under concurrent
registrations, the cluster lifecycle, and that what the API creates is what kubectl sees."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import botocore.exceptions
import pytest

from ..api_support import ACCOUNT, REGION, SECRET, create_key, grant, key_id_for, run_aws, serve
from ..api_support import client as _client

G, V = "ecs.seed.dev", "v1alpha1"


@pytest.fixture
def endpoint(kubeconfig, operator, namespace, kubectl, tmp_path):
    """(url, namespace, log path): the endpoint serving the test's namespace (its keys kept there
    too) on a loopback port; a key whose user may do what ECS operations do, and one whose user
    no Role allows."""
    user = f"ecs-deployer-{namespace}"
    grant(kubectl, namespace, user)
    create_key(kubeconfig, key_id=key_id_for("AKIA", namespace), namespace=namespace, user=user)
    create_key(kubeconfig, key_id=key_id_for("NOBODY", namespace), namespace=namespace, user=f"nobody-{namespace}")
    log_path = tmp_path / "api.log"
    with serve(kubeconfig, namespace, log_path) as url:
        yield url, namespace, log_path


def _td(image: str) -> dict:
    return {
        "family": "web_App",
        "containerDefinitions": [{"name": "web", "image": image, "memory": 128, "essential": True}],
        "tags": [{"key": "team", "value": "a"}],
    }


def test_boto3_and_the_aws_cli_through_the_endpoint(endpoint, custom, kubectl):
    url, namespace, log_path = endpoint
    key_id = key_id_for("AKIA", namespace)
    ecs = _client(url, key_id)

    # task definitions: revisions 1 and 2, described and listed
    one = ecs.register_task_definition(**_td("nginx:1.27"))["taskDefinition"]
    two = ecs.register_task_definition(**_td("httpd:2.4"))["taskDefinition"]
    assert (one["revision"], two["revision"]) == (1, 2)
    assert two["taskDefinitionArn"] == f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/web_App:2"
    described = ecs.describe_task_definition(taskDefinition="web_App", include=["TAGS"])
    assert described["taskDefinition"]["revision"] == 2 and described["tags"] == [{"key": "team", "value": "a"}]
    assert described["taskDefinition"]["registeredAt"].year >= 2025  # epoch seconds, parsed by botocore
    listed = ecs.list_task_definitions(familyPrefix="web_App")["taskDefinitionArns"]
    assert [a.rsplit("/", 1)[1] for a in listed] == ["web_App:1", "web_App:2"]
    assert ecs.list_task_definition_families()["families"] == ["web_App"]

    # concurrent registrations: distinct consecutive revisions, each with the spec its caller sent
    with ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(lambda i: _client(url, key_id).register_task_definition(**_td(f"busybox:1.3{i}")), range(4))
        )
    revs = {r["taskDefinition"]["revision"]: r["taskDefinition"]["containerDefinitions"][0]["image"] for r in results}
    assert sorted(revs) == [3, 4, 5, 6]
    for rev, image in revs.items():
        got = ecs.describe_task_definition(taskDefinition=f"web_App:{rev}")["taskDefinition"]
        assert got["containerDefinitions"][0]["image"] == image

    # deregister: INACTIVE, and the family's latest ACTIVE is the one before
    assert ecs.deregister_task_definition(taskDefinition="web_App:6")["taskDefinition"]["status"] == "INACTIVE"
    assert ecs.describe_task_definition(taskDefinition="web_App")["taskDefinition"]["revision"] == 5

    # what the API made is what kubectl sees: one TaskDefinition per family, its revisions
    tds = custom.list_namespaced_custom_object(G, V, namespace, "taskdefinitions")["items"]
    assert [t["spec"]["family"] for t in tds] == ["web_App"]
    out = kubectl(
        "get", "controllerrevisions", "-n", namespace, "-l", "ecs.seed.dev/revision-of=taskdefinition", "-o", "name"
    )
    assert len(out.stdout.split()) == 6

    # clusters
    created = ecs.create_cluster(clusterName="Prod_1", tags=[{"key": "k", "value": "v"}])["cluster"]
    assert created["clusterArn"] == f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/Prod_1"
    got = ecs.describe_clusters(clusters=["Prod_1", "missing"], include=["TAGS"])
    assert [c["clusterName"] for c in got["clusters"]] == ["Prod_1"] and got["clusters"][0]["tags"]
    assert got["failures"] == [{"arn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/missing", "reason": "MISSING"}]
    pages = ecs.get_paginator("list_clusters").paginate(PaginationConfig={"PageSize": 1})
    assert [a for p in pages for a in p["clusterArns"]] == [created["clusterArn"]]
    # no cluster named: `default`, which the API does not create
    assert ecs.describe_clusters()["failures"][0]["reason"] == "MISSING"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecs.update_cluster_settings(cluster="default", settings=[{"name": "containerInsights", "value": "enabled"}])
    assert e.value.response["Error"]["Code"] == "ClusterNotFoundException"

    # the aws CLI, once
    proc = run_aws(url, key_id, "list-clusters")
    assert proc.returncode == 0, proc.stderr
    assert created["clusterArn"] in proc.stdout

    assert ecs.delete_cluster(cluster="Prod_1")["cluster"]["status"] == "INACTIVE"
    assert ecs.list_clusters()["clusterArns"] == []

    # RBAC decides: a key whose user no Role allows is denied, a wrong secret is refused
    nobody = _client(url, key_id_for("NOBODY", namespace))
    with pytest.raises(botocore.exceptions.ClientError) as e:
        nobody.list_clusters()
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(botocore.exceptions.ClientError) as e:
        _client(url, key_id, secret="wrong-secret-value").list_clusters()
    assert e.value.response["Error"]["Code"] == "InvalidSignatureException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        _client(url, "AKIAUNKNOWN").list_clusters()
    assert e.value.response["Error"]["Code"] == "UnrecognizedClientException"

    assert SECRET not in log_path.read_text()


def test_identical_registration_is_a_new_revision_and_kubectl_apply_is_not(endpoint, custom, kubectl):
    """ECS registers a revision per RegisterTaskDefinition call, an identical spec too (1, 2);
    Kubernetes stays level-based: `kubectl apply` of the object unchanged registers nothing (the
    next API registration is 3, not 4)."""
    url, namespace, _ = endpoint
    ecs = _client(url, key_id_for("AKIA", namespace))
    one = ecs.register_task_definition(**_td("nginx:1.27"))["taskDefinition"]
    two = ecs.register_task_definition(**_td("nginx:1.27"))["taskDefinition"]
    assert (one["revision"], two["revision"]) == (1, 2)
    assert two["containerDefinitions"] == one["containerDefinitions"]

    (obj,) = custom.list_namespaced_custom_object(G, V, namespace, "taskdefinitions")["items"]
    manifest = {
        "apiVersion": f"{G}/{V}",
        "kind": "TaskDefinition",
        "metadata": {"name": obj["metadata"]["name"], "namespace": namespace},
        "spec": obj["spec"],
    }
    kubectl("apply", "-f", "-", input=json.dumps(manifest))
    kubectl("annotate", "taskdefinition", obj["metadata"]["name"], "-n", namespace, "note=unrelated")
    three = ecs.register_task_definition(**_td("httpd:2.4"))["taskDefinition"]
    assert three["revision"] == 3
    listed = ecs.list_task_definitions(familyPrefix="web_App")["taskDefinitionArns"]
    assert [a.rsplit("/", 1)[1] for a in listed] == ["web_App:1", "web_App:2", "web_App:3"]
