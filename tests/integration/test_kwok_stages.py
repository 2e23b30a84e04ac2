"""The KWOK stages the local cluster runs with (operator/ecs_operator/data/kwok-stages.yaml):
a container's image decides how its fake container behaves, so a test can make chosen ECS
task containers crash, exit or never become ready from the task definition alone.

  .../kwok.local/exit:<code>   starts, exits with <code> after 1-2 s, restarted per restartPolicy
  .../kwok.local/never-ready   Running, never Ready
  anything else                KWOK's default (Running and Ready at once)

Plain Pods/Deployments/Jobs only; the operator is not involved.
"""

from __future__ import annotations

import time

import kubernetes

from .kube import wait_for

RES = {"requests": {"cpu": "10m", "memory": "16Mi"}}


def _containers(*specs: tuple[str, str]) -> list[dict]:
    return [{"name": n, "image": img, "resources": RES} for n, img in specs]


def _pod(name: str, *containers: tuple[str, str], restart: str = "Always") -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"restartPolicy": restart, "containers": _containers(*containers)},
    }


def _deployment(name: str, replicas: int, *containers: tuple[str, str]) -> dict:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": _containers(*containers)}},
        },
    }


def _status(pod, name: str):
    return next(s for s in pod.status.container_statuses or [] if s.name == name)


def _condition(pod, type_: str) -> str | None:
    return next((c.status for c in pod.status.conditions or [] if c.type == type_), None)


def _pods(core, namespace: str, app: str) -> list:
    return core.list_namespaced_pod(namespace, label_selector=f"app={app}").items


def test_exit_image_makes_a_deployment_pod_crash_loop(core, apps, namespace):
    apps.create_namespaced_deployment(namespace, _deployment("crash", 1, ("app", "kwok.local/exit:3")))
    seen_waiting = set()
    ready_seen = []

    def restarted_twice():
        pods = _pods(core, namespace, "crash")
        if len(pods) != 1 or not pods[0].status.container_statuses:
            return None
        pod = pods[0]
        st = _status(pod, "app")
        ready_seen.append((st.ready, _condition(pod, "Ready")))
        if st.state.waiting:
            seen_waiting.add(st.state.waiting.reason)
        return pod if st.restart_count >= 2 and "CrashLoopBackOff" in seen_waiting else None

    pod = wait_for(restarted_twice, timeout=60, interval=0.3, desc="restartCount >= 2 and CrashLoopBackOff seen")
    st = _status(pod, "app")
    assert pod.status.phase == "Running"
    assert st.last_state.terminated.exit_code == 3
    assert st.last_state.terminated.reason == "Error"
    assert st.last_state.terminated.finished_at >= st.last_state.terminated.started_at
    # An exiting container is never Ready, so neither is the pod (nor the Deployment).
    assert all(r == (False, "False") for r in ready_seen), ready_seen

    # The loop keeps going: restartCount keeps growing every few seconds.
    before = st.restart_count
    wait_for(
        lambda: _status(core.read_namespaced_pod(pod.metadata.name, namespace), "app").restart_count >= before + 2,
        timeout=30,
        desc="restartCount to keep growing",
    )
    dep = apps.read_namespaced_deployment("crash", namespace)
    assert not dep.status.available_replicas and not dep.status.ready_replicas

    # A crash-looping pod is still deleted normally (pod-delete stage).
    apps.delete_namespaced_deployment("crash", namespace, propagation_policy="Background")
    wait_for(lambda: not _pods(core, namespace, "crash"), timeout=60, desc="crash-looping pod deleted")


def test_never_restart_pods_end_failed_or_succeeded_with_the_exit_code(core, namespace):
    # Any registry path ending in kwok.local/exit:<code> counts (an ECR-style name here).
    core.create_namespaced_pod(
        namespace,
        _pod("fails", ("app", "123456789012.dkr.ecr.us-east-1.amazonaws.com/kwok.local/exit:7"), restart="Never"),
    )
    core.create_namespaced_pod(namespace, _pod("succeeds", ("app", "kwok.local/exit:0"), restart="Never"))
    # restartPolicy OnFailure: exit 0 is not restarted either.
    core.create_namespaced_pod(namespace, _pod("onfailure", ("app", "kwok.local/exit:0"), restart="OnFailure"))

    def phase(name, want):
        pod = core.read_namespaced_pod(name, namespace)
        return pod if pod.status.phase == want else None

    failed = wait_for(lambda: phase("fails", "Failed"), timeout=60, desc="pod Failed")
    term = _status(failed, "app").state.terminated
    assert (term.exit_code, term.reason) == (7, "Error")
    assert _status(failed, "app").restart_count == 0
    assert _condition(failed, "Ready") == "False"

    for name in ("succeeds", "onfailure"):
        ok = wait_for(lambda: phase(name, "Succeeded"), timeout=60, desc=f"{name} Succeeded")
        term = _status(ok, "app").state.terminated
        assert (term.exit_code, term.reason) == (0, "Completed")
        assert _status(ok, "app").restart_count == 0


def test_only_the_exit_image_container_exits(core, namespace):
    core.create_namespaced_pod(
        namespace, _pod("always", ("app", "kwok.local/exit:2"), ("sidecar", "public.ecr.aws/nginx/nginx:1.27"))
    )
    core.create_namespaced_pod(
        namespace,
        _pod("never", ("app", "kwok.local/exit:2"), ("sidecar", "public.ecr.aws/nginx/nginx:1.27"), restart="Never"),
    )

    def crashed(name, restarts):
        pod = core.read_namespaced_pod(name, namespace)
        if not pod.status.container_statuses:
            return None
        st = _status(pod, "app")
        done = st.restart_count >= restarts if restarts else st.state.terminated is not None
        return pod if done else None

    pod = wait_for(lambda: crashed("always", 2), timeout=60, desc="app restarted twice")
    assert _status(pod, "app").last_state.terminated.exit_code == 2
    side = _status(pod, "sidecar")
    assert side.state.running and side.ready and side.restart_count == 0 and not side.last_state.terminated
    assert pod.status.phase == "Running" and _condition(pod, "Ready") == "False"

    pod = wait_for(lambda: crashed("never", 0), timeout=60, desc="app terminated")
    assert _status(pod, "app").state.terminated.exit_code == 2
    side = _status(pod, "sidecar")
    assert side.state.running and side.ready and side.restart_count == 0
    # Not every container has terminated, so the pod keeps running (and is not Ready).
    time.sleep(3)
    pod = core.read_namespaced_pod("never", namespace)
    assert pod.status.phase == "Running" and _condition(pod, "Ready") == "False"
    assert _status(pod, "app").state.terminated.exit_code == 2 and _status(pod, "sidecar").state.running


def test_job_pod_keeps_the_exit_code_of_its_exit_container(core, api, namespace):
    batch = kubernetes.client.BatchV1Api(api)
    for name, containers in (
        ("bad", [("app", "kwok.local/exit:4"), ("log", "fluent-bit")]),
        ("good", [("app", "busybox")]),
    ):
        batch.create_namespaced_job(
            namespace,
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {"name": name},
                "spec": {
                    "backoffLimit": 0,
                    "template": {"spec": {"restartPolicy": "Never", "containers": _containers(*containers)}},
                },
            },
        )

    def job_pod(name, phase):
        pods = core.list_namespaced_pod(namespace, label_selector=f"job-name={name}").items
        return pods[0] if len(pods) == 1 and pods[0].status.phase == phase else None

    pod = wait_for(lambda: job_pod("bad", "Failed"), timeout=60, desc="job pod Failed")
    assert _status(pod, "app").state.terminated.exit_code == 4
    assert _status(pod, "log").state.terminated.exit_code == 0  # completed by pod-complete
    wait_for(lambda: job_pod("good", "Succeeded"), timeout=60, desc="plain job pod Succeeded")
    wait_for(
        lambda: batch.read_namespaced_job("good", namespace).status.succeeded == 1,
        timeout=60,
        desc="plain job complete",
    )


def test_never_ready_image_runs_but_never_becomes_ready(core, apps, namespace):
    apps.create_namespaced_deployment(
        namespace,
        _deployment("stuck", 2, ("app", "kwok.local/never-ready:latest"), ("proxy", "envoyproxy/envoy:v1.31")),
    )

    def running():
        pods = [p for p in _pods(core, namespace, "stuck") if p.status.phase == "Running"]
        return pods if len(pods) == 2 else None

    wait_for(running, timeout=60, desc="2 running pods")
    time.sleep(4)  # longer than any exit/restart stage delay
    for pod in _pods(core, namespace, "stuck"):
        app, proxy = _status(pod, "app"), _status(pod, "proxy")
        assert app.state.running and app.started and not app.ready and app.restart_count == 0
        assert proxy.state.running and proxy.ready
        assert _condition(pod, "Ready") == "False" and _condition(pod, "ContainersReady") == "False"
    dep = apps.read_namespaced_deployment("stuck", namespace)
    assert not dep.status.ready_replicas and not dep.status.available_replicas


def test_lookalike_images_keep_the_default_behaviour(core, namespace):
    for i, image in enumerate(
        ["kwok.local/exit:oops", "example.com/notkwok.local/exit:3", "kwok.local/exit", "nginx:1.27"]
    ):
        core.create_namespaced_pod(namespace, _pod(f"p{i}", ("app", image)))

    def all_ready():
        pods = core.list_namespaced_pod(namespace).items
        return pods if len(pods) == 4 and all(_condition(p, "Ready") == "True" for p in pods) else None

    wait_for(all_ready, timeout=60, desc="4 Ready pods")
    time.sleep(4)
    for pod in core.list_namespaced_pod(namespace).items:
        st = _status(pod, "app")
        assert pod.status.phase == "Running" and st.ready and st.restart_count == 0, pod.metadata.name
