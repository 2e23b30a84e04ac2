"""The operator kill loop (issue #15), short variant: the operator is SIGKILLed again and again
while services are created, rolled to a new revision, scaled and half deleted; once it runs
undisturbed, the exact final state is reached (level-based, idempotent handlers: killing at any
line is repaired by the next run). Prints the kills and the seconds to converge; asserts no
timing.

It runs its own operator (``run_operator``) on its own namespace (``k-*``), never the session's.
ECS_OPERATOR_KILL_LOOP_SERVICES / _KILLS size it (default 8 services, 6 kills).
"""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from ..cluster_fixtures import make_namespace, run_operator
from .kube import wait_for
from .test_taskdefinition import G, V, td

SERVICES = int(os.environ.get("ECS_OPERATOR_KILL_LOOP_SERVICES", "8"))
KILLS = int(os.environ.get("ECS_OPERATOR_KILL_LOOP_KILLS", "6"))
FAMILY = "kl"


@pytest.fixture
def kill_namespace(core, request):
    yield from make_namespace(core, request, "k-")


def _svc(name: str, desired: int) -> dict:
    return {
        "apiVersion": f"{G}/{V}",
        "kind": "ECSService",
        "metadata": {"name": name},
        "spec": {"taskDefinition": FAMILY, "desiredCount": desired},
    }


def _steps(custom, ns: str, names: list[str]):
    """The churn, in order: each step is done while an operator runs that is then killed."""
    half = len(names) // 2

    def register():
        custom.create_namespaced_custom_object(G, V, ns, "taskdefinitions", td(FAMILY, image="nginx:1.27"))

    def create():
        for n in names:
            custom.create_namespaced_custom_object(G, V, ns, "ecsservices", _svc(n, 2))

    def roll():  # a new revision of the family the services follow
        spec = {
            "containerDefinitions": [
                {"name": "web", "image": "nginx:1.28", "memory": 128, "portMappings": [{"containerPort": 80}]}
            ]
        }
        custom.patch_namespaced_custom_object(G, V, ns, "taskdefinitions", FAMILY, {"spec": spec})

    def scale():
        for n in names[:half]:
            custom.patch_namespaced_custom_object(G, V, ns, "ecsservices", n, {"spec": {"desiredCount": 3}})

    def delete_half():
        for n in names[half:]:
            custom.delete_namespaced_custom_object(G, V, ns, "ecsservices", n)

    return [register, create, roll, scale, delete_half]


def _final_state(custom, apps, core, ns: str, kept: list[str]) -> str | None:
    """None once the state is exactly the expected one, else what still differs."""
    services = {
        s["metadata"]["name"]: s for s in custom.list_namespaced_custom_object(G, V, ns, "ecsservices")["items"]
    }
    if set(services) != set(kept):
        return f"services {sorted(services)}"
    for n in kept:
        st = services[n].get("status") or {}
        got = (st.get("taskDefinition"), st.get("desiredCount"), st.get("runningCount"), st.get("pendingCount"))
        if got != (f"{FAMILY}:2", 3, 3, 0) or [d.get("taskDefinition") for d in st.get("deployments") or []] != [
            f"{FAMILY}:2"
        ]:
            return f"{n} status {got} deployments {st.get('deployments')}"
        ready = next((c for c in st.get("conditions") or [] if c["type"] == "Ready"), {})
        if ready.get("status") != "True":
            return f"{n} Ready {ready}"
    deployments = {d.metadata.name: d for d in apps.list_namespaced_deployment(ns).items}
    if set(deployments) != set(kept):
        return f"deployments {sorted(deployments)}"
    for n in kept:
        if deployments[n].spec.replicas != 3:
            return f"deployment {n} replicas {deployments[n].spec.replicas}"
    pods = [p for p in core.list_namespaced_pod(ns).items if not p.metadata.deletion_timestamp]
    by_service: dict[str, list] = {}
    for p in pods:
        by_service.setdefault((p.metadata.labels or {}).get("ecs.seed.dev/service", "?"), []).append(p)
    if set(by_service) != set(kept):
        return f"pods of {sorted(by_service)}"
    for n in kept:
        images = {p.spec.containers[0].image for p in by_service[n]}
        running = [p for p in by_service[n] if p.status.phase == "Running"]
        if len(by_service[n]) != 3 or len(running) != 3 or images != {"nginx:1.28"}:
            return f"{n} pods {len(by_service[n])} running {len(running)} images {images}"
    return None


def test_the_exact_state_is_reached_after_repeated_sigkills(
    custom, apps, core, kubeconfig, crds, ecs_scheduler, kill_namespace, tmp_path
):
    ns = kill_namespace
    names = [f"svc-{i}" for i in range(SERVICES)]
    kept = names[: SERVICES // 2]
    steps = _steps(custom, ns, names)
    scheduler = ecs_scheduler.name if ecs_scheduler is not None else ""
    # the steps spread over the kills, the last one in the last run (with more kills than steps,
    # some runs only restart)
    at: dict[int, list] = {}
    for i, step in enumerate(steps):
        at.setdefault(round(i * (KILLS - 1) / (len(steps) - 1)), []).append(step)
    kills = 0
    t0 = time.monotonic()
    for k in range(KILLS):
        log = tmp_path / f"operator-{k}.log"
        with run_operator(kubeconfig, log, namespaces=("k-*",), scheduler_name=scheduler) as proc:
            for step in at.get(k, ()):
                step()
            time.sleep(0.5 + (k % 4) * 0.5)  # let it get part of the way: killed mid-work
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1

    log = tmp_path / "operator-final.log"
    with run_operator(kubeconfig, log, namespaces=("k-*",), scheduler_name=scheduler) as proc:
        started = time.monotonic()
        wait_for(
            lambda: _final_state(custom, apps, core, ns, kept) is None,
            timeout=240,
            interval=1.0,
            desc="the exact final state",
        )
        converged = time.monotonic() - started
        assert proc.poll() is None
        text = log.read_text()
        assert "Traceback (most recent call last)" not in text, text[-4000:]
        # leave nothing behind for the namespace's deletion (the kopf finalizers need an operator)
        for n in kept:
            custom.delete_namespaced_custom_object(G, V, ns, "ecsservices", n)
        custom.delete_namespaced_custom_object(G, V, ns, "taskdefinitions", FAMILY)
        wait_for(
            lambda: not custom.list_namespaced_custom_object(G, V, ns, "ecsservices")["items"],
            timeout=60,
            desc="services deleted",
        )
        wait_for(
            lambda: not custom.list_namespaced_custom_object(G, V, ns, "taskdefinitions")["items"],
            timeout=60,
            desc="task definition deleted",
        )
    print(
        f"\nkill loop: {kills} SIGKILLs over {SERVICES} services (created, rolled, scaled, half deleted); "
        f"exact final state {converged:.1f}s after the last start, {time.monotonic() - t0:.1f}s in all",
        file=sys.stderr,
    )
