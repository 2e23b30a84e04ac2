"""`ecs-operator dev api` on the local cluster: one command serves the ECS API on the loopback,
makes the demo access key once (then reuses it, with its secret), lets the key's user do what
ECS operations do in its namespace, and prints the environment ECS clients read. boto3, given
only what it printed, creates and lists a cluster and registers a task definition that the
session's operator registers; kubectl sees both."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from ..api_support import client
from .conftest import _free_port, http_ok, local_process

G, V = "ecs.seed.dev", "v1alpha1"


def _printed_env(log: Path) -> dict[str, str]:
    return dict(re.findall(r"^export (AWS_[A-Z_]+)=(\S+)$", log.read_text(), flags=re.M))


def _dev_api(kubeconfig: str, namespace: str, log_path: Path):
    port = _free_port()
    cmd = [sys.executable, "-m", "ecs_operator.cli", "dev", "api", "--kubeconfig", kubeconfig, "--port", str(port)]
    cmd += ["--namespace", namespace, "--keys-namespace", namespace, "--region", "eu-north-1"]
    cmd += ["--access-key-id", f"AKIADEV{namespace.upper().replace('-', '')}", "--user", f"ecs-dev-{namespace}"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return local_process(
        "ecs-operator dev api",
        cmd,
        env=env,
        log_path=log_path,
        healthy=lambda: http_ok(f"http://127.0.0.1:{port}/healthz"),
    )


def test_dev_api_serves_boto3_with_the_printed_environment(kubeconfig, operator, namespace, custom, tmp_path):
    first_log = tmp_path / "dev-api-1.log"
    with _dev_api(kubeconfig, namespace, first_log):
        printed = _printed_env(first_log)
        assert sorted(printed) == [
            "AWS_ACCESS_KEY_ID",
            "AWS_DEFAULT_REGION",
            "AWS_ENDPOINT_URL_ECS",
            "AWS_REGION",
            "AWS_SECRET_ACCESS_KEY",
        ]
        assert printed["AWS_ENDPOINT_URL_ECS"].startswith("http://127.0.0.1:") and "(created;" in first_log.read_text()
        ecs = client(
            printed["AWS_ENDPOINT_URL_ECS"],
            printed["AWS_ACCESS_KEY_ID"],
            secret=printed["AWS_SECRET_ACCESS_KEY"],
            region=printed["AWS_REGION"],
        )
        made = ecs.create_cluster(clusterName="dev_Cluster")["cluster"]
        assert made["clusterArn"].startswith("arn:aws:ecs:eu-north-1:") and made["clusterName"] == "dev_Cluster"
        assert ecs.list_clusters()["clusterArns"] == [made["clusterArn"]]
        td = ecs.register_task_definition(
            family="dev-web", containerDefinitions=[{"name": "web", "image": "nginx:1.27", "memory": 64}]
        )["taskDefinition"]
        assert (td["revision"], td["status"]) == (1, "ACTIVE")
    (cluster,) = custom.list_namespaced_custom_object(G, V, namespace, "ecsclusters")["items"]
    assert cluster["spec"]["clusterName"] == "dev_Cluster"
    (family,) = custom.list_namespaced_custom_object(G, V, namespace, "taskdefinitions")["items"]
    assert family["status"]["revision"] == 1

    # started again: the same key (and secret) is reused, so configured clients keep working
    second_log = tmp_path / "dev-api-2.log"
    with _dev_api(kubeconfig, namespace, second_log):
        again = _printed_env(second_log)
        assert "(reused;" in second_log.read_text()
        assert again["AWS_SECRET_ACCESS_KEY"] == printed["AWS_SECRET_ACCESS_KEY"]
        ecs = client(
            again["AWS_ENDPOINT_URL_ECS"],
            again["AWS_ACCESS_KEY_ID"],
            secret=again["AWS_SECRET_ACCESS_KEY"],
            region=again["AWS_REGION"],
        )
        assert [c["clusterName"] for c in ecs.describe_clusters(clusters=["dev_Cluster"])["clusters"]] == [
            "dev_Cluster"
        ]
