"""Real ECS clients against the ECS API endpoint on the local cluster, the session's operator
reconciling: the aws CLI (awscli from PyPI) with the usual commands including
``aws ecs wait services-stable``; the AWS SDK for Go v2 (``hack/ecs-sdk-check``, the SDK behind
Terraform and ecspresso) through register -> create-service -> wait stable -> update -> wait
stable -> force delete -> wait inactive; capacity providers, tags and account settings round
trips through boto3, seen by kubectl and the reverse.

A step that needs an operation the endpoint does not serve fails naming it (never skips)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import botocore.exceptions
import pytest

from ..api_support import ACCOUNT, REGION, client, client_env, create_key, grant, key_id_for, run_aws, serve
from .conftest import REPO
from .kube import wait_for

G, V = "ecs.seed.dev", "v1alpha1"
P = f"arn:aws:ecs:{REGION}:{ACCOUNT}:"
MISSING = "UnknownOperationException"


@pytest.fixture
def endpoint(kubeconfig, operator, namespace, kubectl, tmp_path):
    """(url, access key id, log path): the endpoint on a loopback port, a key acting in the
    test's namespace."""
    user = f"ecs-clients-{namespace}"
    key_id = key_id_for("AKIACLI", namespace)
    grant(kubectl, namespace, user)
    create_key(kubeconfig, key_id=key_id, namespace=namespace, user=user)
    log_path = tmp_path / "api.log"
    with serve(kubeconfig, namespace, log_path) as url:
        yield url, key_id, log_path


# --- the aws CLI ------------------------------------------------------------------------------


def _aws(url: str, key_id: str, *args: str, timeout: float = 600) -> dict:
    """``aws ecs <args>`` against the endpoint; its JSON answer ({} for none). A missing
    operation fails the test naming it."""
    proc = run_aws(url, key_id, *args, timeout=timeout)
    if proc.returncode != 0 and MISSING in proc.stderr:
        pytest.fail(f"`aws ecs {args[0]}` needs an operation the endpoint does not serve yet: {proc.stderr.strip()}")
    assert proc.returncode == 0, f"aws ecs {' '.join(args)}: {proc.stderr}"
    return json.loads(proc.stdout) if proc.stdout.strip() else {}


def _aws_fails(url: str, key_id: str, *args: str) -> str:
    """``aws ecs <args>`` that must fail; its stderr (the error code and message)."""
    proc = run_aws(url, key_id, *args, timeout=120)
    assert proc.returncode != 0, proc.stdout
    return proc.stderr


def test_the_aws_cli(endpoint, custom, namespace):
    url, key_id, _ = endpoint

    def aws(*args: str) -> dict:
        return _aws(url, key_id, *args)

    # the default cluster: its container instances are the session's (KWOK) nodes; calls that
    # name no cluster use it, once it exists
    cluster = aws("create-cluster")["cluster"]
    assert cluster["clusterArn"] == P + "cluster/default"
    containers = json.dumps([{"name": "web", "image": "nginx:1.27", "memory": 64, "essential": True}])
    td = aws("register-task-definition", "--family", "cli-web", "--container-definitions", containers)
    assert td["taskDefinition"]["taskDefinitionArn"] == P + "task-definition/cli-web:1"
    assert aws("describe-task-definition", "--task-definition", "cli-web")["taskDefinition"]["revision"] == 1
    assert aws("list-task-definitions", "--family-prefix", "cli-web")["taskDefinitionArns"] == [
        P + "task-definition/cli-web:1"
    ]

    created = aws(
        "create-service",
        *("--service-name", "web", "--task-definition", "cli-web", "--desired-count", "1"),
    )["service"]
    assert created["serviceArn"] == P + "service/default/web"
    assert [d["status"] for d in created["deployments"]] == ["PRIMARY"]
    aws("wait", "services-stable", "--services", "web")
    (svc,) = aws("describe-services", "--cluster", "default", "--services", "web")["services"]
    assert (svc["status"], svc["runningCount"], svc["desiredCount"]) == ("ACTIVE", 1, 1)
    assert aws("list-services")["serviceArns"] == [svc["serviceArn"]]
    (obj,) = custom.list_namespaced_custom_object(G, V, namespace, "ecsservices")["items"]
    assert obj["spec"]["serviceName"] == "web"  # what the API made, kubectl sees

    # tags, capacity providers and account settings
    aws("tag-resource", "--resource-arn", svc["serviceArn"], "--tags", "key=env,value=ci")
    assert aws("list-tags-for-resource", "--resource-arn", svc["serviceArn"])["tags"] == [{"key": "env", "value": "ci"}]
    providers = aws("describe-capacity-providers")["capacityProviders"]
    assert [p["name"] for p in providers] == ["FARGATE", "FARGATE_SPOT"]
    setting = aws("put-account-setting-default", "--name", "containerInsights", "--value", "enabled")["setting"]
    assert setting == {
        "name": "containerInsights",
        "value": "enabled",
        "principalArn": f"arn:aws:iam::{ACCOUNT}:root",
        "type": "user",
    }
    listed = aws("list-account-settings", "--name", "containerInsights", "--effective-settings")["settings"]
    assert [s["value"] for s in listed] == ["enabled"]

    # scale to zero, delete, wait until INACTIVE; then the cluster goes
    aws("update-service", "--cluster", "default", "--service", "web", "--desired-count", "0")
    aws("delete-service", "--cluster", "default", "--service", "web")
    aws("wait", "services-inactive", "--cluster", "default", "--services", "web")
    aws("deregister-task-definition", "--task-definition", "cli-web:1")
    # `default` still has container instances (the session's nodes): ECS refuses to delete it;
    # a cluster without instances goes
    refused = _aws_fails(url, key_id, "delete-cluster", "--cluster", "default")
    assert "ClusterContainsContainerInstancesException" in refused
    assert aws("describe-clusters")["clusters"][0]["status"] == "ACTIVE"
    aws("create-cluster", "--cluster-name", "cli-empty")
    assert aws("delete-cluster", "--cluster", "cli-empty")["cluster"]["status"] == "INACTIVE"


# --- the AWS SDK for Go v2 --------------------------------------------------------------------


@pytest.fixture(scope="session")
def ecs_sdk_check() -> Path:
    """hack/ecs-sdk-check, built once per source version (hack/build-ecs-sdk-check.sh)."""
    proc = subprocess.run(
        ["bash", str(REPO / "hack/build-ecs-sdk-check.sh")], text=True, capture_output=True, timeout=900, check=False
    )
    assert proc.returncode == 0, f"building hack/ecs-sdk-check failed:\n{proc.stderr[-4000:]}"
    return Path(proc.stdout.strip().splitlines()[-1])


def test_the_go_sdk(endpoint, ecs_sdk_check, custom, namespace):
    url, key_id, _ = endpoint
    proc = subprocess.run(
        [str(ecs_sdk_check), "--endpoint", url, "--service", "Go_Web", "--wait", "4m"],
        env=client_env(key_id),
        text=True,
        capture_output=True,
        timeout=900,
        check=False,
    )
    out = proc.stdout + proc.stderr
    if proc.returncode == 3:
        pytest.fail(f"the Go SDK needs an operation the endpoint does not serve yet:\n{out}")
    assert proc.returncode == 0, out
    steps = [line.split()[1] for line in proc.stdout.splitlines() if line.startswith("ok ")]
    assert steps == [
        "create-cluster",
        "register-task-definition",
        "create-service",
        "wait",
        "describe-services",
        "register-task-definition",
        "update-service",
        "wait",
        "describe-services",
        "delete-service",
        "wait",
    ], out
    revisions = custom.list_namespaced_custom_object(G, V, namespace, "taskdefinitions")["items"]
    assert [t["spec"]["family"] for t in revisions] == ["sdk-check"]
    assert all(
        s["spec"].get("serviceName") != "Go_Web"
        for s in custom.list_namespaced_custom_object(G, V, namespace, "ecsservices")["items"]
    )


# --- boto3: capacity providers, tags, account settings ----------------------------------------


def test_capacity_providers_tags_and_settings_with_boto3(endpoint, custom, namespace):
    url, key_id, _ = endpoint
    ecs = client(url, key_id)

    # a capacity provider made through the API: kubectl sees it, the operator makes it ACTIVE
    asg = {"autoScalingGroupArn": "arn:aws:autoscaling:eu-west-3:210987654321:autoScalingGroup:x:asg/pool"}
    made = ecs.create_capacity_provider(name="Pool_1", autoScalingGroupProvider=asg, tags=[{"key": "a", "value": "1"}])
    assert made["capacityProvider"]["capacityProviderArn"] == P + "capacity-provider/Pool_1"
    (obj,) = custom.list_namespaced_custom_object(G, V, namespace, "capacityproviders")["items"]
    assert obj["spec"]["name"] == "Pool_1"

    def settled():
        (p,) = ecs.describe_capacity_providers(capacityProviders=["Pool_1"])["capacityProviders"]
        return p if p["updateStatus"] == "CREATE_COMPLETE" else None

    assert wait_for(settled, timeout=60, desc="Pool_1 CREATE_COMPLETE")["status"] == "ACTIVE"

    # one made with kubectl is described through the API; Describe pages and reports MISSING
    custom.create_namespaced_custom_object(
        G,
        V,
        namespace,
        "capacityproviders",
        {
            "apiVersion": f"{G}/{V}",
            "kind": "CapacityProvider",
            "metadata": {"name": "gpu"},
            "spec": {"name": "GPU_Pool", "kubernetes": {"nodeSelector": {"gpu": "true"}}},
        },
    )
    names, token = [], None
    while True:
        page = ecs.describe_capacity_providers(maxResults=2, **({"nextToken": token} if token else {}))
        names += [p["name"] for p in page["capacityProviders"]]
        token = page.get("nextToken")
        if not token:
            break
    assert names == ["FARGATE", "FARGATE_SPOT", "GPU_Pool", "Pool_1"]
    got = ecs.describe_capacity_providers(capacityProviders=["GPU_Pool", "nope"], include=["TAGS"])
    assert got["capacityProviders"][0]["tags"] == []
    assert got["failures"] == [{"arn": P + "capacity-provider/nope", "reason": "MISSING"}]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecs.create_capacity_provider(name="fargate_mine", autoScalingGroupProvider=asg)
    assert e.value.response["Error"]["Code"] == "InvalidParameterException"

    # tags: round trips on a capacity provider, a cluster and a task definition revision
    cluster = ecs.create_cluster(clusterName="Tagged")["cluster"]["clusterArn"]
    td = ecs.register_task_definition(
        family="tagged", containerDefinitions=[{"name": "c", "image": "nginx", "memory": 64}]
    )["taskDefinition"]["taskDefinitionArn"]
    for arn in (P + "capacity-provider/Pool_1", cluster, td):
        ecs.tag_resource(resourceArn=arn, tags=[{"key": "env", "value": "ci"}, {"key": "a", "value": "2"}])
        ecs.untag_resource(resourceArn=arn, tagKeys=["env"])
        assert ecs.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "a", "value": "2"}], arn
    described = ecs.describe_clusters(clusters=["Tagged"], include=["TAGS"])["clusters"][0]
    assert described["tags"] == [{"key": "a", "value": "2"}]
    spec = custom.get_namespaced_custom_object(G, V, namespace, "capacityproviders", obj["metadata"]["name"])["spec"]
    assert spec["tags"] == [{"key": "a", "value": "2"}]  # kubectl sees them in spec.tags
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecs.tag_resource(resourceArn=cluster, tags=[{"key": "aws:reserved", "value": "x"}])
    assert e.value.response["Error"]["Code"] == "InvalidParameterException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecs.tag_resource(resourceArn=cluster, tags=[{"key": f"k{i}", "value": "v"} for i in range(50)])
    assert e.value.response["Error"]["Code"] == "InvalidParameterException"

    # delete: refused while a cluster uses the provider
    ecs.put_cluster_capacity_providers(
        cluster="Tagged", capacityProviders=["Pool_1"], defaultCapacityProviderStrategy=[]
    )
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecs.delete_capacity_provider(capacityProvider="Pool_1")
    assert e.value.response["Error"]["Code"] == "ClientException"
    ecs.put_cluster_capacity_providers(cluster="Tagged", capacityProviders=[], defaultCapacityProviderStrategy=[])
    gone = ecs.delete_capacity_provider(capacityProvider="Pool_1")["capacityProvider"]
    assert gone["updateStatus"] == "DELETE_IN_PROGRESS"

    # account settings: put, the paginator, delete
    ecs.put_account_setting(name="awsvpcTrunking", value="enabled")
    pages = ecs.get_paginator("list_account_settings").paginate(
        effectiveSettings=True, PaginationConfig={"PageSize": 4}
    )
    settings = {s["name"]: s for p in pages for s in p["settings"]}
    assert settings["awsvpcTrunking"]["value"] == "enabled" and settings["awsvpcTrunking"]["type"] == "user"
    assert settings["serviceLongArnFormat"]["type"] == "aws_managed"
    assert ecs.delete_account_setting(name="awsvpcTrunking")["setting"]["value"] == "enabled"
    assert ecs.list_account_settings()["settings"] == []
