"""``ecs-operator dev demo``: the README's main command.

With real nodes (root on Linux): starts the local control plane with a real kubelet node,
builds the operator image from the Dockerfile, installs the Helm chart from it (operator,
extender, ecs-scheduler as pods), applies the example ECS task definition and service, shows the
service reaching a steady state the way ECS reports it, and prints the sample page fetched
through the service by another task: real containers all the way.

Where a real node cannot start (not root, not Linux, or it fails), it says why and runs the KWOK
demo instead: the operator as a local process, the example on fake nodes, the steady state.
Tears everything down afterwards unless ``--keep`` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from .cluster import ClusterError, LocalCluster, repo_root

EXAMPLE = "examples/webserver.yaml"


def _say(msg: str) -> None:
    print(f"==> {msg}", flush=True)


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what}")


def start_operator(cluster: LocalCluster, log_path: Path, scheduler_name: str = "") -> subprocess.Popen:
    env = dict(
        os.environ, KUBECONFIG=str(cluster.kubeconfig), PYTHONUNBUFFERED="1", ECS_OPERATOR_SCHEDULER_NAME=scheduler_name
    )
    log = open(log_path, "w")
    return subprocess.Popen(
        [sys.executable, "-m", "ecs_operator.cli", "run"], env=env, stdout=log, stderr=subprocess.STDOUT
    )


def _real_nodes_unavailable(root: Path) -> str | None:
    """Why a real node cannot run here (None: it can), after installing its Debian packages."""
    if sys.platform != "linux":
        return "real nodes need Linux"
    if os.geteuid() != 0:
        return "real nodes need root (network namespaces, mounts, cgroups, containerd)"
    proc = subprocess.run(
        ["bash", str(root / "hack" / "install-node-packages.sh")], text=True, capture_output=True, check=False
    )
    if proc.returncode != 0:
        return f"installing the real nodes' Debian packages failed: {proc.stderr.strip()[-500:]}"
    return None


def _show_status(status: dict) -> None:
    _say("the service as ECS describes it (kubectl get ecsservice webserver -o jsonpath='{.status}')")
    shown = {
        k: status.get(k)
        for k in (
            "serviceName",
            "status",
            "desiredCount",
            "runningCount",
            "pendingCount",
            "taskDefinition",
            "rolloutState",
        )
    }
    shown["deployments"] = status.get("deployments", [])
    shown["events"] = status.get("events", [])[:3]
    print(json.dumps(shown, indent=2), flush=True)


def _service_ready(cluster: LocalCluster, namespace: str, alive=lambda: None):
    def ready():
        alive()
        out = cluster.kubectl("get", "ecsservice", "webserver", "-n", namespace, "-o", "json", check=False).stdout
        if not out:
            return None
        status = json.loads(out).get("status", {})
        conds = {c["type"]: c for c in status.get("conditions", [])}
        return status if conds.get("Ready", {}).get("status") == "True" else None

    return ready


FETCH = """apiVersion: ecs.seed.dev/v1alpha1
kind: TaskDefinition
metadata: {name: fetch-page}
spec:
  family: fetch-page
  containerDefinitions:
    - name: client
      image: busybox:latest
      memory: 64
      command: ["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- %(url)s && exit 0; sleep 2; done; exit 1"]
---
apiVersion: ecs.seed.dev/v1alpha1
kind: ECSTask
metadata: {name: fetch-page}
spec: {taskDefinition: fetch-page}
"""


def real_demo(cluster: LocalCluster, root: Path, timeout: float, keep: bool, t0: float) -> int:
    """The demo on a real node with the operator installed by the chart from its image."""
    ns, app = "ecs-system", "default"
    _say("starting the local control plane with a real node (kubelet, containerd, runc, CNI, kube-proxy, CoreDNS)")
    cluster.up(nodes=[], real_nodes=1, log=lambda m: print(f"    {m}", flush=True))
    print(cluster.kubectl("get", "nodes", "-o", "wide").stdout, flush=True)
    registry = cluster.real_nodes().registry
    _say(f"building the operator image from the Dockerfile (buildah) and pushing it to {registry}")
    proc = subprocess.run(
        ["bash", str(root / "hack" / "build-image.sh"), "--tag", "demo", "--push", registry],
        text=True,
        stdout=subprocess.PIPE,
        check=False,
    )
    if proc.returncode != 0:
        raise ClusterError("hack/build-image.sh failed")
    _say("helm install charts/ecs-operator (operator, extender, ecs-scheduler) into ecs-system (restricted PSS)")
    cluster.kubectl("create", "namespace", ns)
    cluster.kubectl("label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted")
    helm = [str(cluster._bins() / "helm"), "--kubeconfig", str(cluster.kubeconfig)]
    proc = subprocess.run(
        [
            *helm,
            "install",
            "ecs-operator",
            str(root / "charts" / "ecs-operator"),
            "-n",
            ns,
            "--set",
            f"image.repository={registry}/ecs-operator",
            "--set",
            "image.tag=demo",
            "--wait",
            "--timeout",
            f"{int(timeout)}s",
        ],
        text=True,
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        raise ClusterError(f"helm install failed: {proc.stderr.strip()}")
    print(cluster.kubectl("get", "pods", "-n", ns, "-o", "wide").stdout, flush=True)
    example = root / EXAMPLE
    _say(f"applying {EXAMPLE}: an ECS task definition and a REPLICA service, as ECS JSON fields")
    print(example.read_text(), flush=True)
    cluster.kubectl("apply", "-n", app, "-f", str(example))
    _say("waiting for the service to reach a steady state (real httpd, its health check run in the container)")
    status = _wait(_service_ready(cluster, app), timeout, "ECSService webserver Ready")
    print(
        cluster.kubectl("get", "taskdefinitions,ecsservices,deployments,pods,services", "-n", app, "-o", "wide").stdout,
        flush=True,
    )
    _show_status(status)
    url = f"http://webserver.{app}.svc.cluster.local/"
    _say(f"fetching the sample page through the service, from another ECS task: wget -qO- {url}")
    cluster.kubectl("apply", "-n", app, "-f", "-", input=FETCH % {"url": url})
    cluster.kubectl(
        "wait",
        "-n",
        app,
        "--for=jsonpath={.status.lastStatus}=STOPPED",
        f"--timeout={int(timeout)}s",
        "ecstask/fetch-page",
    )
    page = cluster.kubectl("logs", "-n", app, "fetch-page-0", "-c", "client").stdout
    print(page, flush=True)
    if "Amazon ECS Sample App" not in page:
        raise ClusterError("the sample page did not come back through the service")
    _say(f"the sample page was served by a real container; demo took {time.monotonic() - t0:.0f}s")
    if keep:
        _say(f"cluster left running; KUBECONFIG={cluster.kubeconfig}; Ctrl-C to stop")
        while True:
            time.sleep(3600)
    return 0


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="ecs-operator dev demo")
    p.add_argument("--keep", action="store_true", help="leave the cluster and operator running until Ctrl-C")
    p.add_argument("--name", default="ecs-dev")
    p.add_argument("--timeout", type=float, default=180)
    p.add_argument("--kwok", action="store_true", help="the KWOK demo (fake nodes), even where real nodes can run")
    args = p.parse_args(argv)

    root = repo_root()
    if root is None:
        print("error: run the demo from a source checkout", file=sys.stderr)
        return 1
    cluster = LocalCluster(name=args.name)
    t0 = time.monotonic()
    why = "asked for with --kwok" if args.kwok else _real_nodes_unavailable(root)
    if why is None:
        try:
            return real_demo(cluster, root, args.timeout, args.keep, t0)
        except ClusterError as e:
            why = f"the real-node demo failed: {e}"
        except KeyboardInterrupt:
            return 130
        finally:
            _say("stopping the local control plane")
            cluster.down(log=lambda m: None)
    _say(f"no real node ({why}): running the KWOK demo (fake nodes, the operator as a local process)")
    return kwok_demo(cluster, root, args, t0)


def kwok_demo(cluster: LocalCluster, root: Path, args: argparse.Namespace, t0: float) -> int:
    operator = None
    try:
        _say("starting the local control plane (kube-apiserver, etcd, controller-manager, scheduler, KWOK nodes)")
        cluster.up(log=lambda m: print(f"    {m}", flush=True))
        print(
            cluster.kubectl(
                "get",
                "nodes",
                "-L",
                "topology.kubernetes.io/zone",
                "-L",
                "node.kubernetes.io/instance-type",
                "-L",
                "ecs.seed.dev/capacity-provider",
            ).stdout,
            flush=True,
        )
        _say("starting ecs-scheduler (a second kube-scheduler with the ECS placement extender)")
        cluster.start_ecs_scheduler(log=lambda m: print(f"    {m}", flush=True))

        _say("installing the CRDs from crds/")
        for f in sorted((root / "crds").glob("*.yaml")):
            cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(f))
        for f in sorted((root / "crds").glob("*.yaml")):
            cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(f))

        log_path = cluster.workdir / f"{args.name}-operator.log"
        _say(f"running the operator (log: {log_path})")
        operator = start_operator(cluster, log_path, scheduler_name="ecs-scheduler")

        example = root / EXAMPLE
        _say(f"applying {EXAMPLE}: an ECS task definition and a REPLICA service, as ECS JSON fields")
        print(example.read_text(), flush=True)
        cluster.kubectl("apply", "-f", str(example))

        _say("waiting for the service to reach a steady state")

        def alive():
            if operator.poll() is not None:
                raise ClusterError(f"operator exited ({operator.returncode}); see {log_path}")

        status = _wait(_service_ready(cluster, "default", alive), args.timeout, "ECSService webserver Ready")
        print(cluster.kubectl("get", "taskdefinitions,ecsservices,deployments,pods", "-o", "wide").stdout)
        _show_status(status)
        _say(f"steady state reached; demo took {time.monotonic() - t0:.0f}s")
        if args.keep:
            _say(f"cluster and operator left running; KUBECONFIG={cluster.kubeconfig}; Ctrl-C to stop")
            operator.wait()
        return 0
    except ClusterError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        if operator is not None and operator.poll() is None:
            operator.terminate()
            try:
                operator.wait(timeout=15)
            except subprocess.TimeoutExpired:
                operator.kill()
        _say("stopping the local control plane")
        cluster.down(log=lambda m: None)
