"""Slim copies of the objects kopf's indexes keep for every ECS service (pure: no I/O).

The service handler's indexes (``handlers/ecsservice.py``: Deployments, DaemonSets,
ReplicaSets, pods, Services, PodDisruptionBudgets labelled for a service) hold one entry per
object for as long as the object exists: at 1,000 services x 10 tasks that is 10,000 pods and
their ReplicaSets, most of the operator's memory. An entry needs only what the status refresh
and the plans read (:mod:`ecs_operator.state.services`, :mod:`ecs_operator.plans.service`,
:mod:`ecs_operator.translate.service_status`, :mod:`ecs_operator.translate.service_drain`):

- every kind: dict keys and short strings interned (shared by every entry), ``metadata`` without ``managedFields`` (the API server's field ownership, often
  the largest part of an object, read by nobody here), and the rest of the object as it is;
- a pod: ``spec`` reduced to :data:`POD_SPEC_KEYS` (placement: AZ rebalancing reads where a
  task could go), each container to :data:`CONTAINER_KEYS`
  (no env, probes, mounts, resources); ``status`` whole;
- a ReplicaSet, Deployment or DaemonSet: ``spec.template.spec`` dropped (the plans compare what
  they render, never the applied pod spec); ``spec.template.metadata`` (the task definition
  annotation) and the rest of ``spec`` kept.

What is dropped is never read through the indexes; a reader that needs more adds the key here
(``tests/unit/test_bench_memory.py`` measures what an entry costs).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

Obj = dict[str, Any]

#: The pod spec keys an index entry keeps.
POD_SPEC_KEYS = (
    "nodeName",
    "schedulerName",
    "nodeSelector",
    "priority",
    "readinessGates",
    "affinity",
    "tolerations",
    "containers",
    "initContainers",
)
#: The keys of each container an index entry keeps.
CONTAINER_KEYS = ("name", "image", "ports", "restartPolicy")


#: Strings up to this length are interned: keys, label values, phases, condition types and
#: timestamps repeat across thousands of entries, and one decoded watch event shares none of
#: its strings with another.
INTERN_MAX = 100


def compact(value: Any) -> Any:
    """A deep copy of JSON data whose dict keys and short strings are interned."""
    if isinstance(value, str):
        return sys.intern(value) if len(value) <= INTERN_MAX else value
    if isinstance(value, Mapping):
        return {sys.intern(k) if isinstance(k, str) else k: compact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [compact(v) for v in value]
    return value


def _metadata(md: Mapping[str, Any]) -> Obj:
    return {k: v for k, v in md.items() if k != "managedFields"}


def _containers(items: Any) -> Any:
    if not isinstance(items, list):
        return items
    return [{k: c[k] for k in CONTAINER_KEYS if k in c} if isinstance(c, Mapping) else c for c in items]


def _pod_spec(spec: Mapping[str, Any]) -> Obj:
    out = {k: spec[k] for k in POD_SPEC_KEYS if k in spec}
    for key in ("containers", "initContainers"):
        if key in out:
            out[key] = _containers(out[key])
    return out


def _workload_spec(spec: Mapping[str, Any]) -> Obj:
    out = dict(spec)
    template = spec.get("template")
    if isinstance(template, Mapping):
        out["template"] = {k: v for k, v in template.items() if k != "spec"}
    return out


#: Kinds whose ``spec.template.spec`` an entry drops.
WORKLOAD_KINDS = frozenset({"ReplicaSet", "Deployment", "DaemonSet", "StatefulSet", "Job"})


def _kind(body: Mapping[str, Any], spec: Any) -> str:
    """The object's kind: its ``kind``, else by shape (a listing's items may carry no kind)."""
    kind = body.get("kind")
    if isinstance(kind, str) and kind:
        return kind
    if isinstance(spec, Mapping):
        if isinstance(spec.get("template"), Mapping):
            return "ReplicaSet"
        if "containers" in spec:
            return "Pod"
    return ""


def slim(body: Mapping[str, Any], kind: str | None = None) -> Obj:
    """The index entry of ``body`` (``kind``: its kind, when the caller knows it; else its
    ``kind`` or its shape): a new dict, its strings interned (:func:`compact`); ``body`` is
    not changed."""
    out: Obj = dict(body)
    md = body.get("metadata")
    if isinstance(md, Mapping):
        out["metadata"] = _metadata(md)
    spec = body.get("spec")
    kind = kind or _kind(body, spec)
    placement: Obj = {}
    if isinstance(spec, Mapping):
        if kind == "Pod":
            out["spec"] = _pod_spec(spec)
            placement = {k: out["spec"].pop(k) for k in SHARED_POD_SPEC_KEYS if k in out["spec"]}
        elif kind in WORKLOAD_KINDS:
            out["spec"] = _workload_spec(spec)
    entry = compact(out)
    if placement:
        entry["spec"].update((k, shared(v)) for k, v in placement.items())
    return entry


#: Pod spec keys whose values repeat across a service's tasks: entries share one copy.
SHARED_POD_SPEC_KEYS = ("nodeSelector", "affinity", "tolerations")
#: At most this many distinct shared values are kept (then the table starts anew).
SHARED_MAX = 20_000
_shared: dict[str, Any] = {}


def shared(value: Any) -> Any:
    """One interned copy of a JSON value for every entry that has an equal one (readers never
    change entries): a service's 10 tasks hold one affinity and one toleration list, not 10."""
    key = json.dumps(value, sort_keys=True, separators=(",", ":"))
    found = _shared.get(key)
    if found is None:
        if len(_shared) >= SHARED_MAX:
            _shared.clear()
        found = _shared[key] = compact(value)
    return found
