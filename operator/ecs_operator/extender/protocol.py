"""The kube-scheduler extender wire format (k8s.io/kube-scheduler/extender/v1), on decoded JSON.

``ExtenderArgs`` -- ``{"Pod": {...}, "Nodes": {"items": [...]}}`` when the scheduler's
extender config has ``nodeCacheCapable: false``, or ``{"Pod": {...}, "NodeNames": [...]}``
when it is true -- is what ``filter`` and ``prioritize`` take; ``filter`` answers
``ExtenderFilterResult`` ``{"Nodes" | "NodeNames", "FailedNodes",
"FailedAndUnresolvableNodes", "Error"}`` in the same form, ``prioritize`` a
``HostPriorityList`` ``[{"Host": name, "Score": 0..10}]``. ``bind`` takes
``ExtenderBindingArgs`` ``{"PodName", "PodNamespace", "PodUID", "Node"}`` and answers
``ExtenderBindingResult`` ``{"Error": ""}``. The Go types have no JSON tags, so the scheduler
sends capitalised keys; keys are accepted case-insensitively (Go's JSON decoding does the same).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class ArgsError(ValueError):
    """The request is not a well-formed ``ExtenderArgs`` / ``ExtenderBindingArgs`` (HTTP 400)."""


def get(d: Mapping, key: str) -> Any:
    """``d[key]`` with the key matched case-insensitively (Go's JSON decoding does the same)."""
    if key in d:
        return d[key]
    low = key.lower()
    for k, v in d.items():
        if isinstance(k, str) and k.lower() == low:
            return v
    return None


@dataclass
class ExtenderArgs:
    pod: dict
    nodes: list[dict] | None  # the Nodes form
    names: list[str]


def parse_args(args: Any) -> ExtenderArgs:
    if not isinstance(args, dict):
        raise ArgsError("ExtenderArgs must be a JSON object")
    pod = get(args, "Pod")
    if not isinstance(pod, dict):
        raise ArgsError("ExtenderArgs.Pod is missing")
    nodes = get(args, "Nodes")
    if nodes is not None:
        items = get(nodes, "items") if isinstance(nodes, dict) else None
        if items is None:
            items = []
        if not isinstance(items, list) or not all(isinstance(n, dict) for n in items):
            raise ArgsError("ExtenderArgs.Nodes.items must be a list of nodes")
        return ExtenderArgs(pod, items, [(n.get("metadata") or {}).get("name") or "" for n in items])
    names = get(args, "NodeNames")
    if names is None:
        raise ArgsError("ExtenderArgs has neither Nodes nor NodeNames")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ArgsError("ExtenderArgs.NodeNames must be a list of strings")
    return ExtenderArgs(pod, None, names)


@dataclass
class BindingArgs:
    name: str
    namespace: str
    uid: str | None  # "" and absent are None
    node: str


def parse_binding_args(args: Any) -> BindingArgs:
    if not isinstance(args, dict):
        raise ArgsError("ExtenderBindingArgs must be a JSON object")
    name, namespace, uid, node = (get(args, k) for k in ("PodName", "PodNamespace", "PodUID", "Node"))
    if not (
        isinstance(name, str)
        and name
        and isinstance(node, str)
        and node
        and isinstance(namespace, str)
        and (uid is None or isinstance(uid, str))
    ):
        raise ArgsError("ExtenderBindingArgs needs PodName, PodNamespace, PodUID and Node")
    return BindingArgs(name, namespace, uid or None, node)


def filter_result(error: str = "") -> dict[str, Any]:
    """An ``ExtenderFilterResult`` that passes no node (yet)."""
    return {"Nodes": None, "NodeNames": None, "FailedNodes": {}, "FailedAndUnresolvableNodes": {}, "Error": error}


def set_passed(result: dict, a: ExtenderArgs, passed: set[str]) -> None:
    """Put the nodes that passed in ``result``, in the form the request used."""
    if a.nodes is not None:
        result["Nodes"] = {
            "apiVersion": "v1",
            "kind": "NodeList",
            "metadata": {},
            "items": [n for n, name in zip(a.nodes, a.names, strict=False) if name in passed],
        }
    else:
        result["NodeNames"] = [n for n in a.names if n in passed]


def host_priorities(names: list[str], scores: Mapping[str, int]) -> list[dict]:
    """A ``HostPriorityList``: every node, in the request's order (0 when not scored)."""
    return [{"Host": n, "Score": scores.get(n, 0)} for n in names]


def pod_name(pod: dict) -> str:
    md = pod.get("metadata") or {}
    return f"{md.get('namespace', '')}/{md.get('name', '')}"
