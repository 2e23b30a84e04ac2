"""What the ECS API tests on a cluster share: an access key made by `ecs-operator api keys create`,
the key user's RBAC (the ClusterRole `ecs-operator dev api` and the chart grant, bound in one
namespace), the endpoint as its own process on a loopback port, and ECS clients pointed at it
(boto3 without retries, the environment the aws CLI and the Go SDK read).

Used by tests/integration/test_api_*.py and tests/e2e/test_chart.py."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import botocore.config
from ecs_operator.dev.api import rbac_manifests

from .cluster_fixtures import REPO, _free_port, http_ok, local_process

SECRET = "integration-secret-Abc123/xyz"
ACCOUNT = "210987654321"
REGION = "eu-west-3"


def key_id_for(prefix: str, namespace: str) -> str:
    """An access key id unique to the test's namespace."""
    return f"{prefix}{namespace.upper().replace('-', '')}"


def create_key(
    kubeconfig: str,
    *,
    key_id: str,
    namespace: str,
    user: str,
    keys_namespace: str | None = None,
    secret: str = SECRET,
    account: str = ACCOUNT,
) -> None:
    """`ecs-operator api keys create`: a key acting in ``namespace`` as ``user``, its Secret in
    ``keys_namespace`` (default: ``namespace``). Neither output shows the secret."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ecs_operator.cli",
            *("api", "keys", "create", "--access-key-id", key_id, "--secret-stdin"),
            *("--namespace", namespace, "--user", user, "--account-id", account),
            *("--keys-namespace", keys_namespace or namespace, "--kubeconfig", kubeconfig),
        ],
        input=secret + "\n",
        text=True,
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert secret not in proc.stdout + proc.stderr


def grant(kubectl, namespace: str, user: str) -> None:
    """What the ECS operations do, allowed to ``user`` in ``namespace`` (the key user's
    ClusterRole of `ecs-operator dev api` and the chart's api.keyIdentities, bound there)."""
    body = json.dumps({"apiVersion": "v1", "kind": "List", "items": rbac_manifests(namespace, user)})
    kubectl("apply", "--server-side", "--field-manager", "ecs-api-tests", "-f", "-", input=body)


@contextlib.contextmanager
def serve(kubeconfig: str, keys_namespace: str, log_path: Path, *, env: dict[str, str] | None = None) -> Iterator[str]:
    """`ecs-operator api serve` (plain HTTP on a loopback port) until the block ends; its URL.
    Its log never shows the test secret."""
    port = _free_port()
    full_env = dict(os.environ, KUBECONFIG=kubeconfig, PYTHONUNBUFFERED="1", **(env or {}))
    cmd = [sys.executable, "-m", "ecs_operator.cli", "api", "serve", "--port", str(port)]
    cmd += ["--keys-namespace", keys_namespace]
    url = f"http://127.0.0.1:{port}"
    with local_process("ecs api", cmd, env=full_env, log_path=log_path, healthy=lambda: http_ok(f"{url}/healthz")):
        yield url
    assert SECRET not in log_path.read_text()


def client(url: str | None, key_id: str, *, secret: str = SECRET, region: str | None = REGION):
    """A boto3 ECS client of the key, no retries (an error is seen as the endpoint answers it).
    ``url`` / ``region`` None: from the environment (AWS_ENDPOINT_URL_ECS, AWS_DEFAULT_REGION)."""
    return boto3.client(
        "ecs",
        region_name=region,
        endpoint_url=url,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )


def client_env(key_id: str, *, secret: str = SECRET, region: str = REGION) -> dict[str, str]:
    """Static credentials and the region for the aws CLI and the Go SDK, no shared config files."""
    return dict(
        os.environ,
        AWS_ACCESS_KEY_ID=key_id,
        AWS_SECRET_ACCESS_KEY=secret,
        AWS_REGION=region,
        AWS_DEFAULT_REGION=region,
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        AWS_MAX_ATTEMPTS="1",
    )


def run_aws(url: str, key_id: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """``aws ecs <args> --output json`` (awscli from PyPI) against the endpoint as the key."""
    return subprocess.run(
        [str(REPO / ".venv/bin/aws"), "ecs", *args, "--endpoint-url", url, "--output", "json"],
        env=client_env(key_id),
        text=True,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
