"""ECS container semantics of a task, on real containers (real kubelet, containerd, runc).

Everything asserted here is observed from the containers themselves: their exit codes, what
they print, files they write (a shared volume, or a host path for what must outlive the pod)
and timestamps they take from /proc/uptime (one clock for every container of the machine).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..integration.kube import wait_for
from ..integration.test_ecstask import ecstask, status, task_pods, taskdef, wait_status
from ..integration.test_taskdefinition import G, V, wait_ready

BUSYBOX = "busybox:latest"
UPTIME = "$(cut -d' ' -f1 /proc/uptime)"


def run_task(custom, ns: str, name: str, *containers: dict, **td: object) -> None:
    body = taskdef(name, *containers)
    body["spec"].update(td)
    custom.create_namespaced_custom_object(G, V, ns, "taskdefinitions", body)
    wait_ready(custom, ns, "taskdefinitions", name)
    custom.create_namespaced_custom_object(G, V, ns, "ecstasks", ecstask(name, name))


def containers_of(st: dict) -> dict[str, dict]:
    return {c["name"]: c for c in st["tasks"][0]["containers"]}


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


def stop_task(custom, ns: str, name: str, reason: str = "test done") -> None:
    custom.patch_namespaced_custom_object(
        G,
        V,
        ns,
        "ecstasks",
        name,
        {"metadata": {"annotations": {"ecs.seed.dev/desired-status": "STOPPED", "ecs.seed.dev/stop-reason": reason}}},
    )


def exec_in(kubectl, ns: str, pod: str, container: str, *cmd: str) -> str:
    return kubectl("exec", "-n", ns, pod, "-c", container, "--", *cmd).stdout


def test_an_essential_container_exit_stops_the_task_with_its_exit_code(custom, core, namespace, operator):
    run_task(
        custom,
        namespace,
        "essential",
        {"name": "main", "image": BUSYBOX, "essential": True, "command": sh("sleep 3; exit 3")},
        {"name": "sidecar", "image": BUSYBOX, "essential": False, "command": sh("exec sleep 3600")},
    )
    st = wait_status(custom, namespace, "essential", "STOPPED", timeout=120)
    assert (st["stopCode"], st["stoppedReason"]) == ("EssentialContainerExited", "Essential container in task exited")
    c = containers_of(st)
    assert (c["main"]["lastStatus"], c["main"]["exitCode"]) == ("STOPPED", 3)
    assert c["sidecar"]["lastStatus"] == "STOPPED", "the task's other containers stop with it"
    wait_for(lambda: not task_pods(core, namespace, "essential"), timeout=60, desc="the stopped task's pod removed")


def test_a_non_essential_container_exit_leaves_the_task_running(custom, kubectl, namespace, operator):
    run_task(
        custom,
        namespace,
        "nonessential",
        {"name": "main", "image": BUSYBOX, "essential": True, "command": sh("exec sleep 3600")},
        {"name": "helper", "image": BUSYBOX, "essential": False, "command": sh("echo helper done; exit 5")},
    )

    def helper_exited():
        st = status(custom, namespace, "nonessential")
        c = containers_of(st) if st.get("tasks") else {}
        return st if c.get("helper", {}).get("exitCode") == 5 else None

    st = wait_for(helper_exited, timeout=120, desc="helper exited with 5")
    time.sleep(3)  # long enough for a wrong stop decision to show
    st = status(custom, namespace, "nonessential")
    assert (st["lastStatus"], st["desiredStatus"]) == ("RUNNING", "RUNNING")
    c = containers_of(st)
    assert c["main"]["lastStatus"] == "RUNNING" and c["helper"]["lastStatus"] == "STOPPED"
    # the essential container still runs (answers an exec); the helper was not restarted
    assert exec_in(kubectl, namespace, "nonessential-0", "main", "echo", "alive").strip() == "alive"
    logs = kubectl("logs", "-n", namespace, "nonessential-0", "-c", "helper").stdout
    assert logs.strip() == "helper done"
    stop_task(custom, namespace, "nonessential")
    wait_status(custom, namespace, "nonessential", "STOPPED", timeout=90)


def _stamp(name: str, what: str) -> str:
    return f"echo {name} {what} {UPTIME} >> /shared/log"


def test_depends_on_start_complete_success_and_healthy_in_ecs_order(custom, kubectl, namespace, operator):
    """Each container appends `<name> <event> <uptime>` to a volume they all mount; the app
    container, which depends on the four others, must start after each condition was met."""
    mount = [{"sourceVolume": "shared", "containerPath": "/shared"}]
    deps = [
        {"containerName": "prepare", "condition": "SUCCESS"},
        {"containerName": "migrate", "condition": "COMPLETE"},
        {"containerName": "proxy", "condition": "START"},
        {"containerName": "db", "condition": "HEALTHY"},
    ]
    run_task(
        custom,
        namespace,
        "ordering",
        {
            "name": "app",
            "image": BUSYBOX,
            "essential": True,
            "mountPoints": mount,
            "dependsOn": deps,
            "command": sh(f"{_stamp('app', 'start')}; exec sleep 3600"),
        },
        {
            "name": "prepare",
            "image": BUSYBOX,
            "essential": False,
            "mountPoints": mount,
            "command": sh(f"{_stamp('prepare', 'start')}; sleep 2; {_stamp('prepare', 'exit')}"),
        },
        {
            "name": "migrate",
            "image": BUSYBOX,
            "essential": False,
            "mountPoints": mount,
            "command": sh(f"{_stamp('migrate', 'start')}; sleep 1; {_stamp('migrate', 'exit')}"),
        },
        {
            "name": "proxy",
            "image": BUSYBOX,
            "essential": False,
            "mountPoints": mount,
            "command": sh(f"{_stamp('proxy', 'start')}; exec sleep 3600"),
        },
        {
            "name": "db",
            "image": BUSYBOX,
            "essential": False,
            "mountPoints": mount,
            "command": sh(
                f"{_stamp('db', 'start')}; sleep 3; touch /tmp/healthy; {_stamp('db', 'healthy')}; exec sleep 3600"
            ),
            "healthCheck": {
                "command": ["CMD-SHELL", "test -f /tmp/healthy"],
                "interval": 5,
                "timeout": 2,
                "retries": 3,
            },
        },
        volumes=[{"name": "shared", "host": {}}],
    )
    wait_status(custom, namespace, "ordering", "RUNNING", timeout=120)
    log = wait_for(
        lambda: (lambda out: out if "app start" in out else None)(
            exec_in(kubectl, namespace, "ordering-0", "app", "cat", "/shared/log")
        ),
        timeout=30,
        desc="app started",
    )
    at = {" ".join(line.split()[:2]): float(line.split()[2]) for line in log.splitlines()}
    assert at["app start"] > at["prepare exit"], "SUCCESS: after the dependency exited 0"
    assert at["app start"] > at["migrate exit"], "COMPLETE: after the dependency exited"
    assert at["app start"] > at["proxy start"], "START: after the dependency started"
    assert at["app start"] > at["db healthy"], "HEALTHY: after the dependency's health check passed"
    assert at["prepare exit"] - at["prepare start"] >= 1.9, "the dependency really ran to its end"
    st = status(custom, namespace, "ordering")
    c = containers_of(st)
    assert (c["prepare"]["exitCode"], c["migrate"]["exitCode"]) == (0, 0)
    assert c["db"].get("healthStatus") == "HEALTHY"
    stop_task(custom, namespace, "ordering")


def test_a_failing_health_check_makes_a_standalone_task_unhealthy_but_keeps_it_running(custom, namespace, operator):
    """The kubelet runs the CMD-SHELL check inside the container; ECS reports the container
    UNHEALTHY and leaves a standalone task running (only services replace unhealthy tasks)."""
    run_task(
        custom,
        namespace,
        "unhealthy",
        {
            "name": "main",
            "image": BUSYBOX,
            "essential": True,
            "command": sh("exec sleep 3600"),
            "healthCheck": {
                "command": ["CMD-SHELL", "test -f /tmp/never-there"],
                "interval": 5,
                "timeout": 2,
                "retries": 1,
            },
        },
    )

    def unhealthy():
        st = status(custom, namespace, "unhealthy")
        c = containers_of(st) if st.get("tasks") else {}
        return st if c.get("main", {}).get("healthStatus") == "UNHEALTHY" else None

    wait_for(unhealthy, timeout=120, desc="main UNHEALTHY")
    time.sleep(12)  # two more failed checks: the task must still run, its container not restarted
    st = status(custom, namespace, "unhealthy")
    c = containers_of(st)["main"]
    assert (st["lastStatus"], c["lastStatus"], c["healthStatus"]) == ("RUNNING", "RUNNING", "UNHEALTHY")
    stop_task(custom, namespace, "unhealthy")
    wait_status(custom, namespace, "unhealthy", "STOPPED", timeout=60)


def test_stop_timeout_is_sigterm_then_sigkill_after_that_many_seconds(custom, namespace, operator, ecs_cluster_policy):
    """The container records SIGTERM and keeps ticking into a host path (it must outlive the
    pod); the last tick is when SIGKILL came."""
    out = Path("/tmp") / f"ecs-e2e-{namespace}"
    out.mkdir(mode=0o777, exist_ok=True)
    ecs_cluster_policy(allowHostVolumes=True)
    script = (
        "now() { read up rest < /proc/uptime; echo $up; };"
        " trap 'echo TERM $(now) >> /out/log' TERM; echo start $(now) >> /out/log;"
        " while true; do echo tick $(now) >> /out/log; sleep 0.2; done"
    )
    run_task(
        custom,
        namespace,
        "stopper",
        {
            "name": "main",
            "image": BUSYBOX,
            "essential": True,
            "stopTimeout": 6,
            "command": sh(script),
            "mountPoints": [{"sourceVolume": "out", "containerPath": "/out"}],
        },
        volumes=[{"name": "out", "host": {"sourcePath": str(out)}}],
    )
    wait_status(custom, namespace, "stopper", "RUNNING", timeout=120)
    wait_for(lambda: "tick" in (out / "log").read_text(), timeout=30, desc="container ticking")
    stop_task(custom, namespace, "stopper", "stop timeout test")
    wait_status(custom, namespace, "stopper", "STOPPED", timeout=90)
    lines = [line.split() for line in (out / "log").read_text().splitlines()]
    term = [float(t) for what, t in lines if what == "TERM"]
    ticks = [float(t) for what, t in lines if what == "tick"]
    assert len(term) == 1, f"exactly one SIGTERM: {lines[-5:]}"
    killed_after = ticks[-1] - term[0]
    assert 5.0 <= killed_after <= 9.0, f"SIGKILL {killed_after:.1f}s after SIGTERM (stopTimeout 6)"
    for p in out.iterdir():
        p.unlink()
    out.rmdir()


def test_environment_files_and_secrets_are_seen_inside_the_container(custom, core, kubectl, namespace, operator):
    core.create_namespaced_config_map(
        namespace,
        {"metadata": {"name": "app-prod-env"}, "data": {"FROM_FILE": "file-value", "OVERRIDDEN": "from-file"}},
    )
    core.create_namespaced_secret(
        namespace, {"metadata": {"name": "prod-db"}, "stringData": {"password": "s3cr3t-value"}}
    )
    run_task(
        custom,
        namespace,
        "env",
        {
            "name": "main",
            "image": BUSYBOX,
            "essential": True,
            "command": sh("env | sort"),
            "environment": [
                {"name": "PLAIN", "value": "plain value $(not expanded)"},
                {"name": "OVERRIDDEN", "value": "from-environment"},
            ],
            "environmentFiles": [{"type": "s3", "value": "arn:aws:s3:::bucket/app/prod.env"}],
            "secrets": [
                {
                    "name": "DB_PASSWORD",
                    "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf:password::",
                }
            ],
        },
    )
    st = wait_status(custom, namespace, "env", "STOPPED", timeout=120)
    assert containers_of(st)["main"]["exitCode"] == 0
    env = dict(
        line.split("=", 1)
        for line in kubectl("logs", "-n", namespace, "env-0", "-c", "main").stdout.splitlines()
        if "=" in line
    )
    assert env["PLAIN"] == "plain value $(not expanded)"
    assert env["FROM_FILE"] == "file-value"
    assert env["OVERRIDDEN"] == "from-environment", "environment overrides environmentFiles, as in ECS"
    assert env["DB_PASSWORD"] == "s3cr3t-value"
    # the operator never reads the secret: its value is nowhere in the ECSTask
    assert "s3cr3t-value" not in json.dumps(custom.get_namespaced_custom_object(G, V, namespace, "ecstasks", "env"))


def test_a_missing_secret_stops_the_task_as_ecs_reports_it(custom, namespace, operator):
    """A real kubelet refuses to create a container whose Secret does not exist; ECS reports
    that as a task that failed to start with a ResourceInitializationError."""
    run_task(
        custom,
        namespace,
        "nosecret",
        {
            "name": "main",
            "image": BUSYBOX,
            "essential": True,
            "command": sh("echo never"),
            "secrets": [{"name": "TOKEN", "valueFrom": "/app/missing/token"}],
        },
    )
    st = wait_status(custom, namespace, "nosecret", "STOPPED", timeout=120)
    assert st["stopCode"] == "TaskFailedToStart"
    assert st["stoppedReason"].startswith("ResourceInitializationError:"), st["stoppedReason"]
    assert "app-missing-token" in st["stoppedReason"]
