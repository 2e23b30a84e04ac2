"""Scheduling throughput: the ecs-scheduler (kube-scheduler + ECS placement extender) against
a plain kube-scheduler, on the local control plane, in the same run.

A cluster of ``--nodes`` KWOK nodes (m5.large, over us-east-1a/b/c) -- started here
(``--name``, default ``ecs-sched-bench``, torn down at the end unless ``--keep``) or reused from
a kubeconfig (``--kubeconfig`` / ``ECS_OPERATOR_BENCH_KUBECONFIG``; the bench's nodes are then
added and removed again). The workload is ``--pods`` bare pods of one ECS service, with the pod
template the operator renders for ``placementStrategy: spread(attribute:ecs.availability-zone),
binpack(memory)`` (labels, ``ecs.seed.dev/*`` annotations, cluster node affinity; 125m/256Mi).

``--mode queued`` (default): all pods are created first, then the scheduler is started, so
what is measured is the scheduler draining a queue of pending pods (creating pods on this
machine is slower than either scheduler). Both runs use the same kube-scheduler binary and
client settings (qps 200 / burst 400, the ecs-scheduler's), started by this bench:

(a) the ecs-scheduler: a private extender + kube-scheduler (``ecs-scheduler-bench``, the
    configuration of ``dev/scheduler.py``; ``--no-bind``: without the extender's bind verb;
    ``--no-inflight``: without its in-flight tracking, to see what a burst does without it);
(b) a plain kube-scheduler: the same configuration without the extender (``default-bench``).

``--mode live``: pods are created while the schedulers run; (a) as above, (b) pods without
``schedulerName``, i.e. the cluster's own default kube-scheduler (bounded by how fast pods
can be created; the creation rate is printed next to it).

For each run: pods/s over the bind window (first pod bound to last), pods/s from the start
(the scheduler's start, or the first create), zone balance and nodes used; the ratio (a)/(b);
and the extender's own per-call latency (p50/p99, handling and JSON, from its /metrics) with
its in-flight waits.

    .venv/bin/python bench/scheduling_throughput.py [--nodes 100] [--pods 500] [--mode queued|live]
        [--no-bind] [--no-inflight] [--threads 8] [--kubeconfig FILE] [--keep] [--runs a,b]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "operator"))

import kubernetes
import yaml
from ecs_operator.convert import render
from ecs_operator.dev.cluster import ZONES, LocalCluster, NodeSpec, bin_dir, node_manifest
from ecs_operator.dev.scheduler import EcsScheduler, free_port, scheduler_config
from ecs_operator.extender.kube import RawWatch

BENCH_SCHEDULER = "ecs-scheduler-bench"
STRATEGY = [{"type": "spread", "field": "attribute:ecs.availability-zone"}, {"type": "binpack", "field": "memory"}]


def bench_nodes(n: int) -> list[NodeSpec]:
    return [NodeSpec(name=f"bench-{ZONES[i % 3][-2:]}-{i // 3:03d}", zone=ZONES[i % 3]) for i in range(n)]


def pod_template() -> dict:
    """The pod template the operator renders for the service (offline, as ``ecs-operator render``)."""
    objs, _ = render(
        [
            {
                "apiVersion": "ecs.seed.dev/v1alpha1",
                "kind": "TaskDefinition",
                "metadata": {"name": "bench"},
                "spec": {
                    "family": "bench",
                    "containerDefinitions": [{"name": "app", "image": "nginx", "cpu": 128, "memory": 256}],
                },
            },
            {
                "apiVersion": "ecs.seed.dev/v1alpha1",
                "kind": "ECSService",
                "metadata": {"name": "bench"},
                "spec": {"taskDefinition": "bench", "desiredCount": 1, "placementStrategy": STRATEGY},
            },
        ]
    )
    return next(o for o in objs if o["kind"] == "Deployment")["spec"]["template"]


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))] if xs else float("nan")


class BindWatcher:
    """Records when each pod of a namespace is first seen bound (spec.nodeName)."""

    def __init__(self, core: kubernetes.client.CoreV1Api, namespace: str):
        self.core, self.ns = core, namespace
        self.bound: dict[str, tuple[float, str]] = {}
        self.lock = threading.Lock()
        self._stop = threading.Event()
        rv = json.loads(core.list_namespaced_pod(namespace, _preload_content=False).data)["metadata"]["resourceVersion"]
        self._w = RawWatch()
        self._t = threading.Thread(target=self._run, args=(rv,), daemon=True)
        self._t.start()

    def _run(self, rv: str) -> None:
        while not self._stop.is_set():
            try:
                for e in self._w.stream(
                    self.core.list_namespaced_pod,
                    self.ns,
                    resource_version=rv,
                    timeout_seconds=300,
                    _request_timeout=(10, 320),
                ):
                    obj = e.get("object") or {}
                    rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
                    node = (obj.get("spec") or {}).get("nodeName")
                    if node:
                        now = time.monotonic()
                        with self.lock:
                            self.bound.setdefault(obj["metadata"]["name"], (now, node))
                    if self._stop.is_set():
                        return
            except Exception as e:
                if not self._stop.is_set():
                    print(f"  (bind watch restarted: {e})", file=sys.stderr)
                    time.sleep(0.5)

    def count(self) -> int:
        with self.lock:
            return len(self.bound)

    def stop(self) -> None:
        self._stop.set()
        self._w.stop()


def run_phase(
    label: str,
    core,
    template: dict,
    n_pods: int,
    threads: int,
    scheduler: str | None,
    zone_of: dict[str, str],
    timeout: float,
    start=None,
) -> dict:
    """Create the pods (for ``scheduler``; None: the default scheduler) and wait until all are
    bound. ``start``: called once every pod exists (starts the scheduler; queued mode)."""
    ns = f"sched-bench-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": ns}})
    deadline = time.monotonic() + 30
    while not core.list_namespaced_service_account(ns, field_selector="metadata.name=default").items:
        if time.monotonic() > deadline:
            raise RuntimeError("no default service account")
        time.sleep(0.1)
    spec = json.loads(json.dumps(template["spec"]))
    if scheduler:
        spec["schedulerName"] = scheduler
    md = template["metadata"]
    watcher = BindWatcher(core, ns)

    def create(i: int) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"bench-{i:04d}", "labels": md["labels"], "annotations": md["annotations"]},
            "spec": spec,
        }
        resp = core.create_namespaced_pod(ns, body, _preload_content=False)
        resp.data  # noqa: B018 - read it, so the connection goes back to the pool
        resp.release_conn()

    extra: dict = {}
    try:
        t_create = time.monotonic()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(create, range(n_pods)))
        t_created = time.monotonic()
        t0 = t_create
        if start is not None:
            if watcher.count():
                raise RuntimeError(f"{label}: {watcher.count()} pods bound before the scheduler started")
            t0 = time.monotonic()
            extra = start() or {}
        end = time.monotonic() + timeout
        while watcher.count() < n_pods and time.monotonic() < end:
            time.sleep(0.05)
        bound = dict(watcher.bound)
        if "after" in extra:
            extra = extra["after"]()
    finally:
        watcher.stop()
        core.delete_namespace(ns, propagation_policy="Background")
    if len(bound) < n_pods:
        raise RuntimeError(f"{label}: only {len(bound)} of {n_pods} pods bound after {timeout:.0f}s")
    times = sorted(t for t, _ in bound.values())
    nodes = Counter(node for _, node in bound.values())
    zones = Counter(zone_of.get(node, "?") for node in nodes.elements())
    total = times[-1] - t0
    window = times[-1] - times[0]
    return {
        "label": label,
        "namespace": ns,
        "pods": n_pods,
        "create_s": t_created - t_create,
        "create_rate": n_pods / (t_created - t_create),
        "total_s": total,
        "pods_per_s": n_pods / total,
        "bind_window_s": window,
        "bind_window_rate": (n_pods - 1) / window if window > 0 else float("inf"),
        "zones": dict(sorted(zones.items())),
        "nodes_used": len(nodes),
        "max_per_node": max(nodes.values()),
        "extender": extra,
    }


class PlainScheduler:
    """kube-scheduler with the ecs-scheduler's configuration minus the extender."""

    def __init__(self, kubeconfig: Path, bins: Path, workdir: Path, name: str = "default-bench"):
        self.kubeconfig, self.bins, self.workdir, self.name = kubeconfig, bins, workdir, name
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> None:
        cfg = scheduler_config(self.kubeconfig, 0, name=self.name)
        del cfg["extenders"]
        conf = self.workdir / f"{self.name}.yaml"
        conf.write_text(yaml.safe_dump(cfg))
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        with open(self.workdir / f"{self.name}.log", "w") as out:
            self.proc = subprocess.Popen(
                [
                    str(self.bins / "kube-scheduler"),
                    "--config",
                    str(conf),
                    "--bind-address",
                    "127.0.0.1",
                    "--secure-port",
                    str(port),
                    "--cert-dir",
                    str(self.workdir / f"{self.name}.certs"),
                    "--authentication-skip-lookup",
                    "--authorization-always-allow-paths",
                    "/healthz,/readyz,/livez,/metrics",
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        deadline = time.monotonic() + timeout
        while True:
            try:
                if urllib.request.urlopen(f"https://127.0.0.1:{port}/readyz", timeout=1, context=ctx).status == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"{self.name} did not start: {(self.workdir / f'{self.name}.log').read_text()[-2000:]}"
                )
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def wait_gone(core, namespaces: list[str], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        names = {n.metadata.name for n in core.list_namespace().items}
        if not names & set(namespaces):
            return
        time.sleep(0.5)


def extender_metrics(port: int) -> dict:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out: dict = {}
    for line in text.splitlines():
        m = re.match(r'ecs_extender_request_duration_seconds\{verb="(\w+)",quantile="([\d.]+)"\} ([\d.e+-]+)', line)
        if m:
            out.setdefault(m[1], {})[f"p{int(float(m[2]) * 100)}"] = float(m[3]) * 1000
            continue
        m = re.match(r'ecs_extender_api_duration_seconds\{call="(\w+)",quantile="([\d.]+)"\} ([\d.e+-]+)', line)
        if m:
            out.setdefault(f"{m[1]} API call", {})[f"p{int(float(m[2]) * 100)}"] = float(m[3]) * 1000
            continue
        m = re.match(r'ecs_extender_api_duration_seconds_count\{call="(\w+)"\} (\d+)', line)
        if m:
            out.setdefault(f"{m[1]} API call", {})["count"] = int(m[2])
            continue
        m = re.match(r'ecs_extender_request_duration_seconds_count\{verb="(\w+)"\} (\d+)', line)
        if m:
            out.setdefault(m[1], {})["count"] = int(m[2])
            continue
        m = re.match(r"(ecs_extender_inflight_\w+|ecs_extender_binds\w*)(\{[^}]*\})? ([\d.e+-]+)", line)
        if m:
            out[m[1] + (m[2] or "")] = float(m[3])
    return out


def show(r: dict, queued: bool) -> None:
    zones = "/".join(str(v) for v in r["zones"].values())
    since = "the scheduler's start" if queued else "the first create"
    print(
        f"  {r['label']:<34} {r['bind_window_rate']:6.1f} pods/s over the bind window ({r['bind_window_s']:.2f}s); "
        f"{r['pods_per_s']:6.1f} pods/s from {since} ({r['total_s']:.2f}s); created at {r['create_rate']:.0f}/s; "
        f"zones {zones}, {r['nodes_used']} nodes used, max {r['max_per_node']} per node"
    )


def show_extender(m: dict) -> None:
    print("  extender per call (server side, JSON included):")
    for verb in ("filter", "prioritize", "bind", "bind API call"):
        if verb in m:
            v = m[verb]
            print(f"    {verb:<13} p50 {v['p50']:6.2f} ms  p99 {v['p99']:6.2f} ms  (n={v['count']})")
    waits = m.get("ecs_extender_inflight_waits_total", 0)
    wait_s = m.get("ecs_extender_inflight_wait_seconds_total", 0)
    print(
        f"    in-flight waits {int(waits)} (mean {1000 * wait_s / waits if waits else 0:.2f} ms), "
        f"timeouts {int(m.get('ecs_extender_inflight_timeouts_total', 0))}; binds assumed "
        f"{int(m.get('ecs_extender_binds_assumed_total', 0))}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--pods", type=int, default=500)
    ap.add_argument("--mode", choices=["queued", "live"], default="queued")
    ap.add_argument("--no-bind", action="store_true", help="the ecs-scheduler without the extender's bind verb")
    ap.add_argument(
        "--no-inflight",
        action="store_true",
        help="the extender without in-flight tracking (ECS_OPERATOR_EXTENDER_INFLIGHT_TIMEOUT=0)",
    )
    ap.add_argument("--threads", type=int, default=8, help="parallel pod creators")
    ap.add_argument(
        "--kubeconfig",
        default=os.environ.get("ECS_OPERATOR_BENCH_KUBECONFIG"),
        help="reuse this cluster (default: start one)",
    )
    ap.add_argument("--name", default="ecs-sched-bench", help="name of the cluster started here")
    ap.add_argument("--keep", action="store_true", help="leave the started cluster running")
    ap.add_argument("--runs", default="a,b", help="which runs, in order: a (ecs-scheduler), b (plain/default)")
    ap.add_argument("--timeout", type=float, default=300)
    args = ap.parse_args(argv)
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    queued = args.mode == "queued"
    if args.no_inflight:
        os.environ["ECS_OPERATOR_EXTENDER_INFLIGHT_TIMEOUT"] = "0"  # inherited by the extender process

    specs = bench_nodes(args.nodes)
    zone_of = {s.name: s.zone for s in specs}
    cluster = None
    if args.kubeconfig:
        kubeconfig = Path(args.kubeconfig)
    else:
        cluster = LocalCluster(name=args.name)
        t = time.monotonic()
        kubeconfig = cluster.up(nodes=specs, log=log)
        log(f"cluster with {args.nodes} nodes up in {time.monotonic() - t:.1f}s")
    api = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
    core = kubernetes.client.CoreV1Api(api)
    added_nodes: list[str] = []
    tmp = tempfile.TemporaryDirectory(prefix="sched-bench-")
    workdir = Path(tmp.name)
    sched = EcsScheduler(
        kubeconfig=kubeconfig,
        bins=bin_dir(),
        workdir=workdir,
        cluster="bench",
        name=BENCH_SCHEDULER,
        bind=not args.no_bind,
    )
    plain = PlainScheduler(kubeconfig, bin_dir(), workdir)
    namespaces: list[str] = []
    try:
        if cluster is None:  # add the bench's nodes to the reused cluster
            have = {n.metadata.name for n in core.list_node().items}
            for s in specs:
                if s.name not in have:
                    core.create_node(node_manifest(s))
                    added_nodes.append(s.name)
            deadline = time.monotonic() + 120
            while True:
                ready = sum(
                    1
                    for n in core.list_node().items
                    if n.metadata.name in zone_of
                    and any(c.type == "Ready" and c.status == "True" for c in (n.status.conditions or []))
                )
                if ready == len(specs):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"only {ready} of {len(specs)} bench nodes Ready")
                time.sleep(0.5)
        others = [n.metadata.name for n in core.list_node().items if n.metadata.name not in zone_of]
        if others:
            log(f"note: {len(others)} other nodes in the cluster also take pods")
        template = pod_template()
        per_zone = Counter(s.zone for s in specs)
        print(
            f"{len(specs)} KWOK m5.large nodes ({'/'.join(str(per_zone[z]) for z in ZONES)} per zone), "
            f"{args.pods} pods per run: spread(zone), binpack(memory), 125m/256Mi; mode {args.mode}; "
            f"ecs-scheduler {'without' if args.no_bind else 'with'} the bind verb"
            f"{', without in-flight tracking' if args.no_inflight else ''}; "
            f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load average {os.getloadavg()[0]:.1f}"
        )

        def start_ecs():
            t = time.monotonic()
            sched.start(log=log)
            log(f"  ecs-scheduler (bench instance) ready in {time.monotonic() - t:.1f}s")
            return {"after": lambda: extender_metrics(sched.extender_port)}

        def start_plain():
            plain.start()
            return {}

        results = {}
        for run in args.runs.split(","):
            if run == "a":
                if not queued:
                    start_ecs()
                r = run_phase(
                    "(a) ecs-scheduler + extender",
                    core,
                    template,
                    args.pods,
                    args.threads,
                    BENCH_SCHEDULER,
                    zone_of,
                    args.timeout,
                    start=start_ecs if queued else None,
                )
                if not queued:
                    r["extender"] = extender_metrics(sched.extender_port)
                sched.stop()
            elif queued:
                r = run_phase(
                    "(b) plain kube-scheduler",
                    core,
                    template,
                    args.pods,
                    args.threads,
                    plain.name,
                    zone_of,
                    args.timeout,
                    start=start_plain,
                )
                plain.stop()
            else:
                r = run_phase(
                    "(b) default kube-scheduler", core, template, args.pods, args.threads, None, zone_of, args.timeout
                )
            namespaces.append(r["namespace"])
            show(r, queued)
            if r["extender"]:
                show_extender(r["extender"])
            results[run] = r
            wait_gone(core, namespaces)
        if "a" in results and "b" in results:
            a, b = results["a"], results["b"]
            print(
                f"  ratio (a)/(b): {a['bind_window_rate'] / b['bind_window_rate']:.2f} over the bind windows, "
                f"{a['pods_per_s'] / b['pods_per_s']:.2f} from the start"
            )
        if "a" in results:
            zones = list(results["a"]["zones"].values())
            spread = max(zones) - min(zones) if zones else 0
            print(
                f"  goal (issue #17): ratio >= 0.8 while the burst lands within 1 of even across zones: "
                f"(a) zones {'/'.join(map(str, zones))}, max - min = {spread} ({'met' if spread <= 1 else 'NOT met'})"
            )
        print(json.dumps(results, default=str))
    finally:
        sched.stop()
        plain.stop()
        for ns in namespaces:
            try:
                core.delete_namespace(ns)
            except kubernetes.client.ApiException:
                pass
        for name in added_nodes:
            core.delete_node(name)
        tmp.cleanup()
        if cluster is not None and not args.keep:
            cluster.down(log=lambda m: None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
