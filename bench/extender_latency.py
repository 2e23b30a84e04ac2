"""ECS placement extender latency: filter and prioritize per call, in-process, no cluster.

Synthetic clusters of 100 and 1,000 nodes (three zones, five instance types, EKS-like labels,
custom attributes, a few images per node) with ~10 pods per node (ECS service tasks, standalone
tasks, system pods). The pod being placed asks for
``memberOf(attribute:ecs.instance-type =~ m5.* or attribute:stack == prod)``, ``distinctInstance``
and ``spread(attribute:ecs.availability-zone), binpack(memory)``.

The extender serves from its watch cache (``extender.cache.WatchCache``, as ``ecs-operator
extender`` does), fed by an in-process source that lists the synthetic objects and then streams
the watch events the bench pushes. For each cluster size it prints:

- the cache: time to list and sync, to build the first snapshot, and how many pod events per
  second it applies;
- a full garbage collection's pause with the cache loaded, and after ``gc.freeze()`` (what the
  extender does once synced);
- HTTP: POST /filter and /prioritize on loopback (keep-alive), with ``NodeNames``
  (nodeCacheCapable: true) and with a full ``Nodes`` list (nodeCacheCapable: false), p50/p99;
  prioritize also with only the nodes that pass the filter (what kube-scheduler sends it);
- HTTP ``NodeNames`` again while ``--churn`` pod events per second arrive (each request then
  usually rebuilds the snapshot: the touched instances, and the maps over all nodes);
- baseline, same run: the same request through ``Extender`` without HTTP/JSON, and the pure
  placement functions alone (``filter_instances`` / ``score_instances`` on the snapshot).

Goal (issue #17): filter and prioritize p99 <= 5 ms at 1,000 nodes.

    .venv/bin/python bench/extender_latency.py [--sizes 100,1000] [--seconds 3] [--churn 100] [--events 20000]
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import queue
import random
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "operator"))

from ecs_operator.domain.placement import filter_instances, score_instances, spec_from_pod
from ecs_operator.extender.cache import NODES, PODS, WatchCache
from ecs_operator.extender.main import SWITCH_INTERVAL
from ecs_operator.extender.server import make_server
from ecs_operator.extender.synthetic import cluster, pod
from ecs_operator.extender.verbs import Extender

POD = pod(
    "web-7d4b9c-x2k1p",
    service="svc-3",
    cpu="256m",
    memory="512Mi",
    constraints=[
        {"type": "memberOf", "expression": "attribute:ecs.instance-type =~ m5.* or attribute:stack == prod"},
        {"type": "distinctInstance"},
    ],
    strategy=[{"type": "spread", "field": "attribute:ecs.availability-zone"}, {"type": "binpack", "field": "memory"}],
)


class SyntheticSource:
    """The cache's Source, in-process: lists the synthetic objects (API-shaped, full), then
    streams the events put on ``events[kind]``."""

    def __init__(self, nodes: list[dict], pods: list[dict]):
        self.items = {NODES: nodes, PODS: pods}
        self.events = {NODES: queue.Queue(), PODS: queue.Queue()}

    def list(self, kind):
        return list(self.items[kind]), "1"

    def watch(self, kind, resource_version, timeout_seconds, stop):
        q = self.events[kind]
        while not stop.is_set():
            try:
                yield q.get(timeout=0.2)
            except queue.Empty:
                continue


def pod_events(pods: list[dict], n: int, seed: int = 1) -> list[dict]:
    """``n`` MODIFIED events of bound pods: phase flips (Running <-> Pending) with a new
    resourceVersion, as kubelet status updates would be."""
    rng = random.Random(seed)
    bound = [p for p in pods if p["spec"].get("nodeName") and p["status"]["phase"] in ("Running", "Pending")]
    out = []
    for i in range(n):
        p = rng.choice(bound)
        phase = "Pending" if p["status"]["phase"] == "Running" else "Running"
        p = {**p, "metadata": {**p["metadata"], "resourceVersion": str(10_000 + i)}, "status": {"phase": phase}}
        out.append({"type": "MODIFIED", "object": p})
    return out


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def measure(fn, *, max_iter: int, seconds: float) -> list[float]:
    fn()  # warm up (caches, connection)
    out = []
    deadline = time.perf_counter() + seconds
    for _ in range(max_iter):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
        if time.perf_counter() > deadline and len(out) >= 5:
            break
    return out


def row(label: str, samples: list[float]) -> None:
    print(f"  {label:<44} p50 {pct(samples, 0.5):8.2f} ms   p99 {pct(samples, 0.99):8.2f} ms   (n={len(samples)})")


def bench(n_nodes: int, seconds: float, churn: float, n_events: int = 20_000) -> None:
    nodes, pods = cluster(n_nodes, pods_per_node=10)
    source = SyntheticSource(nodes, pods)
    t = time.perf_counter()
    view = WatchCache(source).start()
    assert view.wait_synced(60)
    sync_ms = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    snap = view.snapshot()
    build_ms = (time.perf_counter() - t) * 1000
    events = pod_events(pods, n_events)
    reflector = view.reflectors[PODS]
    before = reflector.events
    t = time.perf_counter()
    for e in events:
        source.events[PODS].put(e)
    while reflector.events < before + len(events):
        time.sleep(0.001)
    rate = len(events) / (time.perf_counter() - t)
    names = [n["metadata"]["name"] for n in nodes]
    by_names = json.dumps({"Pod": POD, "NodeNames": names}).encode()
    by_nodes = json.dumps({"Pod": POD, "Nodes": {"items": nodes}}).encode()
    print(
        f"{n_nodes} nodes, {len(pods)} pods: watch cache listed and synced in {sync_ms:.0f} ms, first snapshot "
        f"{build_ms:.0f} ms, {rate:,.0f} pod events/s applied; request bodies {len(by_names) / 1024:.0f} KiB "
        f"(NodeNames), {len(by_nodes) / 1024:.0f} KiB (Nodes)"
    )
    snap = view.snapshot()
    t = time.perf_counter()
    gc.collect()
    full_ms = (time.perf_counter() - t) * 1000
    gc.freeze()  # as `ecs-operator extender` does once its cache is synced
    t = time.perf_counter()
    gc.collect()
    frozen_ms = (time.perf_counter() - t) * 1000
    print(
        f" full garbage collection: {full_ms:.0f} ms; after gc.freeze() (the extender's, once synced): {frozen_ms:.1f} ms"
    )

    srv = make_server(view, "127.0.0.1", 0)
    th = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    th.start()
    conn = http.client.HTTPConnection(*srv.server_address[:2], timeout=60)

    def post(path: str, body: bytes):
        def go():
            conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
            assert resp.status == 200, data[:200]

        return go

    big = 200 if n_nodes <= 100 else 60
    # kube-scheduler sends prioritize only the nodes that passed the filters: this row's request.
    feasible = filter_instances(spec_from_pod(POD), [snap.instances[n] for n in names]).passed
    by_feasible = json.dumps({"Pod": POD, "NodeNames": feasible}).encode()
    try:
        print(" HTTP (loopback, keep-alive)")
        row("filter      NodeNames", measure(post("/filter", by_names), max_iter=big * 2, seconds=seconds))
        row("prioritize  NodeNames", measure(post("/prioritize", by_names), max_iter=big * 2, seconds=seconds))
        row(
            f"prioritize  NodeNames ({len(feasible)} feasible)",
            measure(post("/prioritize", by_feasible), max_iter=big * 2, seconds=seconds),
        )
        row("filter      Nodes (full NodeList)", measure(post("/filter", by_nodes), max_iter=big, seconds=seconds))
        row("prioritize  Nodes (full NodeList)", measure(post("/prioritize", by_nodes), max_iter=big, seconds=seconds))
        if churn > 0:
            stop = threading.Event()
            more = iter(pod_events(pods, 1_000_000, seed=2))

            def push():
                while not stop.wait(1 / churn):
                    source.events[PODS].put(next(more))

            pusher = threading.Thread(target=push, daemon=True)
            pusher.start()
            try:
                print(f" HTTP while {churn:g} pod events/s arrive")
                row("filter      NodeNames", measure(post("/filter", by_names), max_iter=big * 2, seconds=seconds))
                row("prioritize  NodeNames", measure(post("/prioritize", by_names), max_iter=big * 2, seconds=seconds))
            finally:
                stop.set()
                pusher.join(5)
    finally:
        conn.close()
        srv.shutdown()
        srv.server_close()
        th.join(5)
        view.stop()
        gc.unfreeze()

    ext = Extender(view)
    args_names = {"Pod": POD, "NodeNames": names}
    args_nodes = {"Pod": POD, "Nodes": {"items": nodes}}
    print(" baseline: Extender without HTTP/JSON")
    row("filter      NodeNames", measure(lambda: ext.filter(args_names), max_iter=big * 4, seconds=seconds))
    row("prioritize  NodeNames", measure(lambda: ext.prioritize(args_names), max_iter=big * 4, seconds=seconds))
    row("filter      Nodes", measure(lambda: ext.filter(args_nodes), max_iter=big * 4, seconds=seconds))
    print(" baseline: pure placement functions")
    insts = [snap.instances[n] for n in names]
    everything = list(snap.instances.values())

    def pure_filter():
        filter_instances(spec_from_pod(POD), insts)

    def pure_score():
        spec = spec_from_pod(POD)
        passed = set(filter_instances(spec, insts).passed)
        score_instances(spec, [i for i in insts if i.name in passed], everything)

    row("filter_instances", measure(pure_filter, max_iter=big * 4, seconds=seconds))
    row("filter + score_instances", measure(pure_score, max_iter=big * 4, seconds=seconds))
    spec = spec_from_pod(POD)
    passed = filter_instances(spec, insts).passed
    print(f"  ({len(passed)} of {n_nodes} nodes pass the filter)")


GOAL = "goal (issue #17): filter and prioritize p99 <= 5 ms at 1,000 nodes (HTTP, NodeNames)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="100,1000")
    ap.add_argument("--seconds", type=float, default=3.0, help="time cap per measurement")
    ap.add_argument("--churn", type=float, default=100, help="pod events per second during the churn rows (0: none)")
    ap.add_argument("--events", type=int, default=20_000, help="pod events pushed to time the cache's event rate")
    args = ap.parse_args(argv)
    sys.setswitchinterval(SWITCH_INTERVAL)  # as `ecs-operator extender` runs
    print(f"python {sys.version.split()[0]}; thread switch interval {SWITCH_INTERVAL * 1000:g} ms; {GOAL}")
    for n in (int(x) for x in args.sizes.split(",")):
        bench(n, args.seconds, args.churn, args.events)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
