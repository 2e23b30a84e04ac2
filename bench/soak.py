"""Soak: the operator under an hour of churn; its RSS grows < 10% (issue #15). Prints figures;
asserts nothing.

On a local cluster of its own (``ecs-soak``: it runs beside the test and bench clusters, no lock
needed) with KWOK nodes and one operator process (``ecs-operator run`` with ``/metrics``), a steady
population of ``--services`` ECSServices of ``--tasks`` tasks is created; then for ``--minutes``
one churn operation every ``--interval`` seconds touches every kind the operator watches:

- roll: a steady service's task definition gets a new image (a new revision: a rolling deployment,
  its ServiceDeployment/ServiceRevision records);
- scale: a steady service's desiredCount changes (1-5);
- service: a short-lived service (its own TaskDefinition family, 2 tasks) is created, or the
  oldest one deleted with its family (drain, ControllerRevisions, records garbage-collected);
- task: a standalone ECSTask is run (a long-running one or a one-shot that exits); long-running
  ones are stopped (StopTask) after 30 s, every task deleted after 60 s;
- cluster / provider: an ECSCluster or a CapacityProvider is created, or the oldest deleted;
- node: a KWOK node joins, or the one that joined first is deleted (its tasks are those of a
  lost container instance and are replaced).

Every ``--sample`` seconds the operator's RSS (VmRSS), peak (VmHWM), open fds, threads and the
number of series on its ``/metrics`` are sampled. The first ``--warmup`` minutes (default 10% of
the run) are warm-up; the figure is the RSS growth from the end of the warm-up (the same-run
baseline) to the end of the churn, next to the goal (< 10%), plus the trend after the warm-up
(least squares, MiB per hour). After the churn every short-lived object is deleted and the script
waits until every steady service is in its exact state (counts, revision, image, one deployment,
Ready, its pods) and the rest is gone.

    .venv/bin/python bench/soak.py [--minutes 60] [--services 30] [--tasks 3] [--interval 2]
        [--sample 30] [--warmup MINUTES] [--seed 1]
    .venv/bin/python bench/soak.py --minutes 3       # the quick run
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import kubernetes  # noqa: E402
from ecs_operator.dev.cluster import ZONES, LocalCluster, NodeSpec, default_nodes  # noqa: E402

from tests.cluster_fixtures import _free_port, http_ok, local_process, run_operator  # noqa: E402
from tests.integration.test_ecsservice import svc  # noqa: E402
from tests.integration.test_taskdefinition import G, V, td  # noqa: E402

NAMESPACE = "soak"
GOAL_GROWTH_PCT = 10.0
IMAGES = ("nginx:1.27", "nginx:1.28")  # a roll alternates them: each is a new revision
LABEL_SERVICE, LABEL_TASK = "ecs.seed.dev/service", "ecs.seed.dev/task"
PLURALS = ("taskdefinitions", "ecsservices", "ecsclusters", "ecstasks", "capacityproviders")
PLURALS += ("servicedeployments", "servicerevisions")
# churn operations and their weights
WEIGHTS = {"roll": 3, "scale": 3, "service": 2, "task": 2, "cluster": 1, "provider": 1, "node": 1}
MAX_ALIVE = {"service": 5, "task": 6, "cluster": 2, "provider": 2, "node": 2}
RETIRE = {"service": ("ecsservices", "taskdefinitions"), "task": ("ecstasks",), "cluster": ("ecsclusters",)}
RETIRE["provider"] = ("capacityproviders",)
TASK_STOP_S, TASK_DELETE_S = 30.0, 60.0


# ------------------------------------------------------------------------------------------
# Figures (pure)
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One look at the operator; ``t``: seconds since the churn started (negative before)."""

    t: float
    rss_mib: float
    hwm_mib: float
    fds: int
    threads: int
    series: int  # lines of /metrics that are samples (-1: it did not answer)
    ops: int  # churn operations so far
    pods: int = -1  # pods in the soak namespace (-1: not counted)


@dataclass(frozen=True)
class Growth:
    baseline_mib: float  # RSS right after the warm-up
    end_mib: float  # RSS at the end of the churn
    pct: float
    peak_mib: float  # VmHWM at the end (the process' peak)
    trend_mib_per_h: float  # least-squares slope of RSS after the warm-up
    first: Sample  # the samples the start and end figures come from
    last: Sample


def _median_rss(samples: Sequence[Sample]) -> float:
    return statistics.median(s.rss_mib for s in samples)


def slope_per_hour(samples: Sequence[Sample]) -> float:
    """Least-squares slope of RSS over time, MiB per hour (0 with fewer than 2 samples)."""
    if len(samples) < 2:
        return 0.0
    mt = statistics.fmean(s.t for s in samples)
    mr = statistics.fmean(s.rss_mib for s in samples)
    var = sum((s.t - mt) ** 2 for s in samples)
    if var == 0:
        return 0.0
    return sum((s.t - mt) * (s.rss_mib - mr) for s in samples) / var * 3600


def growth(samples: Sequence[Sample], warmup_s: float, end_s: float, window: int = 3) -> Growth | None:
    """RSS growth from the end of the warm-up to the end of the churn (``end_s``). Each end is
    the median of ``window`` samples (the first ones at or after the warm-up, the last ones at or
    before the end), so one sample taken in an allocation burst does not make the figure. None
    when no sample lies in the measured span."""
    span = [s for s in samples if warmup_s <= s.t <= end_s]
    if not span:
        return None
    start, end = span[:window], span[-window:]
    base, last = _median_rss(start), _median_rss(end)
    return Growth(
        baseline_mib=base,
        end_mib=last,
        pct=(last - base) / base * 100 if base else float("nan"),
        peak_mib=max(s.hwm_mib for s in samples),
        trend_mib_per_h=slope_per_hour(span),
        first=span[0],
        last=span[-1],
    )


def every(samples: Sequence[Sample], step_s: float) -> list[Sample]:
    """The first sample at or after each multiple of ``step_s`` (from 0), and the last one."""
    out: list[Sample] = []
    mark = 0.0
    for s in samples:
        if s.t >= mark:
            out.append(s)
            while mark <= s.t:
                mark += step_s
    if samples and (not out or out[-1] is not samples[-1]):
        out.append(samples[-1])
    return out


def table(samples: Sequence[Sample]) -> str:
    head = f"{'min':>6} {'RSS MiB':>8} {'peak':>7} {'fds':>5} {'threads':>7} {'series':>6} {'ops':>6} {'pods':>5}"
    rows = [
        f"{s.t / 60:6.1f} {s.rss_mib:8.1f} {s.hwm_mib:7.1f} {s.fds:5d} {s.threads:7d} {s.series:6d} {s.ops:6d} {s.pods:5d}"
        for s in samples
    ]
    return "\n".join([head, *rows])


def metric_series(text: str) -> int:
    """The number of samples (series) in a Prometheus text exposition."""
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


_FAILED = re.compile(r"Handler '(\w+)' failed (temporarily|with an exception)")


def log_failures(text: str) -> Counter:
    """Handler failures in kopf's log, by ``<handler> <temporarily|with an exception>``."""
    return Counter(f"{h} {how}" for h, how in _FAILED.findall(text))


def handler_errors(text: str) -> int:
    """Handler calls that raised (``ecs_operator_reconcile_duration_seconds_count{outcome="error"}``)."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith("ecs_operator_reconcile_duration_seconds_count{") and 'outcome="error"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


@dataclass(frozen=True)
class Want:
    """A steady service's final state: its task count and the image of its family's newest revision."""

    count: int
    image: str


def _ready(body: dict) -> bool:
    conditions = (body.get("status") or {}).get("conditions") or []
    ready = next((c for c in conditions if c.get("type") == "Ready"), {})
    return ready.get("status") == "True" and ready.get("observedGeneration") == body["metadata"].get("generation")


def _service_differs(name: str, want: Want, body: dict | None, revision: int | None, replicas, pods) -> str | None:
    if body is None:
        return "no ECSService"
    if revision is None:
        return "no registered revision"
    st = body.get("status") or {}
    expected = {
        "desiredCount": want.count,
        "runningCount": want.count,
        "pendingCount": 0,
        "taskDefinition": f"{name}:{revision}",
        "rolloutState": "COMPLETED",
    }
    got = {k: st.get(k) for k in expected}
    if got != expected:
        return f"status {got}, want {expected}"
    if [d.get("taskDefinition") for d in st.get("deployments") or []] != [f"{name}:{revision}"]:
        return f"deployments {[d.get('taskDefinition') for d in st.get('deployments') or []]}"
    if not _ready(body):
        return "not Ready for its generation"
    if replicas != want.count:
        return f"Deployment replicas {replicas}"
    running = [p for p in pods if p["phase"] == "Running" and p["image"] == want.image]
    if len(pods) != want.count or len(running) != want.count:
        return f"{len(running)} running {want.image} of {len(pods)} pods"
    return None


def differences(
    want: dict[str, Want],
    revisions: dict[str, int],
    services: list[dict],
    deployments: list[dict],
    pods: list[dict],
    tasks: list[dict],
    gone: set[str],
) -> dict[str, str]:
    """What differs from the exact final state, by object (empty: exact). ``want``: the steady
    services (family = service name); ``revisions``: each family's newest registered revision;
    ``services``/``deployments``/``pods``/``tasks``: the namespace's ECSServices, Deployments, pods
    and ECSTasks as the API server lists them (JSON); ``gone``: names of deleted objects (services,
    tasks) that must have left no ECSService, Deployment, ECSTask or pod behind."""
    by_name = {s["metadata"]["name"]: s for s in services}
    replicas = {d["metadata"]["name"]: (d.get("spec") or {}).get("replicas") for d in deployments}
    live_pods: dict[str, list[dict]] = {}
    for p in pods:
        labels = p["metadata"].get("labels") or {}
        owner = labels.get(LABEL_SERVICE) or labels.get(LABEL_TASK)
        if p["metadata"].get("deletionTimestamp") or owner is None:
            if owner in gone:
                live_pods.setdefault(owner, [])
            continue
        image = p["spec"]["containers"][0]["image"]
        live_pods.setdefault(owner, []).append({"phase": (p.get("status") or {}).get("phase"), "image": image})
    out: dict[str, str] = {}
    for name, w in sorted(want.items()):
        why = _service_differs(
            name, w, by_name.get(name), revisions.get(name), replicas.get(name), live_pods.get(name, [])
        )
        if why:
            out[name] = why
    task_names = {t["metadata"]["name"] for t in tasks}
    for name in sorted(gone):
        left = [
            kind
            for kind, there in (("ECSService", by_name), ("Deployment", replicas), ("ECSTask", task_names))
            if name in there
        ]
        if name in live_pods:
            left.append("pods")
        if left:
            out[name] = f"deleted, but {', '.join(left)} left"
    return out


# ------------------------------------------------------------------------------------------
# The operator's process
# ------------------------------------------------------------------------------------------


def proc_figures(pid: int) -> tuple[float, float, int, int]:
    """(VmRSS MiB, VmHWM MiB, open fds, threads) of a live process."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.split()
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return int(fields["VmRSS"][0]) / 1024, int(fields["VmHWM"][0]) / 1024, fds, int(fields["Threads"][0])


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        return resp.read().decode()


class Sampler:
    """Samples the operator every ``interval`` seconds in a thread of its own."""

    def __init__(self, pid: int, port: int, interval: float, ops: Callable[[], int], pods: Callable[[], int]):
        self.pid, self.port, self.interval, self.ops, self.pods = pid, port, interval, ops, pods
        self.t0 = time.monotonic()
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def take(self) -> Sample:
        rss, hwm, fds, threads = proc_figures(self.pid)
        try:
            series = metric_series(scrape(self.port))
        except OSError:
            series = -1
        try:
            pods = self.pods()
        except (OSError, kubernetes.client.ApiException):
            pods = -1
        s = Sample(time.monotonic() - self.t0, rss, hwm, fds, threads, series, self.ops(), pods)
        self.samples.append(s)
        return s

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.take()
            except OSError:  # the process is gone: the churn loop reports it
                return

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)


# ------------------------------------------------------------------------------------------
# Churn
# ------------------------------------------------------------------------------------------


@dataclass
class Alive:
    """A short-lived object the churn made: its name, when, and how far it got."""

    name: str
    born: float
    stopped: bool = False


@dataclass
class Churn:
    cluster: LocalCluster
    custom: kubernetes.client.CustomObjectsApi
    core: kubernetes.client.CoreV1Api
    rng: random.Random
    want: dict[str, Want]
    ops: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    alive: dict[str, deque] = field(default_factory=lambda: {k: deque() for k in MAX_ALIVE})
    gone: set[str] = field(default_factory=set)
    serial: int = 0

    def _next(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}{self.serial}"

    def step(self) -> None:
        kinds = list(WEIGHTS)
        op = self.rng.choices(kinds, weights=[WEIGHTS[k] for k in kinds])[0]
        try:
            getattr(self, f"_{op}")()
            self.ops[op] += 1
        except kubernetes.client.ApiException as e:
            self.errors[f"{op} {e.status}"] += 1

    def total(self) -> int:
        return sum(self.ops.values())

    # -- the operations ---------------------------------------------------------------------
    def _roll(self) -> None:
        name = self.rng.choice(sorted(self.want))
        w = self.want[name]
        image = IMAGES[(IMAGES.index(w.image) + 1) % len(IMAGES)]
        self.custom.patch_namespaced_custom_object(G, V, NAMESPACE, "taskdefinitions", name, td(name, image))
        self.want[name] = Want(w.count, image)

    def _scale(self) -> None:
        name = self.rng.choice(sorted(self.want))
        w = self.want[name]
        count = self.rng.choice([c for c in range(1, 6) if c != w.count])
        patch = {"spec": {"desiredCount": count}}
        self.custom.patch_namespaced_custom_object(G, V, NAMESPACE, "ecsservices", name, patch)
        self.want[name] = Want(count, w.image)

    def _retire_oldest(self, kind: str) -> bool:
        """Delete the oldest short-lived ``kind`` when as many as allowed are alive."""
        q = self.alive[kind]
        if len(q) < MAX_ALIVE[kind]:
            return False
        self._retire(kind, q.popleft())
        return True

    def _retire(self, kind: str, old: Alive) -> None:
        if kind == "node":
            try:
                self.core.delete_node(old.name)
            except kubernetes.client.ApiException as e:
                if e.status != 404:
                    raise
            return
        for plural in RETIRE[kind]:
            try:
                self.custom.delete_namespaced_custom_object(G, V, NAMESPACE, plural, old.name)
            except kubernetes.client.ApiException as e:
                if e.status != 404:
                    raise
        if kind in ("service", "task"):
            self.gone.add(old.name)

    def _service(self) -> None:
        if self._retire_oldest("service"):
            return
        name = self._next("c")
        self.custom.create_namespaced_custom_object(G, V, NAMESPACE, "taskdefinitions", td(name, IMAGES[0]))
        self.custom.create_namespaced_custom_object(G, V, NAMESPACE, "ecsservices", svc(name, name, 2))
        self.alive["service"].append(Alive(name, time.monotonic()))

    def _task(self) -> None:
        now = time.monotonic()
        q = self.alive["task"]
        for t in list(q):
            if now - t.born >= TASK_DELETE_S:
                q.remove(t)
                self._retire("task", t)
            elif now - t.born >= TASK_STOP_S and not t.stopped:
                t.stopped = True
                stop = {"ecs.seed.dev/desired-status": "STOPPED", "ecs.seed.dev/stop-reason": "soak churn"}
                self.custom.patch_namespaced_custom_object(
                    G, V, NAMESPACE, "ecstasks", t.name, {"metadata": {"annotations": stop}}
                )
        if len(q) >= MAX_ALIVE["task"]:
            return
        name = self._next("t")
        family = self.rng.choice(["job", "once"])  # runs until stopped / exits by itself after 1-2 s
        body = {"apiVersion": f"{G}/{V}", "kind": "ECSTask", "metadata": {"name": name}}
        body["spec"] = {"taskDefinition": family, "startedBy": "soak"}
        self.custom.create_namespaced_custom_object(G, V, NAMESPACE, "ecstasks", body)
        q.append(Alive(name, now, stopped=family == "once"))

    def _cluster(self) -> None:
        if self._retire_oldest("cluster"):
            return
        name = self._next("k")
        body = {"apiVersion": f"{G}/{V}", "kind": "ECSCluster", "metadata": {"name": name}}
        body["spec"] = {"clusterName": name}
        self.custom.create_namespaced_custom_object(G, V, NAMESPACE, "ecsclusters", body)
        self.alive["cluster"].append(Alive(name, time.monotonic()))

    def _provider(self) -> None:
        if self._retire_oldest("provider"):
            return
        name = self._next("p")
        zone = self.rng.choice(ZONES)
        body = {"apiVersion": f"{G}/{V}", "kind": "CapacityProvider", "metadata": {"name": name}}
        body["spec"] = {
            "autoScalingGroupProvider": {"autoScalingGroupArn": f"arn:aws:autoscaling:us-east-1:1:asg/{name}"},
            "kubernetes": {"nodeSelector": {"topology.kubernetes.io/zone": zone, "type": "kwok"}},
        }
        self.custom.create_namespaced_custom_object(G, V, NAMESPACE, "capacityproviders", body)
        self.alive["provider"].append(Alive(name, time.monotonic()))

    def _node(self) -> None:
        if self._retire_oldest("node"):
            return
        name = self._next("ip-10-9-0-")
        self.cluster.apply_nodes([NodeSpec(name=name, zone=self.rng.choice(ZONES))])
        self.alive["node"].append(Alive(name, time.monotonic()))

    def clean_up(self) -> None:
        """Delete every short-lived object still alive (the churn's end)."""
        for kind, q in self.alive.items():
            while q:
                self._retire(kind, q.popleft())


# ------------------------------------------------------------------------------------------
# The run
# ------------------------------------------------------------------------------------------


def list_items(custom, core, apps) -> dict[str, list[dict]]:
    """The soak namespace's objects the final state is judged by, as plain JSON."""

    def raw(call, *args) -> list[dict]:
        return json.loads(call(*args, _preload_content=False).data)["items"]

    out = {p: raw(custom.list_namespaced_custom_object, G, V, NAMESPACE, p) for p in ("ecsservices", "ecstasks")}
    out["taskdefinitions"] = raw(custom.list_namespaced_custom_object, G, V, NAMESPACE, "taskdefinitions")
    out["deployments"] = raw(apps.list_namespaced_deployment, NAMESPACE)
    out["pods"] = raw(core.list_namespaced_pod, NAMESPACE)
    return out


def exact_state(churn: Churn, custom, core, apps) -> dict[str, str]:
    items = list_items(custom, core, apps)
    revisions = {
        t["metadata"]["name"]: (t.get("status") or {}).get("revision")
        for t in items["taskdefinitions"]
        if (t.get("status") or {}).get("revision")
    }
    return differences(
        churn.want, revisions, items["ecsservices"], items["deployments"], items["pods"], items["ecstasks"], churn.gone
    )


def wait_exact(churn: Churn, custom, core, apps, timeout: float) -> tuple[float, dict[str, str]]:
    """Seconds until the exact final state (or the timeout), and what still differs then."""
    t0 = time.monotonic()
    diff: dict[str, str] = {}
    while time.monotonic() - t0 < timeout:
        diff = exact_state(churn, custom, core, apps)
        if not diff:
            break
        time.sleep(2)
    return time.monotonic() - t0, diff


def setup(custom, core, services: int, tasks: int) -> dict[str, Want]:
    core.create_namespace({"metadata": {"name": NAMESPACE}})
    while not core.list_namespaced_service_account(NAMESPACE).items:
        time.sleep(0.2)
    custom.create_namespaced_custom_object(G, V, NAMESPACE, "taskdefinitions", td("job", IMAGES[0]))
    once = td("once", "kwok.local/exit:0")
    once["spec"]["containerDefinitions"][0].pop("portMappings")
    custom.create_namespaced_custom_object(G, V, NAMESPACE, "taskdefinitions", once)
    want = {}
    for i in range(services):
        name = f"s{i}"
        custom.create_namespaced_custom_object(G, V, NAMESPACE, "taskdefinitions", td(name, IMAGES[0]))
        custom.create_namespaced_custom_object(G, V, NAMESPACE, "ecsservices", svc(name, name, tasks))
        want[name] = Want(tasks, IMAGES[0])
    return want


def apply_crds(cluster: LocalCluster) -> None:
    for f in sorted((REPO / "crds").glob("*.yaml")):
        cluster.kubectl("apply", "--server-side", "-f", str(f))
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
    # Established is not served yet: wait until every kind lists (tests/cluster_fixtures.py)
    for plural in PLURALS:
        deadline = time.monotonic() + 60
        while cluster.kubectl("get", f"{plural}.{G}", "-A", check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{plural} not served after 60 s")
            time.sleep(0.5)


def report(args, warmup_s: float, end_s: float, samples: list[Sample], churn: Churn, settle, metrics: str, log: Path):
    g = growth(samples, warmup_s, end_s)
    ops = ", ".join(f"{k} {v}" for k, v in churn.ops.most_common())
    errors = ", ".join(f"{k}: {v}" for k, v in churn.errors.most_common()) or "none"
    text = log.read_text(errors="replace")
    print(
        f"\n== soak: {end_s / 60:.1f} min of churn (warm-up {warmup_s / 60:.1f} min), {args.services} services x {args.tasks} tasks =="
    )
    print(f"churn operations: {churn.total()} ({ops}); refused by the API server: {errors}")
    if g is None:
        print("no sample after the warm-up: run longer or sample more often")
    else:
        print(
            f"operator RSS: {g.baseline_mib:.1f} MiB after the warm-up (same-run baseline, t={g.first.t / 60:.1f} min), "
            f"{g.end_mib:.1f} MiB at the end of the churn (t={g.last.t / 60:.1f} min): growth {g.pct:+.1f}% "
            f"(goal < {GOAL_GROWTH_PCT:.0f}%); trend after the warm-up {g.trend_mib_per_h:+.1f} MiB/h; peak (VmHWM) {g.peak_mib:.1f} MiB"
        )
        print(
            f"open fds {g.first.fds} -> {g.last.fds}, threads {g.first.threads} -> {g.last.threads}, "
            f"/metrics series {g.first.series} -> {g.last.series} (end of the warm-up -> end of the churn)"
        )
    failures = ", ".join(f"{k}: {v}" for k, v in sorted(log_failures(text).items())) or "none"
    print(
        f"handler calls that raised (ecs_operator_reconcile_duration_seconds outcome=error): {handler_errors(metrics)}; "
        f"in the operator's log: {failures}; {text.count('Traceback')} tracebacks ({log})"
    )
    seconds, diff = settle
    if diff:
        print(f"final state NOT exact after {seconds:.0f} s: {len(diff)} objects differ:")
        for name, why in sorted(diff.items())[:20]:
            print(f"  {name}: {why}")
    else:
        print(
            f"final state exact {seconds:.1f} s after the churn stopped: {len(churn.want)} services "
            f"(counts, revision, image, one deployment, Ready, pods); {len(churn.gone)} deleted services and tasks gone"
        )
    print(f"\nsamples every {args.table_minutes:g} min:")
    print(table(every(samples, args.table_minutes * 60)))
    summary = {
        "minutes": round(end_s / 60, 2),
        "warmup_minutes": round(warmup_s / 60, 2),
        "ops": dict(churn.ops),
        "errors": dict(churn.errors),
        "growth": None if g is None else {k: v for k, v in asdict(g).items() if k not in ("first", "last")},
        "exact": not diff,
        "settle_s": round(seconds, 1),
    }
    print(json.dumps(summary))
    return summary


# Diagnosis: the operator exactly as `ecs-operator run`, started from a wrapper that starts tracing
# its allocations on the first SIGUSR1 (the end of the warm-up: startup under tracemalloc takes
# minutes) and writes a tracemalloc snapshot on the second (after the settle; renamed into place
# when complete): what it holds then was allocated during the churn and not freed.
_TRACEMALLOC_WRAPPER = """
import os, signal, sys, tracemalloc
frames, out, bench = int(sys.argv.pop(1)), sys.argv.pop(1), sys.argv.pop(1)
sys.path.insert(0, bench)
import heldobjects
def on_usr1(*_):
    if not tracemalloc.is_tracing():
        heldobjects.note()
        tracemalloc.start(frames)
        return
    heldobjects.dump(out + ".held.json")
    tracemalloc.take_snapshot().dump(out + ".tmp")
    os.rename(out + ".tmp", out)
signal.signal(signal.SIGUSR1, on_usr1)
from ecs_operator.cli import main
sys.exit(main(sys.argv[1:]))
"""


@contextlib.contextmanager
def operator_process(args, cluster: LocalCluster, work: Path, port: int) -> Iterator[subprocess.Popen]:
    """The operator (``ecs-operator run`` with /metrics on ``port``), under tracemalloc if asked."""
    log = work / "operator.log"
    if not args.tracemalloc:
        with run_operator(cluster.kubeconfig, log, metrics_port=port) as proc:
            yield proc
        return
    live = _free_port()
    cmd = [sys.executable, "-c", _TRACEMALLOC_WRAPPER, str(args.tracemalloc), str(work / "snapshot")]
    cmd.append(str(Path(__file__).resolve().parent))
    cmd += ["run", "--liveness", f"http://127.0.0.1:{live}/healthz"]
    cmd += ["--metrics-port", str(port), "--metrics-address", "127.0.0.1"]
    env = dict(os.environ, KUBECONFIG=str(cluster.kubeconfig), PYTHONUNBUFFERED="1", ECS_OPERATOR_SCHEDULER_NAME="")
    healthy = lambda: http_ok(f"http://127.0.0.1:{live}/healthz")  # noqa: E731
    with local_process("operator (tracemalloc)", cmd, env=env, log_path=log, healthy=healthy, timeout=120) as proc:
        proc.snapshots = work / "snapshot"  # type: ignore[attr-defined]
        yield proc


class Traced:
    """The operator's allocations during the churn (``--tracemalloc``): tracing starts at the end
    of the warm-up; the snapshot after the settle (every short-lived object deleted, the exact
    state reached, no backlog) holds what was allocated since and is still held."""

    def __init__(self, operator):
        self.operator, self.started = operator, False

    def snapshot(self) -> None:
        """Start tracing (first call), or take the snapshot (second)."""
        self.operator.send_signal(signal.SIGUSR1)
        if not self.started:
            self.started = True
            return
        deadline = time.monotonic() + 300
        while not self.operator.snapshots.exists() and time.monotonic() < deadline:
            time.sleep(0.5)

    def report(self, top: int = 25) -> None:
        import tracemalloc

        path: Path = self.operator.snapshots
        if not path.exists():
            print(f"tracemalloc: no snapshot at {path}")
            return
        held = path.with_name(path.name + ".held.json")
        if held.exists():
            print("\nthe operator's objects and heap, end of the warm-up -> after the settle (bench/heldobjects.py):")
            print(held.read_text()[:12000])
        snap = tracemalloc.Snapshot.load(str(path)).filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
        total = sum(s.size for s in snap.statistics("filename"))
        print(
            f"\ntracemalloc: {total / 2**20:.2f} MiB allocated since the end of the warm-up and still held after the settle; by line:"
        )
        for stat in snap.statistics("lineno")[:top]:
            frame = stat.traceback[0]
            print(f"  {stat.size / 1024:9.1f} KiB {stat.count:7d} blocks  {frame.filename}:{frame.lineno}")
        print("by traceback (the most recent frames first, the standard library's left out):")
        for stat in snap.statistics("traceback")[:10]:
            frames = [
                f for f in reversed(stat.traceback) if "site-packages" in f.filename or "/lib/python3" not in f.filename
            ]
            where = " <- ".join(f"{'/'.join(f.filename.split('/')[-2:])}:{f.lineno}" for f in frames[:8])
            print(f"  {stat.size / 1024:9.1f} KiB {stat.count:7d} blocks  {where or stat.traceback[-1]}")


def churn_loop(churn: Churn, operator, minutes: float, interval: float, at_warmup=None, warmup_s: float = 0) -> float:
    """Churn until ``minutes`` have passed (or the operator died); the seconds it ran.
    ``at_warmup``: called once when ``warmup_s`` seconds have passed."""
    t0 = time.monotonic()
    end = t0 + minutes * 60
    while time.monotonic() < end:
        if operator.poll() is not None:
            print(f"the operator exited with {operator.returncode}", file=sys.stderr)
            break
        if at_warmup is not None and time.monotonic() - t0 >= warmup_s:
            at_warmup()
            at_warmup = None
        churn.step()
        time.sleep(max(0.0, min(interval, end - time.monotonic())))
    return time.monotonic() - t0


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=60.0, help="minutes of churn (after the population is steady)")
    p.add_argument("--warmup", type=float, default=None, help="warm-up minutes (default: 10%% of --minutes)")
    p.add_argument("--services", type=int, default=30)
    p.add_argument("--tasks", type=int, default=3)
    p.add_argument("--interval", type=float, default=2.0, help="seconds between churn operations")
    p.add_argument("--sample", type=float, default=30.0, help="seconds between samples of the operator")
    p.add_argument(
        "--table-minutes",
        type=float,
        default=None,
        help="minutes between rows of the table (default 5; 1/6 of a short run)",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--nodes-per-zone", type=int, default=3)
    p.add_argument("--cluster", default="ecs-soak", help="the local cluster's name (recreated, removed after)")
    p.add_argument(
        "--tracemalloc",
        type=int,
        default=0,
        metavar="FRAMES",
        help="diagnosis, not the figure (tracing slows the operator and costs memory): trace the operator's "
        "allocations (FRAMES frames each) from the end of the warm-up and print what was allocated since "
        "and is still held after the settle, by line and by traceback",
    )
    args = p.parse_args(argv)
    if args.warmup is None:
        args.warmup = args.minutes / 10
    if args.table_minutes is None:
        args.table_minutes = 5.0 if args.minutes >= 30 else max(args.minutes / 6, args.sample / 60)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    cluster = LocalCluster(name=args.cluster)
    cluster.down(log=lambda m: None)
    work = Path(tempfile.mkdtemp(prefix="soak-"))
    t = time.monotonic()
    try:
        cluster.up(
            nodes=default_nodes(per_zone=args.nodes_per_zone, fargate=False), log=lambda m: print(m, file=sys.stderr)
        )
        print(
            f"cluster up in {time.monotonic() - t:.0f} s; {os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        apply_crds(cluster)
        port = _free_port()
        with operator_process(args, cluster, work, port) as operator:
            return run(args, cluster, operator, port, work / "operator.log")
    finally:
        if not os.environ.get("ECS_OPERATOR_KEEP_CLUSTER"):
            cluster.down(log=lambda m: None)


def run(args, cluster: LocalCluster, operator, port: int, log: Path) -> int:
    api = kubernetes.config.new_client_from_config(config_file=str(cluster.kubeconfig))
    custom, core = kubernetes.client.CustomObjectsApi(api), kubernetes.client.CoreV1Api(api)
    apps = kubernetes.client.AppsV1Api(api)
    churn = Churn(cluster, custom, core, random.Random(args.seed), {})
    churn.want = setup(custom, core, args.services, args.tasks)
    t = time.monotonic()
    seconds, diff = wait_exact(churn, custom, core, apps, timeout=600)
    print(
        f"population: {args.services} services x {args.tasks} tasks steady in {time.monotonic() - t:.0f} s; churn starts",
        flush=True,
    )
    if diff:
        print(f"population not steady: {diff}", file=sys.stderr)
        return 1

    def pods() -> int:
        return len(json.loads(core.list_namespaced_pod(NAMESPACE, _preload_content=False).data)["items"])

    sampler = Sampler(operator.pid, port, args.sample, churn.total, pods)
    sampler.take()
    sampler.start()
    traced = Traced(operator) if args.tracemalloc else None
    ran = churn_loop(
        churn, operator, args.minutes, args.interval, traced.snapshot if traced else None, args.warmup * 60
    )
    sampler.take()
    sampler.stop()
    end_s = sampler.samples[-1].t
    churn.clean_up()
    settle = wait_exact(churn, custom, core, apps, timeout=600)
    if traced is not None:  # after the settle: no backlog of events held in queues
        traced.snapshot()
        traced.report()
    after = sampler.take()
    print(
        f"churn ran {ran / 60:.1f} min; after the settle RSS {after.rss_mib:.1f} MiB, fds {after.fds}, threads {after.threads}"
    )
    summary = report(args, args.warmup * 60, end_s, sampler.samples, churn, settle, scrape(port), log)
    return 0 if summary["exact"] and operator.poll() is None else 1


if __name__ == "__main__":
    sys.exit(main())
