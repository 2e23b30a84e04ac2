"""Operator HA: several `ecs-operator run --leader-elect` processes, one Lease, one reconciler.

Each test runs its own operator processes (never the session's): they serve the namespaces
``ha-*`` and elect a leader over a Lease in the test's namespace. What is measured (failover
after SIGKILL, handover after SIGTERM) is printed, never asserted beyond a functional bound.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from ..cluster_fixtures import _free_port, http_ok, local_process, make_namespace
from .kube import wait_for
from .test_ecsservice import svc
from .test_taskdefinition import G, V, get, td, wait_ready

PREFIX = "ha-"
LEASE = "ecs-operator-leader"


@pytest.fixture
def ha_namespace(core, request):
    yield from make_namespace(core, request, PREFIX)


@contextlib.contextmanager
def candidate(kubeconfig: str, tmp_path: Path, name: str, lease_namespace: str):
    """One `ecs-operator run --leader-elect` process named ``name`` (its Lease identity starts
    with it), with its liveness URL and /metrics on free ports. Yields (process, metrics port,
    log path); up when its liveness URL answers (a standby answers it too)."""
    live, metrics_port = _free_port(), _free_port()
    env = dict(os.environ, KUBECONFIG=kubeconfig, PYTHONUNBUFFERED="1", ECS_OPERATOR_SCHEDULER_NAME="", POD_NAME=name)
    cmd = [
        sys.executable,
        "-m",
        "ecs_operator.cli",
        "run",
        "-n",
        f"{PREFIX}*",
        "--liveness",
        f"http://127.0.0.1:{live}/healthz",
        "--metrics-port",
        str(metrics_port),
        "--metrics-address",
        "127.0.0.1",
        "--leader-elect",
        "--leader-elect-namespace",
        lease_namespace,
    ]
    log = tmp_path / f"{name}.log"
    with local_process(
        name, cmd, env=env, log_path=log, healthy=lambda: http_ok(f"http://127.0.0.1:{live}/healthz")
    ) as p:
        yield p, metrics_port, log


def lease(coordination, ns: str) -> dict:
    obj = coordination.read_namespaced_lease(LEASE, ns)
    return {
        "holder": obj.spec.holder_identity or "",
        "transitions": obj.spec.lease_transitions or 0,
        "duration": obj.spec.lease_duration_seconds,
    }


def holder(coordination, ns: str) -> str:
    try:
        return lease(coordination, ns)["holder"]
    except Exception:
        return ""


def metrics(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            out[series] = float(value)
    return out


def requests_by_verb(port: int) -> dict[str, float]:
    verbs: dict[str, float] = {}
    for series, value in metrics(port).items():
        if series.startswith("ecs_operator_api_requests_total{"):
            verb = series.split('verb="', 1)[1].split('"', 1)[0]
            verbs[verb] = verbs.get(verb, 0) + value
    return verbs


@pytest.fixture
def coordination(api):
    import kubernetes

    return kubernetes.client.CoordinationV1Api(api)


def replicas(apps, ns: str, name: str) -> int | None:
    try:
        return apps.read_namespaced_deployment(name, ns).spec.replicas
    except Exception:
        return None


def test_only_the_leader_reconciles_and_a_standby_takes_over_after_sigkill(
    kubeconfig, crds, custom, apps, coordination, ha_namespace, tmp_path
):
    ns = ha_namespace
    with candidate(kubeconfig, tmp_path, "op-a", ns) as (a, a_metrics, _):
        wait_for(lambda: holder(coordination, ns).startswith("op-a_"), timeout=60, desc="op-a leads")
        with candidate(kubeconfig, tmp_path, "op-b", ns) as (b, b_metrics, _):
            custom.create_namespaced_custom_object(G, V, ns, "taskdefinitions", td("web"))
            custom.create_namespaced_custom_object(G, V, ns, "ecsservices", svc("web", "web", 2))
            wait_ready(custom, ns, "ecsservices", "web", timeout=90)
            assert replicas(apps, ns, "web") == 2

            # the standby has touched nothing but the Lease; the leader did the work
            assert metrics(b_metrics)["ecs_operator_leader"] == 0
            assert set(requests_by_verb(b_metrics)) == {"lease"}
            assert metrics(a_metrics)["ecs_operator_leader"] == 1
            assert {"apply", "patch"} <= set(requests_by_verb(a_metrics))
            before = lease(coordination, ns)
            assert before["holder"].startswith("op-a_")

            # the leader dies without a word; a change made meanwhile is reconciled by op-b
            a.send_signal(signal.SIGKILL)
            a.wait()
            killed = time.monotonic()
            custom.patch_namespaced_custom_object(G, V, ns, "ecsservices", "web", {"spec": {"desiredCount": 3}})
            wait_for(lambda: replicas(apps, ns, "web") == 3, timeout=60, desc="op-b reconciled the change")
            failover = time.monotonic() - killed
            after = lease(coordination, ns)
            assert after["holder"].startswith("op-b_")
            assert after["transitions"] == before["transitions"] + 1
            assert metrics(b_metrics)["ecs_operator_leader"] == 1
            wait_ready(custom, ns, "ecsservices", "web", timeout=60)
            assert get(custom, ns, "ecsservices", "web")["status"]["desiredCount"] == 3
            print(f"\nfailover after SIGKILL of the leader: {failover:.1f} s (Lease duration {after['duration']} s)")


def test_sigterm_releases_the_lease_for_a_clean_handover(
    kubeconfig, crds, custom, apps, coordination, ha_namespace, tmp_path
):
    ns = ha_namespace
    with candidate(kubeconfig, tmp_path, "op-c", ns) as (c, _, c_log):
        wait_for(lambda: holder(coordination, ns).startswith("op-c_"), timeout=60, desc="op-c leads")
        with candidate(kubeconfig, tmp_path, "op-d", ns) as (_, d_metrics, _):
            wait_for(lambda: "standby" in (tmp_path / "op-d.log").read_text(), timeout=30, desc="op-d stands by")
            c.send_signal(signal.SIGTERM)
            stopped = time.monotonic()
            assert c.wait(timeout=60) == 0
            # op-c wrote the release before it exited: nobody holds the Lease, or op-d already does
            assert "released the Lease" in c_log.read_text()
            wait_for(lambda: holder(coordination, ns).startswith("op-d_"), timeout=60, desc="op-d leads")
            handover = time.monotonic() - stopped
            wait_for(lambda: metrics(d_metrics)["ecs_operator_leader"] == 1, timeout=30, desc="op-d reconciles")
            custom.create_namespaced_custom_object(G, V, ns, "taskdefinitions", td("api"))
            custom.create_namespaced_custom_object(G, V, ns, "ecsservices", svc("api", "api", 1))
            wait_ready(custom, ns, "ecsservices", "api", timeout=90)
            assert replicas(apps, ns, "api") == 1
            print(f"\nhandover after SIGTERM of the leader: {handover:.1f} s (kopf's stop included)")
