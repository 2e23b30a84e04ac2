"""ECS API endpoint throughput and latency, against the Kubernetes API directly, in the same run.

A local cluster (``--name``, default ``ecs-bench-api``, torn down at the end unless ``--keep``;
or ``--kubeconfig`` to use a running one that has no operator of its own), the operator
(``ecs-operator run``) and the endpoint (``ecs-operator api serve``, plain HTTP on the loopback)
as their own processes, a fresh namespace with an access key whose Kubernetes user is allowed by
RBAC there (the key and role ``ecs-operator dev api`` makes). The ECS calls are real SigV4-signed
HTTP requests from boto3, one client per thread; the baselines use the Python Kubernetes client
with the same kubeconfig, one client per thread.

- DescribeServices of 10 services (``default`` cluster, desiredCount 1, steady) in one call,
  by 1 client and by ``--clients`` concurrent clients. Baselines: the same 10 ECSServices read
  with one LIST, and with ten GETs.
- RegisterTaskDefinition of a new spec (a new revision each time; the call returns once the
  operator has registered it), sequentially and by ``--clients`` concurrent clients (one family
  each: registrations of one family are serialised by design, docs/ecs-api.md). Baseline: a
  merge patch of a TaskDefinition's spec, then polling it (every 0.1 s, as the endpoint polls)
  until the operator reports the new revision -- so the ratio is the endpoint's own overhead
  (SigV4, validation, impersonation, the revision lookup, serialisation) on top of the operator.

Prints requests/s, p50 and p99 per figure, each next to its baseline, and the ratios. No
assertion on timings (the answers are checked: 10 services, consecutive revisions).

    .venv/bin/python bench/api_throughput.py [--quick] [--clients 4] [--describes 300] [--registrations 40]
        [--kubeconfig FILE] [--keep] [--name ecs-bench-api]
"""

from __future__ import annotations

import argparse
import functools
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "operator"))

import boto3
import botocore.config
import kubernetes
from ecs_operator.dev.api import kubectl_for, prepare
from ecs_operator.dev.cluster import LocalCluster, cache_root
from ecs_operator.dev.scheduler import free_port, http_ok

REPO = Path(__file__).resolve().parents[1]
G, V = "ecs.seed.dev", "v1alpha1"
REGION = "eu-west-1"
KEY_ID = "AKIABENCHAPI"
USER = "ecs-bench-api"
SERVICES = [f"bench-svc-{i}" for i in range(10)]
POLL = 0.1  # as RegisterTaskDefinition polls the operator (api/operations/taskdefinitions.py)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))]


@dataclass
class Result:
    latencies: list[float]  # seconds, one per call
    wall: float  # seconds from the first call to the last answer, all clients
    answers: list[Any]  # what the calls returned

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.wall if self.wall else float("nan")


def run_load(clients: int, per_client: int, setup: Callable[[int], Any], call: Callable[[Any, int, int], Any]):
    """``clients`` threads, each with its own client ``setup(i)``, each making ``per_client``
    calls ``call(client, i, k)`` as fast as answers come; all start together."""
    start = threading.Barrier(clients + 1)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    answers: list[list[Any]] = [[] for _ in range(clients)]

    def worker(i: int) -> None:
        client = setup(i)
        try:
            start.wait()
            for k in range(per_client):
                t = time.perf_counter()
                answers[i].append(call(client, i, k))
                latencies[i].append(time.perf_counter() - t)
        finally:
            close = getattr(client, "close", None) or getattr(getattr(client, "api_client", None), "close", None)
            if close is not None:
                close()

    with ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(worker, i) for i in range(clients)]
        start.wait()
        t0 = time.perf_counter()
        for f in futures:
            f.result()
        wall = time.perf_counter() - t0
    return Result([x for per in latencies for x in per], wall, [a for per in answers for a in per])


def row(label: str, clients: int, r: Result) -> str:
    return (
        f"  {label:<46} clients={clients:<2} n={len(r.latencies):<4} {r.rate:7.1f} req/s  "
        f"p50={1000 * pct(r.latencies, 50):7.1f} ms  p99={1000 * pct(r.latencies, 99):7.1f} ms"
    )


def ratio(label: str, api: Result, base: Result) -> str:
    return (
        f"  {label:<46} req/s x{api.rate / base.rate:.2f}  p50 x{pct(api.latencies, 50) / pct(base.latencies, 50):.2f}"
        f"  p99 x{pct(api.latencies, 99) / pct(base.latencies, 99):.2f}"
    )


# --- clients ------------------------------------------------------------------------------------


class Bench:
    def __init__(self, kubeconfig: Path, url: str, secret: str, namespace: str):
        self.kubeconfig, self.url, self.secret, self.ns = kubeconfig, url, secret, namespace

    def ecs(self, _: int = 0):
        """A boto3 ECS client of the bench's key (its own session: one per thread), its
        connection open (one untimed call)."""
        ecs = boto3.session.Session().client(
            "ecs",
            region_name=REGION,
            endpoint_url=self.url,
            aws_access_key_id=KEY_ID,
            aws_secret_access_key=self.secret,
            config=botocore.config.Config(retries={"max_attempts": 1}),
        )
        ecs.list_clusters()
        return ecs

    def kube(self, _: int = 0) -> kubernetes.client.CustomObjectsApi:
        """A Kubernetes client of the same kubeconfig, its connection open (one untimed call)."""
        custom = kubernetes.client.CustomObjectsApi(
            kubernetes.config.new_client_from_config(config_file=str(self.kubeconfig))
        )
        custom.list_namespaced_custom_object(G, V, self.ns, "ecsclusters")
        return custom

    # -- the reads
    @staticmethod
    def describe(ecs, _i: int, _k: int) -> None:
        got = ecs.describe_services(cluster="default", services=SERVICES)
        if len(got["services"]) != len(SERVICES) or got["failures"]:
            raise RuntimeError(f"DescribeServices answered {len(got['services'])} services, {got['failures']}")

    def k8s_list(self, custom, _i: int, _k: int) -> None:
        items = custom.list_namespaced_custom_object(G, V, self.ns, "ecsservices")["items"]
        if len(items) != len(SERVICES):
            raise RuntimeError(f"LIST ecsservices answered {len(items)} objects")

    def k8s_gets(self, custom, _i: int, _k: int) -> None:
        for name in SERVICES:
            custom.get_namespaced_custom_object(G, V, self.ns, "ecsservices", name)

    # -- the registrations: a new image each call, so a new spec and a new revision
    @staticmethod
    def containers(tag: str) -> list[dict[str, Any]]:
        return [{"name": "main", "image": f"nginx:{tag}", "memory": 64, "essential": True}]

    def register(self, ecs, i: int, k: int, run: str) -> tuple[int, int]:
        """(family index, the revision RegisterTaskDefinition answered)."""
        td = ecs.register_task_definition(family=f"api-{i}", containerDefinitions=self.containers(f"{run}.{k}"))
        return i, td["taskDefinition"]["revision"]

    def patch_and_wait(self, custom, i: int, k: int, run: str) -> tuple[int, int]:
        """(family index, the revision the operator registered for the patched spec)."""
        name = f"k8s-{i}"
        before = custom.get_namespaced_custom_object(G, V, self.ns, "taskdefinitions", name)
        floor = (before.get("status") or {}).get("revision") or 0
        patched = custom.patch_namespaced_custom_object(
            G, V, self.ns, "taskdefinitions", name, {"spec": {"containerDefinitions": self.containers(f"{run}.{k}")}}
        )
        generation = patched["metadata"]["generation"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            obj = custom.get_namespaced_custom_object(G, V, self.ns, "taskdefinitions", name)
            status = obj.get("status") or {}
            if (status.get("observedGeneration") or 0) >= generation and (status.get("revision") or 0) > floor:
                return i, status["revision"]
            time.sleep(POLL)
        raise RuntimeError(f"the operator did not register {name} generation {generation} within 30 s")


# --- setup --------------------------------------------------------------------------------------


def start_process(what: str, cmd: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    with open(log_path, "w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    log(f"{what}: pid {proc.pid}, log {log_path}")
    return proc


def stop_process(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_for(what: str, ok: Callable[[], bool], timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: the process exited ({proc.returncode})")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout:g} s")
        time.sleep(0.2)


def services_ready(custom, ns: str) -> bool:
    items = custom.list_namespaced_custom_object(G, V, ns, "ecsservices")["items"]
    return len(items) == len(SERVICES) and all(
        (o.get("status") or {}).get("runningCount") == 1
        and any(c["type"] == "Ready" and c["status"] == "True" for c in (o.get("status") or {}).get("conditions", []))
        for o in items
    )


def revision_of(custom, ns: str, name: str) -> int:
    return ((custom.get_namespaced_custom_object(G, V, ns, "taskdefinitions", name).get("status")) or {}).get(
        "revision"
    ) or 0


def populate(bench: Bench, clients: int) -> None:
    """The ``default`` cluster and its 10 services (steady), through the API; one family per
    client for each registration run (revision 1 registered)."""
    ecs, custom = bench.ecs(), bench.kube()
    ecs.create_cluster(clusterName="default")
    ecs.register_task_definition(family="bench-web", containerDefinitions=bench.containers("1.27"))
    for name in SERVICES:
        ecs.create_service(serviceName=name, taskDefinition="bench-web", desiredCount=1)
    for i in range(clients):
        bench.register(ecs, i, 0, "0")
        custom.create_namespaced_custom_object(
            G,
            V,
            bench.ns,
            "taskdefinitions",
            {
                "apiVersion": f"{G}/{V}",
                "kind": "TaskDefinition",
                "metadata": {"name": f"k8s-{i}"},
                "spec": {"family": f"k8s-{i}", "containerDefinitions": bench.containers("0.0")},
            },
        )
    families = [f"k8s-{i}" for i in range(clients)]
    wait_for("revision 1 of the k8s-* families", lambda: all(revision_of(custom, bench.ns, f) for f in families), 60)
    wait_for("10 steady services", lambda: services_ready(custom, bench.ns), 120)


# --- the runs -----------------------------------------------------------------------------------


def bench_reads(bench: Bench, clients: int, n: int) -> None:
    print(f"\n== DescribeServices of {len(SERVICES)} services in one call ({n} calls per run) ==")
    run_load(1, 5, bench.ecs, bench.describe)  # warm up: the endpoint's caches, the API server's
    run_load(1, 5, bench.kube, bench.k8s_list)
    for c in (1, clients):
        per = max(1, n // c)
        api = run_load(c, per, bench.ecs, bench.describe)
        listed = run_load(c, per, bench.kube, bench.k8s_list)
        got = run_load(c, per, bench.kube, bench.k8s_gets)
        print(row("ECS API DescribeServices (boto3, SigV4)", c, api))
        print(row("baseline: k8s LIST ecsservices", c, listed))
        print(row("baseline: k8s GET ecsservices x10", c, got))
        print(ratio("API / LIST", api, listed))
        print(ratio("API / GET x10", api, got))


def bench_registrations(bench: Bench, clients: int, n: int) -> None:
    print(f"\n== RegisterTaskDefinition, a new revision each call ({n} calls per run) ==")
    for run, c in (("1", 1), ("2", clients)):
        per = max(1, n // c)
        api = run_load(c, per, bench.ecs, functools.partial(bench.register, run=run))
        base = run_load(c, per, bench.kube, functools.partial(bench.patch_and_wait, run=run))
        for what, r in (("API", api), ("baseline", base)):
            if len(set(r.answers)) < len(r.answers):  # every call a new revision of its family
                raise RuntimeError(f"{what}: (family, revision) {sorted(r.answers)} repeat")
        print(row("ECS API RegisterTaskDefinition (boto3, SigV4)", c, api))
        print(row("baseline: k8s PATCH spec + wait for revision", c, base))
        print(ratio("API / baseline", api, base))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small counts (about 35 s, the cluster included)")
    ap.add_argument("--clients", type=int, default=4, help="concurrent clients (default 4)")
    ap.add_argument("--describes", type=int, default=300, help="DescribeServices calls per run (default 300)")
    ap.add_argument("--registrations", type=int, default=40, help="registrations per run (default 40)")
    ap.add_argument("--kubeconfig", default=None, help="use this cluster (no operator running) instead of one")
    ap.add_argument("--name", default="ecs-bench-api", help="name of the cluster started here")
    ap.add_argument("--keep", action="store_true", help="leave the started cluster running")
    args = ap.parse_args(argv)
    if args.quick:
        args.describes, args.registrations = 40, 8

    cluster = None if args.kubeconfig else LocalCluster(name=args.name)
    operator = endpoint = None
    ns = f"bench-api-{uuid.uuid4().hex[:6]}"
    custom = None
    try:
        if cluster is not None:
            cluster.down(log=lambda _: None)
            kubeconfig = cluster.up(log=log)
        else:
            kubeconfig = Path(args.kubeconfig)
        kubectl = kubectl_for(kubeconfig)
        for f in sorted((REPO / "crds").glob("*.yaml")):
            for verb in (("apply", "--server-side"), ("wait", "--for=condition=Established")):
                code, _, err = kubectl(*verb, "-f", str(f))
                if code != 0:
                    raise RuntimeError(f"kubectl {verb[0]} {f.name}: {err.strip()}")
        key, _ = prepare(kubectl, keys_namespace=ns, namespace=ns, access_key_id=KEY_ID, user=USER)
        logs = cache_root() / "bench"
        logs.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, KUBECONFIG=str(kubeconfig), PYTHONUNBUFFERED="1", ECS_OPERATOR_SCHEDULER_NAME="")
        cli = [sys.executable, "-m", "ecs_operator.cli"]
        operator = start_process("operator", [*cli, "run"], env, logs / "api-bench-operator.log")
        port = free_port()
        endpoint = start_process(
            "ECS API endpoint",
            [*cli, "api", "serve", "--port", str(port), "--keys-namespace", ns],
            env,
            logs / "api-bench-endpoint.log",
        )
        url = f"http://127.0.0.1:{port}"
        wait_for("the endpoint's /healthz", lambda: http_ok(f"{url}/healthz"), 60, endpoint)
        bench = Bench(kubeconfig, url, key.secret, ns)
        custom = bench.kube()
        t0 = time.monotonic()
        populate(bench, args.clients)
        log(f"ready in {time.monotonic() - t0:.1f}s: cluster default, 10 steady services, {args.clients} families each")
        print(f"ECS API endpoint {url}, namespace {ns}; {os.cpu_count()} CPUs shared by the clients, the endpoint,")
        print("the operator and the control plane")
        bench_reads(bench, args.clients, args.describes)
        bench_registrations(bench, args.clients, args.registrations)
    finally:
        stop_process(endpoint)
        if cluster is not None and not args.keep:
            stop_process(operator)
            cluster.down(log=lambda _: None)
        else:
            if custom is not None:  # while the operator runs: it removes its finalizers
                delete_namespace(kubernetes.client.CoreV1Api(custom.api_client), ns)
            stop_process(operator)
    return 0


def delete_namespace(core, ns: str) -> None:
    try:
        core.delete_namespace(ns)
        wait_for(
            f"namespace {ns} deleted", lambda: not any(n.metadata.name == ns for n in core.list_namespace().items), 120
        )
    except (kubernetes.client.ApiException, RuntimeError) as e:
        log(f"cleanup: {e}")


if __name__ == "__main__":
    sys.exit(main())
