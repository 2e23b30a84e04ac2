"""``ecs-operator dev demo``: the README's main command.

Starts the local control plane, installs the CRDs, runs the operator, applies an example ECS
task definition and service, and shows the service reaching a steady state the way ECS reports
it. Tears everything down afterwards unless ``--keep`` is given.
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
    env = dict(os.environ, KUBECONFIG=str(cluster.kubeconfig), PYTHONUNBUFFERED="1",
               ECS_OPERATOR_SCHEDULER_NAME=scheduler_name)
    log = open(log_path, "w")  # noqa: SIM115 (owned by the child for its lifetime)
    return subprocess.Popen([sys.executable, "-m", "ecs_operator.cli", "run"], env=env,
                            stdout=log, stderr=subprocess.STDOUT)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="ecs-operator dev demo")
    p.add_argument("--keep", action="store_true",
                   help="leave the cluster and operator running until Ctrl-C")
    p.add_argument("--name", default="ecs-dev")
    p.add_argument("--timeout", type=float, default=180)
    args = p.parse_args(argv)

    root = repo_root()
    if root is None:
        print("error: run the demo from a source checkout", file=sys.stderr)
        return 1
    cluster = LocalCluster(name=args.name)
    operator = None
    t0 = time.monotonic()
    try:
        _say("starting the local control plane (kube-apiserver, etcd, controller-manager, scheduler, KWOK nodes)")
        cluster.up(log=lambda m: print(f"    {m}", flush=True))
        print(cluster.kubectl("get", "nodes", "-L", "topology.kubernetes.io/zone",
                              "-L", "node.kubernetes.io/instance-type",
                              "-L", "ecs.seed.dev/capacity-provider").stdout, flush=True)
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

        def ready():
            if operator.poll() is not None:
                raise ClusterError(f"operator exited ({operator.returncode}); see {log_path}")
            out = cluster.kubectl("get", "ecsservice", "webserver", "-o", "json", check=False).stdout
            if not out:
                return None
            status = json.loads(out).get("status", {})
            conds = {c["type"]: c for c in status.get("conditions", [])}
            return status if conds.get("Ready", {}).get("status") == "True" else None

        status = _wait(ready, args.timeout, "ECSService webserver Ready")
        print(cluster.kubectl("get", "taskdefinitions,ecsservices,deployments,pods", "-o", "wide").stdout)
        _say("the service as ECS describes it (kubectl get ecsservice webserver -o jsonpath='{.status}')")
        shown = {k: status.get(k) for k in ("serviceName", "status", "desiredCount", "runningCount",
                                            "pendingCount", "taskDefinition", "rolloutState")}
        shown["deployments"] = status.get("deployments", [])
        shown["events"] = status.get("events", [])[:3]
        print(json.dumps(shown, indent=2))
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
