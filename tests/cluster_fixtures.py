"""Fixtures and helpers shared by the test tiers that run on a local cluster
(tests/integration: KWOK nodes; tests/e2e: real kubelet nodes). Each tier's conftest imports
them and defines its own session ``cluster`` fixture; everything here follows that cluster.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import kubernetes
import pytest
from ecs_operator.dev.cluster import LocalCluster

from .integration.kube import wait_for

REPO = Path(__file__).resolve().parents[1]
#: The session's operator serves the namespaces starting with this.
TEST_NAMESPACE_PREFIX = "t-"


def mark_tier(items, folder: str, marker) -> None:
    """Mark the tests collected from ``tests/<folder>`` (a conftest's collection hook)."""
    for item in items:
        if f"tests/{folder}" in str(item.fspath):
            item.add_marker(marker)


@contextlib.contextmanager
def session_cluster(name: str, what: str, existing_env: str | None = None, **up) -> Iterator[LocalCluster | Existing]:
    """A fresh local cluster for a test session: whatever ran under ``name`` is removed first;
    torn down afterwards unless ECS_OPERATOR_KEEP_CLUSTER is set. Fails (never skips) when it
    cannot start. ``existing_env``: an environment variable that may name the kubeconfig of a
    running cluster to use instead. ``up``: arguments of :meth:`LocalCluster.up`."""
    import time

    existing = os.environ.get(existing_env) if existing_env else None
    if existing:
        yield Existing(existing, f"external ({existing_env})")
        return
    c = LocalCluster(name=name)
    c.down(log=lambda m: None)
    t0 = time.monotonic()
    try:  # a cluster that failed half-way up is torn down too
        c.up(log=lambda m: print(m, file=sys.stderr), **up)
        print(f"\n{what} up in {time.monotonic() - t0:.1f}s", file=sys.stderr)
        yield c
    finally:
        if not os.environ.get("ECS_OPERATOR_KEEP_CLUSTER"):
            c.down(log=lambda m: None)


class Existing:
    """A running cluster given by kubeconfig (ECS_OPERATOR_TEST_KUBECONFIG and the like)."""

    def __init__(self, kubeconfig: str, name: str = "external"):
        self.kubeconfig = Path(kubeconfig)
        self.name = name


@pytest.fixture(scope="session")
def kubeconfig(cluster) -> str:
    return str(cluster.kubeconfig)


@pytest.fixture(scope="session")
def api(kubeconfig) -> kubernetes.client.ApiClient:
    return kubernetes.config.new_client_from_config(config_file=kubeconfig)


@pytest.fixture(scope="session")
def core(api):
    return kubernetes.client.CoreV1Api(api)


@pytest.fixture(scope="session")
def apps(api):
    return kubernetes.client.AppsV1Api(api)


@pytest.fixture(scope="session")
def custom(api):
    return kubernetes.client.CustomObjectsApi(api)


@pytest.fixture(scope="session")
def kubectl(kubeconfig):
    """Run the cluster's kubectl; returns CompletedProcess (text)."""
    from ecs_operator.dev.cluster import bin_dir

    exe = str(bin_dir() / "kubectl")

    def run(*args: str, input: str | None = None, check: bool = True):
        proc = subprocess.run(
            [exe, "--kubeconfig", kubeconfig, *args], input=input, text=True, capture_output=True, check=False
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {proc.stderr}")
        return proc

    return run


@pytest.fixture(scope="session")
def crds(kubectl):
    """The CRDs the product ships (crds/), applied exactly as a user would."""
    files = sorted((REPO / "crds").glob("*.yaml"))
    assert files, "no CRDs in crds/"
    for f in files:
        kubectl("apply", "--server-side", "--force-conflicts", "-f", str(f))
    for f in files:
        kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(f))
    # Established is not served: until a new CRD's watch cache is initialised the API server
    # answers its lists and watches with 429 "storage is (re)initializing", and an operator
    # started then begins with retries. Start the tests when every kind lists.
    plurals = [
        kubectl("get", "-f", str(f), "-o", "jsonpath={.spec.names.plural}.{.spec.group}").stdout.strip() for f in files
    ]
    for plural in plurals:
        wait_for(lambda: _lists(kubectl, plural), timeout=60, desc=f"{plural} served")
    return files


def _lists(kubectl, resource: str) -> bool:
    try:
        kubectl("get", resource, "--all-namespaces", "--chunk-size=1", "-o", "name")
    except AssertionError:
        return False
    return True


@pytest.fixture
def namespace(core, request):
    yield from make_namespace(core, request, TEST_NAMESPACE_PREFIX)


def make_namespace(core, request, prefix: str):
    """A fresh namespace ``<prefix><8 hex>`` labelled with the test's name, deleted afterwards."""
    name = f"{prefix}{uuid.uuid4().hex[:8]}"
    label = re.sub(r"[^A-Za-z0-9_.-]", "-", request.node.name)[:63].strip("-_.")
    core.create_namespace({"metadata": {"name": name, "labels": {"ecs-operator-test": label}}})
    wait_for(
        lambda: core.list_namespaced_service_account(name, field_selector="metadata.name=default").items,
        timeout=30,
        desc="default service account",
    )
    yield name
    core.delete_namespace(name, propagation_policy="Background")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_ok(url: str, timeout: float = 1.0) -> bool:
    """GET ``url`` answers 200 (https: the certificate is not checked, local self-signed ones)."""
    from ecs_operator.dev.scheduler import http_ok as probe

    return probe(url, timeout, body=None)


@contextlib.contextmanager
def local_process(
    what: str, cmd: list[str], *, env: dict, log_path: Path, healthy: Callable[[], bool], timeout: float = 60.0
) -> Iterator[subprocess.Popen]:
    """Run ``cmd`` as a child process (output in ``log_path``) until the block ends; wait until
    ``healthy()``, failing with the log's tail if the process exits first. On exit: SIGTERM,
    SIGKILL after 20 s, and the log's tail on stderr."""
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:

        def up():
            if proc.poll() is not None:
                pytest.fail(f"{what} exited with {proc.returncode}:\n{log_path.read_text()[-4000:]}")
            return healthy()

        wait_for(up, timeout=timeout, desc=f"{what} healthy")
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        print(f"\n--- {what} log tail ({log_path}) ---\n{log_path.read_text()[-3000:]}", file=sys.stderr)


@contextlib.contextmanager
def run_operator(
    kubeconfig: str | Path,
    log_path: Path,
    *,
    scheduler_name: str = "",
    namespaces: tuple[str, ...] = (),
    timeout: float = 60.0,
    metrics_port: int | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen]:
    """ecs-operator as its own process, exactly as `ecs-operator run` would, with ``kubeconfig``'s
    identity; its pods name ``scheduler_name`` (ECS_OPERATOR_SCHEDULER_NAME; empty: the default
    scheduler); ``namespaces``: `-n` patterns (empty: all namespaces); ``metrics_port``: serve
    /metrics on 127.0.0.1 at that port (``--metrics-port``); ``env``: more settings of its
    environment. Running (kopf's liveness endpoint answers) when the block starts."""
    port = _free_port()
    env = dict(
        os.environ,
        KUBECONFIG=str(kubeconfig),
        PYTHONUNBUFFERED="1",
        ECS_OPERATOR_SCHEDULER_NAME=scheduler_name,
        **(env or {}),
    )
    cmd = [sys.executable, "-m", "ecs_operator.cli", "run", "--liveness", f"http://127.0.0.1:{port}/healthz"]
    for pattern in namespaces:
        cmd += ["-n", pattern]
    if metrics_port is not None:
        cmd += ["--metrics-port", str(metrics_port), "--metrics-address", "127.0.0.1"]
    with local_process(
        "operator",
        cmd,
        env=env,
        log_path=log_path,
        timeout=timeout,
        healthy=lambda: http_ok(f"http://127.0.0.1:{port}/healthz"),
    ) as proc:
        yield proc


@contextlib.contextmanager
def minute_scaled_operator(
    kubeconfig: str | Path, ecs_scheduler, log_path: Path, prefix: str
) -> Iterator[subprocess.Popen]:
    """An operator of its own for the namespaces ``<prefix>*`` in which an ECS minute lasts a
    second (ECS_OPERATOR_MINUTE_SECONDS=1): deployment bake times and hook timeouts run without
    waiting minutes."""
    with run_operator(
        kubeconfig,
        log_path,
        namespaces=(f"{prefix}*",),
        scheduler_name=ecs_scheduler.name if ecs_scheduler is not None else "",
        env={"ECS_OPERATOR_MINUTE_SECONDS": "1"},
    ) as proc:
        yield proc


@pytest.fixture(scope="session")
def ecs_scheduler(cluster, tmp_path_factory):
    """The second kube-scheduler ``ecs-scheduler`` with the ECS placement extender
    (ecs_operator.dev.scheduler), running for the whole session. ECS_OPERATOR_TEST_NO_ECS_SCHEDULER=1
    skips it (the operator then leaves pods to the default scheduler)."""
    if os.environ.get("ECS_OPERATOR_TEST_NO_ECS_SCHEDULER"):
        yield None
        return
    from ecs_operator.dev.cluster import bin_dir
    from ecs_operator.dev.scheduler import EcsScheduler

    if isinstance(cluster, LocalCluster):
        sched = cluster.ecs_scheduler()
    else:
        sched = EcsScheduler(
            kubeconfig=cluster.kubeconfig,
            bins=bin_dir(),
            workdir=tmp_path_factory.mktemp("ecs-scheduler"),
            cluster=cluster.name,
        )
    sched.start(log=lambda m: print(m, file=sys.stderr))
    try:
        yield sched
    finally:
        sched.stop()


@pytest.fixture(scope="session")
def operator(kubeconfig, crds, ecs_scheduler, tmp_path_factory):
    """ecs-operator running as its own process, exactly as `ecs-operator run` would; its pods
    name the ecs-scheduler when it runs (ECS_OPERATOR_SCHEDULER_NAME). It serves the tests'
    namespaces (``t-*``), so an operator a test runs itself (test_chart.py: the chart's
    identity, namespaces ``c-*``) never has a second operator acting on its objects."""
    log_path = tmp_path_factory.mktemp("operator") / "operator.log"
    with run_operator(
        kubeconfig,
        log_path,
        namespaces=(f"{TEST_NAMESPACE_PREFIX}*",),
        scheduler_name=ecs_scheduler.name if ecs_scheduler is not None else "",
    ) as proc:
        yield proc, log_path
