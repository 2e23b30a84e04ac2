"""containerDefinitions[].restartPolicy on a real kubelet: a container that exits with a code the
policy does not ignore is restarted in place (same pod, the task keeps running), one that exits
with an ignored code stays stopped -- in a standalone task (pod restartPolicy Never) and in a
service's task (pod restartPolicy Always), since the container's own rules override the pod's.

Each run of the container counts itself in a file on a volume the task's containers share, and
the essential container reads it back: the count is observed from the containers."""

from __future__ import annotations

from ..integration.kube import wait_for
from ..integration.test_ecsservice import svc
from ..integration.test_ecstask import task_pods, taskdef
from ..integration.test_taskdefinition import G, V, wait_ready
from .test_task_containers import BUSYBOX, containers_of, exec_in, run_task, sh, stop_task, wait_status

# First run: exit 7 (restarted); second run: exit 0 (ignored: stays stopped).
COUNT_THEN_EXIT = (
    "n=$(cat /data/runs 2>/dev/null || echo 0); n=$((n+1)); echo $n > /data/runs; sleep 1; "
    'if [ "$n" -lt 2 ]; then exit 7; fi; exit 0'
)
POLICY = {"enabled": True, "ignoredExitCodes": [0], "restartAttemptPeriod": 60}
MOUNT = [{"sourceVolume": "data", "containerPath": "/data"}]


def containers(essential_worker: bool = False) -> tuple[dict, dict]:
    main = {"name": "main", "image": BUSYBOX, "essential": True, "command": sh("exec sleep 3600"), "mountPoints": MOUNT}
    worker = {
        "name": "worker",
        "image": BUSYBOX,
        "essential": essential_worker,
        "command": sh(COUNT_THEN_EXIT),
        "mountPoints": MOUNT,
        "restartPolicy": POLICY,
    }
    return main, worker


def worker_status(pod) -> dict:
    cs = next(c for c in pod.status.container_statuses or [] if c.name == "worker")
    return {
        "restarts": cs.restart_count,
        "exit": cs.state.terminated.exit_code if cs.state.terminated else None,
        "waiting": cs.state.waiting.reason if cs.state.waiting else None,
    }


def settled(core, ns: str, pod_name: str) -> dict | None:
    """The worker after its second run: exited 0 once restarted, and not waiting to run again."""
    pod = core.read_namespaced_pod(pod_name, ns)
    w = worker_status(pod)
    return {"pod": pod, **w} if w["restarts"] >= 1 and w["exit"] is not None else None


def test_a_standalone_task_restarts_its_container_in_place_until_an_ignored_exit(
    custom, core, kubectl, namespace, operator
):
    main, worker = containers()
    run_task(custom, namespace, "restarts", main, worker, volumes=[{"name": "data", "host": {}}])
    wait_status(custom, namespace, "restarts", "RUNNING", timeout=120)
    pod = task_pods(core, namespace, "restarts")[0]
    assert pod.spec.restart_policy == "Never"
    uid = pod.metadata.uid

    done = wait_for(lambda: settled(core, namespace, pod.metadata.name), timeout=120, desc="worker restarted once")
    assert (done["restarts"], done["exit"], done["waiting"]) == (1, 0, None)
    assert done["pod"].metadata.uid == uid, "restarted in place: the same pod"
    assert exec_in(kubectl, namespace, pod.metadata.name, "main", "cat", "/data/runs").strip() == "2"

    st = wait_status(custom, namespace, "restarts", "RUNNING", timeout=30)
    c = containers_of(st)
    assert c["main"]["lastStatus"] == "RUNNING"
    assert (c["worker"]["lastStatus"], c["worker"]["exitCode"]) == ("STOPPED", 0)
    # The ignored exit stays: the kubelet does not schedule another run (no CrashLoopBackOff).
    again = settled(core, namespace, pod.metadata.name)
    assert again is not None and (again["restarts"], again["waiting"]) == (1, None)
    stop_task(custom, namespace, "restarts")
    wait_status(custom, namespace, "restarts", "STOPPED", timeout=60)


def test_a_service_task_keeps_an_ignored_exit_stopped_though_its_pod_restarts_always(
    custom, core, kubectl, namespace, operator
):
    main, worker = containers()
    body = taskdef("rpsvc", main, worker)
    body["spec"]["volumes"] = [{"name": "data", "host": {}}]
    custom.create_namespaced_custom_object(G, V, namespace, "taskdefinitions", body)
    wait_ready(custom, namespace, "taskdefinitions", "rpsvc")
    custom.create_namespaced_custom_object(G, V, namespace, "ecsservices", svc("rpsvc", "rpsvc", 1))

    def the_pod():
        pods = core.list_namespaced_pod(namespace, label_selector="ecs.seed.dev/service=rpsvc").items
        return pods[0] if len(pods) == 1 and pods[0].status.phase == "Running" else None

    pod = wait_for(the_pod, timeout=120, desc="the service's task running")
    assert pod.spec.restart_policy == "Always"
    done = wait_for(lambda: settled(core, namespace, pod.metadata.name), timeout=120, desc="worker restarted once")
    assert (done["restarts"], done["exit"], done["waiting"]) == (1, 0, None)
    assert exec_in(kubectl, namespace, pod.metadata.name, "main", "cat", "/data/runs").strip() == "2"
    main_cs = next(c for c in done["pod"].status.container_statuses if c.name == "main")
    assert main_cs.restart_count == 0 and main_cs.state.running, "the essential container ran on"
