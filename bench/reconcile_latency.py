"""Reconcile latency of ECSServices on the local control plane.

For N services (default 1 and 100): time from creating the ECSService to its Deployment
existing, and to the service reporting a steady state (Ready=True, runningCount=desired).
Baseline, in the same run and on the same cluster: the same number of plain Deployments
created directly (no operator), time to all their pods Ready. Prints percentiles and the
ratio operator/baseline, plus the operator's peak memory (RSS).

    .venv/bin/python bench/reconcile_latency.py [--counts 1,100] [--desired 1]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from pathlib import Path

import kubernetes
from ecs_operator.dev.cluster import LocalCluster
from ecs_operator.dev.demo import start_operator

REPO = Path(__file__).resolve().parents[1]
G, V = "ecs.seed.dev", "v1alpha1"


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))]


def summary(name: str, values: list[float]) -> str:
    if not values:
        return f"{name:<34} n=0"
    return (
        f"{name:<34} n={len(values):<4} p50={pct(values, 50):6.2f}s p90={pct(values, 90):6.2f}s "
        f"p99={pct(values, 99):6.2f}s max={max(values):6.2f}s"
    )


def peak_rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def run_services(custom, apps, ns: str, n: int, desired: int) -> tuple[list[float], list[float], float]:
    td = {
        "apiVersion": f"{G}/{V}",
        "kind": "TaskDefinition",
        "metadata": {"name": "bench"},
        "spec": {"family": "bench", "containerDefinitions": [{"name": "app", "image": "nginx", "memory": 64}]},
    }
    custom.create_namespaced_custom_object(G, V, ns, "taskdefinitions", td)
    while (
        not custom.get_namespaced_custom_object(G, V, ns, "taskdefinitions", "bench").get("status", {}).get("revision")
    ):
        time.sleep(0.1)
    created: dict[str, float] = {}
    t0 = time.monotonic()
    for i in range(n):
        name = f"svc-{i}"
        custom.create_namespaced_custom_object(
            G,
            V,
            ns,
            "ecsservices",
            {
                "apiVersion": f"{G}/{V}",
                "kind": "ECSService",
                "metadata": {"name": name},
                "spec": {"taskDefinition": "bench", "desiredCount": desired},
            },
        )
        created[name] = time.monotonic()
    to_deploy: dict[str, float] = {}
    to_steady: dict[str, float] = {}
    deadline = time.monotonic() + 600
    while len(to_steady) < n and time.monotonic() < deadline:
        now = time.monotonic()
        for d in apps.list_namespaced_deployment(ns).items:
            to_deploy.setdefault(d.metadata.name, now - created[d.metadata.name])
        for s in custom.list_namespaced_custom_object(G, V, ns, "ecsservices")["items"]:
            st = s.get("status", {})
            if any(c["type"] == "Ready" and c["status"] == "True" for c in st.get("conditions", [])):
                to_steady.setdefault(s["metadata"]["name"], now - created[s["metadata"]["name"]])
        time.sleep(0.2)
    return list(to_deploy.values()), list(to_steady.values()), time.monotonic() - t0


def run_baseline(apps, ns: str, n: int, desired: int) -> tuple[list[float], float]:
    created: dict[str, float] = {}
    t0 = time.monotonic()
    for i in range(n):
        name = f"dep-{i}"
        labels = {"app": name}
        apps.create_namespaced_deployment(
            ns,
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name},
                "spec": {
                    "replicas": desired,
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "containers": [
                                {"name": "app", "image": "nginx", "resources": {"limits": {"memory": "64Mi"}}}
                            ]
                        },
                    },
                },
            },
        )
        created[name] = time.monotonic()
    ready: dict[str, float] = {}
    deadline = time.monotonic() + 600
    while len(ready) < n and time.monotonic() < deadline:
        now = time.monotonic()
        for d in apps.list_namespaced_deployment(ns).items:
            if (d.status.ready_replicas or 0) == desired:
                ready.setdefault(d.metadata.name, now - created[d.metadata.name])
        time.sleep(0.2)
    return list(ready.values()), time.monotonic() - t0


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--counts", default="1,100")
    p.add_argument("--desired", type=int, default=1)
    args = p.parse_args()
    counts = [int(c) for c in args.counts.split(",")]

    cluster = LocalCluster(name="ecs-bench")
    cluster.down(log=lambda m: None)
    cluster.up(log=lambda m: print(m, file=sys.stderr))
    operator = None
    try:
        for f in sorted((REPO / "crds").glob("*.yaml")):
            cluster.kubectl("apply", "--server-side", "-f", str(f))
            cluster.kubectl("wait", "--for=condition=Established", "-f", str(f))
        operator = start_operator(cluster, cluster.workdir / "ecs-bench-operator.log")
        api = kubernetes.config.new_client_from_config(config_file=str(cluster.kubeconfig))
        custom, apps, core = (
            kubernetes.client.CustomObjectsApi(api),
            kubernetes.client.AppsV1Api(api),
            kubernetes.client.CoreV1Api(api),
        )
        time.sleep(3)
        results = {}
        for n in counts:
            ns_b, ns_o = f"base-{uuid.uuid4().hex[:6]}", f"ecs-{uuid.uuid4().hex[:6]}"
            for ns in (ns_b, ns_o):
                core.create_namespace({"metadata": {"name": ns}})
                while not core.list_namespaced_service_account(ns).items:
                    time.sleep(0.1)
            base, base_wall = run_baseline(apps, ns_b, n, args.desired)
            dep, steady, wall = run_services(custom, apps, ns_o, n, args.desired)
            results[n] = {
                "baseline_ready_p50_s": pct(base, 50),
                "deployment_exists_p50_s": pct(dep, 50),
                "steady_p50_s": pct(steady, 50),
                "steady_p99_s": pct(steady, 99),
                "wall_s": round(wall, 2),
                "baseline_wall_s": round(base_wall, 2),
            }
            print(f"\n== {n} service(s), desiredCount {args.desired} ==")
            print(summary("baseline: Deployment -> pods Ready", base))
            print(summary("ECSService -> Deployment exists", dep))
            print(summary("ECSService -> steady state", steady))
            print(
                f"throughput: {n / wall:.1f} services/s to steady state (baseline {n / base_wall:.1f} "
                f"deployments/s); steady p50 / baseline p50 = "
                f"{pct(steady, 50) / max(pct(base, 50), 1e-3):.2f}x"
            )
        print(f"\noperator peak RSS: {peak_rss_mib(operator.pid):.0f} MiB")
        print(json.dumps(results, indent=2))
    finally:
        if operator is not None:
            operator.terminate()
            operator.wait(timeout=20)
        cluster.down(log=lambda m: None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
