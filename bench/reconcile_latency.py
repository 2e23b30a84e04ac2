"""Reconcile latency and cost of ECSServices on the local control plane (issue #17 (a) and (b)).

For N services (``--counts``, default 100) of ``--desired`` tasks each (default 3): time from
creating the ECSService to its Deployment existing, and to the service reporting a steady state
(Ready=True). Baseline, in the same run and on the same cluster: the same number of plain
Deployments created directly (no operator), time to all their pods Ready. Both phases create
their objects from one client as fast as it can while a thread polls with raw (undecoded) lists
(every 50 ms; 0.5 s above 100 objects: the figures' resolution).

Prints, per count: percentiles, the ratio operator/baseline (wall time to all steady, the
figure the goal names; and the p50 ratio), API calls per service by verb (from the operator's
own ``/metrics``, the delta over the phase), the operator's CPU seconds per service, and the
operator's peak RSS (VmHWM) -- each next to its goal:

- (a) 100 services x 3 tasks: ratio <= 1.2; ECSService -> Deployment p50 <= 150 ms, p99 <= 500 ms;
- (b) scale (e.g. ``--counts 1000 --desired 10 --nodes 1000``): ratio <= 1.3, peak RSS <= 300 MB.

Other helpers' work on a shared machine slows both phases alike; only the ratios compare.

    .venv/bin/python bench/reconcile_latency.py [--counts 1,100] [--desired 3] [--nodes 0]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
import urllib.request
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import kubernetes
from ecs_operator.dev.cluster import ZONES, LocalCluster, NodeSpec, default_nodes
from ecs_operator.state.slim import slim

REPO = Path(__file__).resolve().parents[1]
G, V = "ecs.seed.dev", "v1alpha1"
CREATORS = 8  # objects are created from this many threads in both phases
GOALS = {
    "ratio_small": 1.2,  # (a) 100 x 3
    "ratio_scale": 1.3,  # (b) 1,000 x 10
    "deploy_p50_s": 0.150,
    "deploy_p99_s": 0.500,
    "rss_mib": 300 * 1000 * 1000 / 2**20,  # 300 MB
}


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


def proc_status(pid: int, key: str) -> float:
    """A /proc/<pid>/status memory figure (VmHWM: peak RSS, VmRSS: now) in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def control_plane_pids(cluster: LocalCluster) -> dict[str, int]:
    """The cluster's processes (kwokctl's binary runtime: each runs a binary from the cluster's
    own bin/ folder), by program name."""
    marker = f"/clusters/{cluster.name}/bin/"
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv0 = (entry / "cmdline").read_bytes().split(b"\0", 1)[0].decode()
        except OSError:
            continue
        if marker in argv0:
            out[argv0.rsplit("/", 1)[1]] = int(entry.name)
    return out


def cpu_by_process(pids: dict[str, int]) -> dict[str, float]:
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


def cpu_report(label: str, before: dict[str, float], after: dict[str, float], wall: float) -> float:
    """Print the CPU seconds each process used over a phase; returns their sum."""
    used = {k: after[k] - before[k] for k in after if k in before}
    total = sum(used.values())
    parts = ", ".join(f"{k} {v:.1f}" for k, v in sorted(used.items(), key=lambda kv: -kv[1]))
    cores = os.cpu_count() or 1
    print(
        f"CPU seconds, {label}: {total:.1f} in {wall:.1f}s wall = {total / max(wall, 1e-3):.2f} of {cores} cores ({parts})"
    )
    return total


_API_LINE = re.compile(r"^ecs_operator_api_requests_total\{([^}]*)\}\s+([0-9.e+]+)$", re.M)


def api_calls(port: int) -> Counter:
    """The operator's API requests so far, by verb (from its /metrics)."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    out: Counter = Counter()
    for labels, value in _API_LINE.findall(text):
        verb = dict(re.findall(r'(\w+)="([^"]*)"', labels)).get("verb", "?")
        out[verb] += int(float(value))
    return out


def raw_items(call, *args) -> list[dict]:
    """A list call's items as plain JSON (the client's model decoding costs more than the poll)."""
    resp = call(*args, _preload_content=False)
    return json.loads(resp.data)["items"]


class Poller:
    """Polls in its own thread while the objects are being created, so each is timed from its
    own creation (creating N objects from one client takes seconds on this machine)."""

    def __init__(self, check, n: int, interval: float):
        self.check, self.n, self.interval = check, n, interval
        self.created: dict[str, float] = {}
        self.create_s: list[float] = []  # each create call's latency
        self.created_all = 0.0  # when the last create returned
        self.seen: dict[str, dict[str, float]] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def mark(self, what: str, name: str, now: float) -> None:
        at = self.created.get(name)
        if at is not None:
            self.seen.setdefault(what, {}).setdefault(name, now - at)

    def _run(self) -> None:
        while not self.stop.is_set():
            self.check(self, time.monotonic())
            self.stop.wait(self.interval)

    def wait(self, what: str, timeout: float) -> float:
        """Wait until every object reached ``what``; the time from the first creation."""
        deadline = time.monotonic() + timeout
        while len(self.seen.get(what, {})) < self.n and time.monotonic() < deadline:
            time.sleep(0.02)
        self.stop.set()
        self.thread.join(30)
        return time.monotonic() - min(self.created.values())

    def values(self, what: str) -> list[float]:
        return list(self.seen.get(what, {}).values())


def run_services(custom, apps, ns: str, n: int, desired: int) -> tuple[list[float], list[float], float, Poller]:
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

    def check(poller: Poller, now: float) -> None:
        for d in raw_items(apps.list_namespaced_deployment, ns):
            poller.mark("deployment", d["metadata"]["name"], now)
        for s in raw_items(custom.list_namespaced_custom_object, G, V, ns, "ecsservices"):
            conditions = (s.get("status") or {}).get("conditions") or []
            if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                poller.mark("steady", s["metadata"]["name"], now)

    poller = Poller(check, n, 0.05 if n <= 100 else 0.5)
    poller.thread.start()

    def create(i: int) -> None:
        name = f"svc-{i}"
        poller.created[name] = time.monotonic()
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
            _preload_content=False,
        )
        poller.create_s.append(time.monotonic() - poller.created[name])

    with ThreadPoolExecutor(CREATORS) as pool:
        list(pool.map(create, range(n)))
    poller.created_all = time.monotonic()
    wall = poller.wait("steady", 600 + n)
    return poller.values("deployment"), poller.values("steady"), wall, poller


def run_baseline(apps, ns: str, n: int, desired: int) -> tuple[list[float], float, Poller]:
    def check(poller: Poller, now: float) -> None:
        for d in raw_items(apps.list_namespaced_deployment, ns):
            if ((d.get("status") or {}).get("readyReplicas") or 0) == desired:
                poller.mark("ready", d["metadata"]["name"], now)

    poller = Poller(check, n, 0.05 if n <= 100 else 0.5)
    poller.thread.start()

    def create(i: int) -> None:
        name = f"dep-{i}"
        labels = {"app": name}
        poller.created[name] = time.monotonic()
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
            _preload_content=False,
        )
        poller.create_s.append(time.monotonic() - poller.created[name])

    with ThreadPoolExecutor(CREATORS) as pool:
        list(pool.map(create, range(n)))
    poller.created_all = time.monotonic()
    wall = poller.wait("ready", 600 + n)
    return poller.values("ready"), wall, poller


def index_memory(api, ns: str) -> tuple[float, float, int]:
    """MiB that the service indexes' entries of ``ns`` (pods, ReplicaSets, Deployments, as the
    API server sends them) take as whole bodies and as slim entries (state/slim.py); objects."""
    texts = []
    for path in (
        "/api/v1/namespaces/{ns}/pods",
        "/apis/apps/v1/namespaces/{ns}/replicasets",
        "/apis/apps/v1/namespaces/{ns}/deployments",
    ):
        resp = api.call_api(
            path.format(ns=ns),
            "GET",
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
            _preload_content=False,
            _return_http_data_only=True,
        )
        texts += [json.dumps(o) for o in json.loads(resp.data)["items"]]
    out = []
    for entry in (dict, slim):
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        kept = [entry(json.loads(t)) for t in texts]
        out.append((tracemalloc.get_traced_memory()[0] - base) / 2**20)
        tracemalloc.stop()
        del kept
    return out[0], out[1], len(texts)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def operator_log(cluster: LocalCluster) -> Path:
    return cluster.workdir / f"{cluster.name}-operator.log"


_CALL = re.compile(r'"(GET|POST|PUT|PATCH|DELETE) (/[^ ?"]*)[^"]*" (\d{3})')


_TRACE_WRAPPER = """
import logging, sys
h = logging.StreamHandler(sys.stderr)
h.setFormatter(logging.Formatter("%(message)s"))
lg = logging.getLogger("urllib3.connectionpool")
lg.setLevel(logging.DEBUG)
lg.addHandler(h)
lg.propagate = False
from ecs_operator.cli import main
sys.exit(main(sys.argv[1:]))
"""


def call_shapes(log: Path, ns: str) -> Counter:
    """The operator's API calls in ``ns`` by method and path shape (the namespace and object
    names replaced), from urllib3's debug lines in its log (``--trace-calls``)."""
    out: Counter = Counter()
    for method, path, code in _CALL.findall(log.read_text(errors="replace")):
        segs = path.split("/")
        if "namespaces" not in segs or segs.index("namespaces") + 1 >= len(segs):
            continue
        j = segs.index("namespaces") + 1
        if segs[j] != ns:
            continue
        segs[j] = "<ns>"
        if len(segs) > j + 2:
            segs[j + 2] = "<name>"
        out[f"{method} {'/'.join(segs)} {code}"] += 1
    return out


def start_operator(cluster: LocalCluster, port: int, verbose: bool = False) -> subprocess.Popen:
    env = dict(os.environ, KUBECONFIG=str(cluster.kubeconfig), PYTHONUNBUFFERED="1")
    log = open(operator_log(cluster), "w")
    args = ["run", "--metrics-port", str(port), "--metrics-address", "127.0.0.1"]
    cmd = [sys.executable, "-m", "ecs_operator.cli", *args]
    if verbose:  # urllib3's request lines (the operator's own API calls), the operator as it runs otherwise
        cmd = [sys.executable, "-c", _TRACE_WRAPPER, *args]
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            api_calls(port)
            return proc
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the operator's /metrics did not answer within 60 s")


def bench_nodes(count: int) -> list[NodeSpec] | None:
    """``count`` m5.large KWOK nodes over the zones (0: the local cluster's default nodes)."""
    if count <= 0:
        return None
    return [NodeSpec(name=f"ip-10-{i // 250}-{i % 250}-{i % 3}", zone=ZONES[i % 3]) for i in range(count)]


def report(n: int, desired: int, base, base_wall, dep, steady, wall, calls: Counter, cpu: float) -> dict:
    scale = n * desired > 300
    goal_ratio = GOALS["ratio_scale"] if scale else GOALS["ratio_small"]
    ratio = wall / max(base_wall, 1e-3)
    print(f"\n== {n} service(s), desiredCount {desired} ==")
    print(summary("baseline: Deployment -> pods Ready", base))
    print(summary("ECSService -> Deployment exists", dep))
    print(summary("ECSService -> steady state", steady))
    print(
        f"all steady: {wall:.1f}s through the operator, {base_wall:.1f}s direct: ratio {ratio:.2f} "
        f"(goal <= {goal_ratio}); steady p50 / baseline p50 = {pct(steady, 50) / max(pct(base, 50), 1e-3):.2f}"
    )
    print(
        f"ECSService -> Deployment p50 {pct(dep, 50) * 1000:.0f} ms (goal <= {GOALS['deploy_p50_s'] * 1000:.0f}), "
        f"p99 {pct(dep, 99) * 1000:.0f} ms (goal <= {GOALS['deploy_p99_s'] * 1000:.0f})"
    )
    total = sum(calls.values())
    per = ", ".join(f"{v} {c / n:.1f}" for v, c in sorted(calls.items(), key=lambda kv: -kv[1]))
    print(f"operator API calls per service: {total / n:.1f} ({per}); operator CPU {cpu / n * 1000:.0f} ms per service")
    return {
        "ratio": round(ratio, 3),
        "baseline_wall_s": round(base_wall, 2),
        "wall_s": round(wall, 2),
        "baseline_ready_p50_s": pct(base, 50),
        "deployment_exists_p50_s": pct(dep, 50),
        "deployment_exists_p99_s": pct(dep, 99),
        "steady_p50_s": pct(steady, 50),
        "steady_p99_s": pct(steady, 99),
        "steady_n": len(steady),
        "api_calls_per_service": round(total / n, 2),
        "api_calls_by_verb": dict(calls),
        "operator_cpu_ms_per_service": round(cpu / n * 1000, 1),
    }


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--counts", default="1,100")
    p.add_argument("--desired", type=int, default=3)
    p.add_argument("--nodes", type=int, default=0, help="KWOK nodes (0: the local cluster's default twelve)")
    p.add_argument(
        "--py-spy",
        default="",
        metavar="PY_SPY",
        help="path of a py-spy binary: sample the operator (all threads) during the services phase; "
        "writes collapsed stacks next to its log",
    )
    p.add_argument(
        "--trace-calls",
        action="store_true",
        help="log the operator's API requests (urllib3) and print them per service by path shape",
    )
    p.add_argument("--cluster", default="ecs-bench", help="the local cluster's name (two runs side by side)")
    args = p.parse_args()
    counts = [int(c) for c in args.counts.split(",")]

    cluster = LocalCluster(name=args.cluster)
    cluster.down(log=lambda m: None)
    t = time.monotonic()
    cluster.up(nodes=bench_nodes(args.nodes), log=lambda m: print(m, file=sys.stderr), timeout=600)
    nodes = args.nodes or len(default_nodes())
    print(
        f"cluster with {nodes} nodes up in {time.monotonic() - t:.1f}s; {os.cpu_count()} cpus, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    operator = None
    try:
        for f in sorted((REPO / "crds").glob("*.yaml")):
            cluster.kubectl("apply", "--server-side", "-f", str(f))
            cluster.kubectl("wait", "--for=condition=Established", "-f", str(f))
        port = free_port()
        operator = start_operator(cluster, port, verbose=args.trace_calls)
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
            pids = control_plane_pids(cluster)
            cpu_b0 = cpu_by_process(pids)
            base, base_wall, base_poller = run_baseline(apps, ns_b, n, args.desired)
            cpu_b1 = cpu_by_process(pids)
            # the operator watches every pod of the cluster (kopf filters labels client-side):
            # what the baseline's pods, none of them ECS tasks, cost it
            print(
                f"operator RSS after the baseline's {n * args.desired} pods: {proc_status(operator.pid, 'VmRSS'):.0f} MiB "
                f"(peak {proc_status(operator.pid, 'VmHWM'):.0f} MiB)"
            )
            pids["operator"] = operator.pid
            cpu_o0 = cpu_by_process(pids)
            calls0, cpu0 = api_calls(port), cpu_seconds(operator.pid)
            spy = None
            if args.py_spy:
                out = cluster.workdir / f"{cluster.name}-operator.{n}.pyspy.txt"
                spy = subprocess.Popen(
                    [args.py_spy, "record", "--nonblocking", "--format", "raw", "-r", "50", "-o", str(out)]
                    + ["--pid", str(operator.pid)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            dep, steady, wall, poller = run_services(custom, apps, ns_o, n, args.desired)
            if spy is not None:
                spy.send_signal(2)  # SIGINT: py-spy writes its file
                spy.wait(60)
                print(f"py-spy samples of the operator: {out}")
            calls = api_calls(port)
            calls.subtract(calls0)
            cpu = cpu_seconds(operator.pid) - cpu0
            cpu_o1 = cpu_by_process(pids)
            results[n] = report(n, args.desired, base, base_wall, dep, steady, wall, +calls, cpu)
            # the ratio's bound on this machine: both phases are CPU-bound on the same cores
            base_cpu = cpu_report("plain Deployments", cpu_b0, cpu_b1, base_wall)
            op_cpu = cpu_report("through the operator", cpu_o0, cpu_o1, wall)
            print(f"CPU ratio (operator phase / baseline phase, every process): {op_cpu / max(base_cpu, 1e-3):.2f}")
            results[n].update(baseline_cpu_s=round(base_cpu, 1), operator_phase_cpu_s=round(op_cpu, 1))
            for label, pl in (("Deployment (baseline)", base_poller), ("ECSService", poller)):
                window = pl.created_all - min(pl.created.values())
                print(
                    f"create {label:<21} calls p50 {pct(pl.create_s, 50) * 1000:5.0f} ms "
                    f"p99 {pct(pl.create_s, 99) * 1000:5.0f} ms; all {n} created in {window:.1f}s ({CREATORS} threads)"
                )
            results[n]["create_p50_ms"] = round(pct(poller.create_s, 50) * 1000, 1)
            results[n]["baseline_create_p50_ms"] = round(pct(base_poller.create_s, 50) * 1000, 1)
            whole, slim_mib, objects = index_memory(api, ns_o)
            print(
                f"index entries of its {objects} pods/ReplicaSets/Deployments: whole bodies {whole:.1f} MiB, "
                f"slim (state/slim.py) {slim_mib:.1f} MiB"
            )
            results[n].update(index_whole_mib=round(whole, 2), index_slim_mib=round(slim_mib, 2))
            if args.trace_calls:
                print("operator API calls per service by path shape (from its -v log):")
                for shape, count in call_shapes(operator_log(cluster), ns_o).most_common():
                    print(f"  {count / n:6.2f}  {shape}")
        peak = proc_status(operator.pid, "VmHWM")
        print(
            f"\noperator peak RSS: {peak:.0f} MiB (goal <= {GOALS['rss_mib']:.0f} MiB = 300 MB); "
            f"now {proc_status(operator.pid, 'VmRSS'):.0f} MiB"
        )
        results["operator_peak_rss_mib"] = round(peak, 1)
        print(json.dumps(results, indent=2))
    finally:
        if operator is not None:
            operator.terminate()
            operator.wait(timeout=20)
        cluster.down(log=lambda m: None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
