"""The memory bound of the operator's per-service indexes (issue #17: 1,000 services x 10
tasks within 300 MB), measured, not timed: the entries kopf's indexes keep for 1,000 services
of 10 tasks each, as :func:`ecs_operator.state.slim.slim` makes them from objects shaped as the
API server sends them (a pod, ReplicaSet and Deployment the operator made on the local
cluster, in bench_data/), must stay under a bound with a margin; whole bodies are printed
beside them. And slim entries answer the plans exactly as whole bodies do."""

from __future__ import annotations

import copy
import dataclasses
import gc
import inspect
import json
import tracemalloc
from pathlib import Path

import pytest
from ecs_operator.state.slim import slim
from ecs_operator.translate.service_status import is_active

from . import test_plans_service as plans_cases

SAMPLE = json.loads((Path(__file__).parent / "bench_data" / "service_objects.json").read_text())
SERVICES, TASKS = 1000, 10
#: MiB for the slim entries of 1,000 services x 10 tasks (measured 49.5 MiB on CPython 3.11;
#: whole bodies: 346 MiB). The operator itself is ~110 MiB before any service: the bound keeps
#: the sum well inside 300 MB with room for kopf's own per-object state.
BOUND_MIB = 75


def _texts(services: int, tasks: int):
    """(index key, JSON text) of every object, each decoded on its own as a watch event is."""
    pod, rs, dep = (json.dumps(SAMPLE[k]) for k in ("Pod", "ReplicaSet", "Deployment"))
    stem = SAMPLE["ReplicaSet"]["metadata"]["name"]
    for s in range(services):
        key = ("ns", f"svc-{s}")
        for t in range(tasks):
            yield key, pod.replace(stem, f"svc-{s}-{stem}-{t}")
        yield key, rs.replace(stem, f"svc-{s}-{stem}")
        yield key, dep.replace(stem, f"svc-{s}-{stem}")


def _index_mib(entry, services: int, tasks: int) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        index: dict = {}
        for key, text in _texts(services, tasks):
            index.setdefault(key, []).append(entry(json.loads(text)))
        gc.collect()
        return (tracemalloc.get_traced_memory()[0] - base) / 2**20
    finally:
        tracemalloc.stop()


def test_index_entries_of_1000_services_of_10_tasks_stay_under_the_bound():
    slim_mib = _index_mib(slim, SERVICES, TASKS)
    whole_mib = _index_mib(dict, SERVICES // 20, TASKS) * 20  # whole bodies: a twentieth, scaled
    print(
        f"\nindex entries, {SERVICES} services x {TASKS} tasks (+1 ReplicaSet, +1 Deployment each): "
        f"slim {slim_mib:.1f} MiB, whole bodies ~{whole_mib:.0f} MiB; bound {BOUND_MIB} MiB"
    )
    assert slim_mib < BOUND_MIB
    assert slim_mib < whole_mib / 3


@pytest.mark.parametrize("kind", ["Pod", "ReplicaSet", "Deployment"])
def test_slim_drops_only_what_no_reader_reads(kind):
    body = copy.deepcopy(SAMPLE[kind])
    before = copy.deepcopy(body)
    out = slim(body)
    assert body == before  # the input is not changed
    assert "managedFields" in body["metadata"] and "managedFields" not in out["metadata"]
    assert {k: v for k, v in body["metadata"].items() if k != "managedFields"} == out["metadata"]
    assert out["status"] == body["status"]
    assert out["kind"] == body["kind"]
    if kind == "Pod":
        assert out["spec"]["nodeName"] == body["spec"]["nodeName"]
        assert [c["name"] for c in out["spec"]["containers"]] == [c["name"] for c in body["spec"]["containers"]]
        assert "securityContext" not in out["spec"] and "resources" not in out["spec"]["containers"][0]
        for key in ("affinity", "tolerations"):  # AZ rebalancing reads where a task could go
            assert out["spec"].get(key) == body["spec"].get(key)
        assert is_active(out) == is_active(body)
    else:
        assert out["spec"]["template"]["metadata"] == body["spec"]["template"]["metadata"]
        assert "spec" not in out["spec"]["template"]
        assert {k: v for k, v in out["spec"].items() if k != "template"} == {
            k: v for k, v in body["spec"].items() if k != "template"
        }
    kindless = {k: v for k, v in body.items() if k != "kind"}  # a listing's item: known by shape
    assert slim(kindless) == {k: v for k, v in out.items() if k != "kind"}


def test_interned_strings_are_shared_between_entries():
    a, b = slim(json.loads(json.dumps(SAMPLE["Pod"]))), slim(json.loads(json.dumps(SAMPLE["Pod"])))
    assert a["status"]["phase"] is b["status"]["phase"]
    assert next(iter(a["metadata"]["labels"])) is next(iter(b["metadata"]["labels"]))


def _slim_snapshot(snap):
    kinds = {"workloads": None, "replicasets": "ReplicaSet", "pods": "Pod", "services": None, "budgets": None}
    return dataclasses.replace(
        snap, **{field: [slim(o, kind or o.get("kind")) for o in getattr(snap, field)] for field, kind in kinds.items()}
    )


def _snapshot_cases():
    """(test function, its arguments) of every table-driven case of test_plans_service that
    takes a snapshot."""
    for name, fn in inspect.getmembers(plans_cases, inspect.isfunction):
        if not name.startswith("test_"):
            continue
        for mark in getattr(fn, "pytestmark", []):
            if mark.name != "parametrize":
                continue
            argnames = [a.strip() for a in mark.args[0].split(",")] if isinstance(mark.args[0], str) else mark.args[0]
            if "snap" not in argnames or not set(inspect.signature(fn).parameters) <= set(argnames):
                continue  # a case that also takes fixtures is not re-run here
            for i, values in enumerate(mark.args[1]):
                values = values.values if hasattr(values, "values") else values
                args = dict(zip(argnames, values if len(argnames) > 1 else (values,), strict=True))
                yield pytest.param(fn, args, id=f"{name}[{i}]")


@pytest.mark.parametrize("fn,args", list(_snapshot_cases()))
def test_the_plans_answer_the_same_on_slim_entries(fn, args):
    fn(**{**args, "snap": _slim_snapshot(args["snap"])})
