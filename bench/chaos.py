"""API server chaos and operator failover, long variants (short ones: tests/integration/test_chaos.py
and test_ha.py, part of `make test`). Prints figures; asserts nothing.

On a cluster of its own (``ecs-chaos-bench``, API Priority and Fairness on), with one operator
running as a ServiceAccount of its own (tests/integration/test_chaos.py: ``chaos_environment``):

- crash: ``--services`` services of 3 tasks roll to a new revision; kube-apiserver is SIGKILLed
  mid-rollout and restarted after ``--down`` seconds; seconds from the restart to every service's
  exact final state, ``--rounds`` times;
- freeze: kube-apiserver SIGSTOPped for ``--freeze`` seconds (default 90, above the operator's
  60 s request timeout) while every service scales; seconds from SIGCONT to the exact state;
- compaction: the operator SIGSTOPped while every service scales, etcd compacted, the API server
  restarted (its watch cache starts anew: old resourceVersions are 410 Gone); watch streams
  restarted on 410 and seconds to the exact state;
- conflict: a second writer fights over one Deployment's replicas and its service's status for
  ``--fight`` seconds; writes of each side, and the operator's writes in the 30 s after;
- throttle: APF gives the operator's identity 0 seats and rejects (one request at a time passes,
  every concurrent one is answered 429) for ``--throttle`` seconds while ``--services`` services
  are created, then all scaled every 10 s and once more at the end; 429s as the API server counted them
  (``apiserver_flowcontrol_rejected_requests_total``) and as the operator saw them, its request
  rate while throttled, seconds to the exact state after the limit is lifted;
- failover: two `run --leader-elect` candidates; the leader is SIGKILLed ``--failovers`` times;
  seconds from the kill until a change made right after it is reconciled (p50, max).

    .venv/bin/python bench/chaos.py [--services 20] [--rounds 3] [--down 5] [--freeze 90]
        [--fight 60] [--throttle 60] [--failovers 5] [--only crash,freeze,...]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import kubernetes  # noqa: E402

from tests.cluster_fixtures import _free_port, http_ok  # noqa: E402
from tests.integration import test_chaos as tc  # noqa: E402
from tests.integration.kube import wait_for  # noqa: E402
from tests.integration.test_taskdefinition import G, V  # noqa: E402

SCENARIOS = ("crash", "freeze", "compaction", "conflict", "throttle", "failover")


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] if values else float("nan")


def services(chaos: tc.Chaos, n: int, count: int = 3) -> tuple[str, list[str]]:
    ns = chaos.namespace()
    names = [f"s{i}" for i in range(n)]
    for name in names:
        chaos.start_service(ns, name, count)
    for name in names:
        chaos.wait_exact(ns, name, count, timeout=300)
    return ns, names


def all_exact(chaos: tc.Chaos, ns: str, names: list[str], count: int, revision: int, image: str, timeout=600) -> None:
    for name in names:
        chaos.wait_exact(ns, name, count, revision=revision, image=image, timeout=timeout)


def crash(chaos: tc.Chaos, args) -> None:
    ns, names = services(chaos, args.services)
    for r in range(args.rounds):
        image = f"nginx:1.{28 + r}"
        for name in names:
            tc._new_revision(chaos, ns, name, image)
        time.sleep(1)  # mid-rollout
        chaos.cluster.kill("kube-apiserver")
        time.sleep(args.down)
        chaos.cluster.start("kube-apiserver")
        back = time.monotonic()
        chaos.cluster.wait_ready()
        all_exact(chaos, ns, names, 3, r + 2, image)
        print(f"crash round {r + 1}: {len(names)} services exact {time.monotonic() - back:.1f} s after the restart")


def freeze(chaos: tc.Chaos, args) -> None:
    ns, names = services(chaos, args.services)
    for name in names:
        chaos.custom.patch_namespaced_custom_object(G, V, ns, "ecsservices", name, {"spec": {"desiredCount": 4}})
    with chaos.cluster.frozen("kube-apiserver"):
        time.sleep(args.freeze)
    thawed = time.monotonic()
    all_exact(chaos, ns, names, 4, 1, "nginx:1.27")
    print(f"freeze {args.freeze} s: {len(names)} services exact {time.monotonic() - thawed:.1f} s after SIGCONT")


def compaction(chaos: tc.Chaos, args) -> None:
    ns, names = services(chaos, args.services)
    before = chaos.log.read_text().count("Restarting the watch-stream")
    chaos.operator.send_signal(signal.SIGSTOP)
    try:
        for name in names:
            chaos.custom.patch_namespaced_custom_object(G, V, ns, "ecsservices", name, {"spec": {"desiredCount": 2}})
        revision = chaos.cluster.compact()
        chaos.cluster.kill("kube-apiserver")
        chaos.cluster.start("kube-apiserver")
        chaos.cluster.wait_ready()
    finally:
        chaos.operator.send_signal(signal.SIGCONT)
    resumed = time.monotonic()
    all_exact(chaos, ns, names, 2, 1, "nginx:1.27")
    restarts = chaos.log.read_text().count("Restarting the watch-stream") - before
    print(
        f"compaction at revision {revision}: {restarts} watch streams restarted on 410;"
        f" {len(names)} services exact {time.monotonic() - resumed:.1f} s after the operator resumed"
    )


def conflict(chaos: tc.Chaos, args) -> None:
    ns, names = services(chaos, 1, count=2)
    name = names[0]
    client = kubernetes.config.new_client_from_config(config_file=str(chaos.cluster.kubeconfig))
    apps, custom = kubernetes.client.AppsV1Api(client), kubernetes.client.CustomObjectsApi(client)
    stop, fights = threading.Event(), {"writes": 0, "conflicts": 0}

    def fight():
        while not stop.is_set():
            try:
                dep = apps.read_namespaced_deployment(name, ns)
                dep.spec.replicas = 7
                apps.replace_namespaced_deployment(name, ns, dep, field_manager="fighter")
                custom.patch_namespaced_custom_object_status(
                    G, V, ns, "ecsservices", name, {"status": {"runningCount": 99}}
                )
                fights["writes"] += 2
            except kubernetes.client.ApiException as e:
                fights["conflicts" if e.status == 409 else "writes"] += 1
            stop.wait(0.2)

    mutating = ("apply", "patch", "replace", "create", "delete")
    w0 = chaos.writes()
    thread = threading.Thread(target=fight)
    thread.start()
    time.sleep(args.fight)
    stop.set()
    thread.join()
    chaos.wait_exact(ns, name, 2, timeout=300)
    w1 = chaos.writes()
    time.sleep(30)
    w2 = chaos.writes()
    fought = sum(w1.get(v, 0) - w0.get(v, 0) for v in mutating)
    quiet = sum(w2.get(v, 0) - w1.get(v, 0) for v in mutating)
    print(
        f"conflict {args.fight} s: fighter {fights['writes']} writes ({fights['conflicts']} answered 409);"
        f" operator {fought:.0f} writes until restored, {quiet:.0f} in the 30 s after"
    )


def throttle(chaos: tc.Chaos, args) -> None:
    ns = chaos.namespace()
    names = [f"t{i}" for i in range(args.services)]
    log_from = len(chaos.log.read_text())
    ours0, _ = tc._operator_429s(chaos, log_from)
    count, changes = 2, 0
    tc._throttle(chaos)
    try:
        wait_for(lambda: "seats" in tc._apf(chaos), timeout=60, desc="APF has the chaos-throttle priority level")
        apf0, throttled = tc._apf(chaos), time.monotonic()
        # APF lets one request of a zero-seat level through when none of it runs: the identity is
        # slowed to one request at a time, and every concurrent request is answered 429 (docs/ha.md)
        for name in names:
            chaos.start_service(ns, name, count)
        changes += len(names)
        while (left := args.throttle - (time.monotonic() - throttled)) > 0:
            time.sleep(min(10.0, left))
            if args.throttle - (time.monotonic() - throttled) > 5:  # no change in the last seconds
                count = 3 if count == 2 else 2
                for name in names:
                    chaos.custom.patch_namespaced_custom_object(
                        G, V, ns, "ecsservices", name, {"spec": {"desiredCount": count}}
                    )
                changes += len(names)
        # the last change: a count no round used, so kopf handles it at once whatever it last
        # handled (a change back to the last handled spec is left to the operator's behind-spec
        # timer, 10 s idle, which would add to the seconds after the lift; docs/ha.md)
        count = 4
        for name in names:
            chaos.custom.patch_namespaced_custom_object(
                G, V, ns, "ecsservices", name, {"spec": {"desiredCount": count}}
            )
        changes += len(names)
        apf1, elapsed = tc._apf(chaos), time.monotonic() - throttled
    finally:
        tc._lift(chaos)
    lifted = time.monotonic()
    all_exact(chaos, ns, names, count, 1, "nginx:1.27")
    converged = time.monotonic() - lifted
    rejected = apf1.get("rejected", 0) - apf0.get("rejected", 0)
    dispatched = apf1.get("dispatched", 0) - apf0.get("dispatched", 0)
    ours, kopfs = tc._operator_429s(chaos, log_from)
    tracebacks = chaos.log.read_text()[log_from:].count("Traceback")
    print(
        f"throttle {elapsed:.0f} s ({len(names)} services created, then every 10 s all scaled; {changes} changes):"
        f" the API server answered the operator's identity 429 {rejected:.0f} times and let {dispatched:.0f}"
        f" through ({(rejected + dispatched) / elapsed:.2f} requests/s); the operator saw {ours - ours0:.0f} 429s"
        f" on its own requests, kopf {kopfs} on its own; {len(names)} services exact {converged:.1f} s after the"
        f" lift; {tracebacks} tracebacks in its log"
    )


def failover(chaos: tc.Chaos, args) -> None:
    ns, names = services(chaos, 1, count=1)
    name = names[0]
    work = Path(tempfile.mkdtemp(prefix="chaos-failover-"))
    procs: dict[str, subprocess.Popen] = {}

    def start(ident: str) -> None:
        live = _free_port()
        env = dict(os.environ, KUBECONFIG=str(chaos.cluster.kubeconfig), PYTHONUNBUFFERED="1", POD_NAME=ident)
        env["ECS_OPERATOR_SCHEDULER_NAME"] = ""
        cmd = [sys.executable, "-m", "ecs_operator.cli", "run", "-n", "f-*", "--leader-elect"]
        cmd += ["--leader-elect-namespace", ns, "--liveness", f"http://127.0.0.1:{live}/healthz"]
        with open(work / f"{ident}.log", "w") as log:
            procs[ident] = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: http_ok(f"http://127.0.0.1:{live}/healthz"), timeout=60, desc=f"{ident} up")

    coordination = kubernetes.client.CoordinationV1Api(
        kubernetes.config.new_client_from_config(str(chaos.cluster.kubeconfig))
    )

    def holder() -> str:
        try:
            return coordination.read_namespaced_lease("ecs-operator-leader", ns).spec.holder_identity or ""
        except kubernetes.client.ApiException:
            return ""

    # the bench's failover candidates serve f-* namespaces; the chaos operator serves x-*
    fns = f"f-{ns[2:]}"
    chaos.core.create_namespace({"metadata": {"name": fns}})
    wait_for(lambda: chaos.core.list_namespaced_service_account(fns).items, timeout=60, desc="service account")
    chaos.start_service(fns, name, 1)
    times = []
    try:
        start("c0")
        start("c1")
        wait_for(lambda: holder(), timeout=60, desc="a leader")
        chaos.wait_exact(fns, name, 1, timeout=120)
        count = 1
        for i in range(args.failovers):
            leader = holder().split("_", 1)[0]
            assert leader in procs and procs[leader].poll() is None, f"the Lease names {leader!r}"
            procs[leader].kill()
            procs[leader].wait()
            killed = time.monotonic()
            count = 2 if count == 1 else 1
            chaos.custom.patch_namespaced_custom_object(
                G, V, fns, "ecsservices", name, {"spec": {"desiredCount": count}}
            )
            wait_for(
                lambda c=count: chaos.apps.read_namespaced_deployment(name, fns).spec.replicas == c,
                timeout=120,
                interval=0.1,
                desc="reconciled by the new leader",
            )
            times.append(time.monotonic() - killed)
            print(f"failover {i + 1}: {times[-1]:.1f} s (new holder {holder()})")
            start(leader)  # the killed one comes back as a standby
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.terminate()
                p.wait(timeout=30)
    print(f"failover after SIGKILL of the leader: p50 {pct(times, 50):.1f} s, max {max(times):.1f} s over {len(times)}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--services", type=int, default=20)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--down", type=float, default=5.0)
    p.add_argument("--freeze", type=float, default=90.0)
    p.add_argument("--fight", type=float, default=60.0)
    p.add_argument("--throttle", type=float, default=60.0)
    p.add_argument("--failovers", type=int, default=5)
    p.add_argument("--only", default=",".join(SCENARIOS))
    args = p.parse_args()
    chosen = [s for s in args.only.split(",") if s]
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        p.error(f"unknown scenarios: {sorted(unknown)}")
    work = Path(tempfile.mkdtemp(prefix="chaos-bench-"))
    with tc.chaos_environment(work, name="ecs-chaos-bench", nodes_per_zone=2) as chaos:
        for name in chosen:
            t0 = time.monotonic()
            globals()[name](chaos, args)
            print(f"  ({name}: {time.monotonic() - t0:.0f} s in all; operator log {chaos.log})", flush=True)
            chaos.alive()
    return 0


if __name__ == "__main__":
    sys.exit(main())
