"""Compile the placement constraints Kubernetes can enforce by itself.

- ``memberOf`` expressions made only of ``attribute:<name>`` comparisons with ``==``,
  ``!=``, ``in``, ``!in``, ``exists``, ``!exists`` (no wildcards), combined with
  ``and``/``or``/``not``, and ``ec2InstanceId ==``/``in``/``!=``/``!in``, become
  ``nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution`` node selector terms
  (the expression in disjunctive normal form: terms are ORed, requirements in a term ANDed).
  The attribute -> label mapping is the one of :mod:`.model`, and ECS's semantics are kept
  exactly: ``attribute:x != v`` needs the attribute to exist (``Exists`` + ``NotIn``), while
  ``not(attribute:x == v)`` does not (``NotIn`` alone, which matches nodes without the label).
- ``distinctInstance`` becomes a required ``podAntiAffinity`` on ``kubernetes.io/hostname``
  against the pods of the same group, when the group has a label the pods carry:
  ``service:<name>`` -> ``ecs.seed.dev/service`` (+ ``ecs.seed.dev/cluster``),
  ``family:<f>`` of standalone tasks -> ``ecs.seed.dev/family`` with ``ecs.seed.dev/task``.

Everything else (``task:group``, ``runningTasksCount``, ``agentConnected``, ``agentVersion``,
``registeredAt``, ``=~``/``!~``, ``>``/``<``, wildcards, groups without a label) is
reported in :attr:`NativePlacement.not_compiled` with the reason, and stays the extender's
job. The extender evaluates every constraint anyway, so compiling is an optimisation and a
safety net, never a change of meaning.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import instances
from .placement import Constraint, PlacementError, parse_constraints
from .query import (
    ATTRIBUTE,
    EC2_INSTANCE_ID,
    EQ,
    EXISTS,
    IN,
    NE,
    NOT_EXISTS,
    NOT_IN,
    And,
    Compare,
    Expr,
    Not,
    Or,
)

MAX_TERMS = 32
HOSTNAME = instances.LABEL_HOSTNAME

_LABEL_VALUE_RE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_LABEL_NAME_RE = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")


class NotCompilable(Exception):
    pass


# A requirement is a hashable tuple: ("expr", key, operator, values) or ("field", key, operator, values).
Req = tuple[str, str, str, tuple[str, ...]]
Term = frozenset[Req]  # ANDed
Dnf = list[Term]  # ORed; [] is false, [frozenset()] is true


def _valid_label_value(v: str) -> bool:
    return len(v) <= 63 and _LABEL_VALUE_RE.fullmatch(v) is not None


def _attribute_label(name: str) -> tuple[str, dict[str, str] | None]:
    if name in instances.LABEL_BACKED:
        return instances.LABEL_BACKED[name]
    if name == "ecs.os-family":
        raise NotCompilable("attribute ecs.os-family is derived (LINUX from kubernetes.io/os), not a label")
    if len(name) > 63 or not _LABEL_NAME_RE.fullmatch(name):
        raise NotCompilable(f"attribute name {name!r} cannot be a label name")
    return instances.ATTRIBUTE_LABEL_PREFIX + name, None


def _label_values(ecs_values: Iterable[str], mapping: dict[str, str] | None) -> list[str]:
    """The label values whose ECS attribute value is one of ``ecs_values``."""
    out: list[str] = []
    for v in ecs_values:
        if mapping:
            candidates = [lv for lv, ev in mapping.items() if ev == v]
            if v not in mapping:  # unmapped label values pass through unchanged
                candidates.append(v)
        else:
            candidates = [v]
        out.extend(c for c in candidates if _valid_label_value(c) and c and c not in out)
    return sorted(out)


def _normalize(term: Term) -> Term | None:
    """Merge the requirements on each key; None when they contradict each other
    (``In [x]`` and ``In [y]``, ``Exists`` and ``DoesNotExist``, ...)."""
    by_key: dict[tuple[str, str], list[Req]] = {}
    for r in term:
        by_key.setdefault((r[0], r[1]), []).append(r)
    out: set[Req] = set()
    for (kind, key), reqs in by_key.items():
        ins = [set(r[3]) for r in reqs if r[2] == "In"]
        excluded = set().union(*(r[3] for r in reqs if r[2] == "NotIn"))
        exists = any(r[2] == "Exists" for r in reqs)
        absent = any(r[2] == "DoesNotExist" for r in reqs)
        if ins:
            allowed = set.intersection(*ins) - excluded
            if absent or not allowed:
                return None
            out.add((kind, key, "In", tuple(sorted(allowed))))
        elif absent:
            if exists:
                return None
            out.add((kind, key, "DoesNotExist", ()))
        else:
            if exists:
                out.add((kind, key, "Exists", ()))
            if excluded:
                if kind == "field":  # matchFields take one value each
                    out.update((kind, key, "NotIn", (v,)) for v in sorted(excluded))
                else:
                    out.add((kind, key, "NotIn", tuple(sorted(excluded))))
    return frozenset(out)


def _and(a: Dnf, b: Dnf) -> Dnf:
    out: list[Term] = []
    for x, y in itertools.product(a, b):
        t = _normalize(x | y)
        if t is None:
            continue
        if t not in out:
            out.append(t)
        if len(out) > MAX_TERMS:
            raise NotCompilable(f"more than {MAX_TERMS} node selector terms")
    return out


def _or(a: Dnf, b: Dnf) -> Dnf:
    out = list(a)
    for t in b:
        if t not in out:
            out.append(t)
    if len(out) > MAX_TERMS:
        raise NotCompilable(f"more than {MAX_TERMS} node selector terms")
    return out


TRUE: Dnf = [frozenset()]
FALSE: Dnf = []


def _atom(c: Compare, negate: bool) -> Dnf:
    values = [a.text for a in c.args]
    if any(a.pattern is not None for a in c.args):
        raise NotCompilable(f"'{c}' uses a wildcard or pattern")
    if c.subject.kind == ATTRIBUTE and c.subject.name is not None:
        return _attribute_atom(c.subject.name, c.op, values, negate)
    if c.subject.kind == EC2_INSTANCE_ID:
        return _instance_id_atom(c.op, values, negate)
    raise NotCompilable(f"{c.subject} is not a node label")


def _attribute_atom(name: str, op: str, values: list[str], negate: bool) -> Dnf:
    """``attribute:<name> <op> values`` (negated when ``negate``) on the attribute's label."""
    key, mapping = _attribute_label(name)
    if op in (EXISTS, NOT_EXISTS):
        present = (op == EXISTS) != negate
        return [frozenset({("expr", key, "Exists" if present else "DoesNotExist", ())})]
    if op not in (EQ, NE, IN, NOT_IN):
        raise NotCompilable(f"operator '{op}' has no node affinity equivalent")
    vals = tuple(_label_values(values, mapping))
    positive = op in (EQ, IN)
    exists: Req = ("expr", key, "Exists", ())
    absent: Req = ("expr", key, "DoesNotExist", ())
    if positive and not negate:  # present and value in vals
        return [frozenset({("expr", key, "In", vals)})] if vals else FALSE
    if not positive and not negate:  # present and value not in vals
        return [frozenset({exists, ("expr", key, "NotIn", vals)})] if vals else [frozenset({exists})]
    if positive and negate:  # absent or value not in vals
        return [frozenset({("expr", key, "NotIn", vals)})] if vals else TRUE
    # not(present and value not in vals): absent or value in vals
    return [frozenset({absent})] + ([frozenset({("expr", key, "In", vals)})] if vals else [])


def _instance_id_atom(op: str, values: list[str], negate: bool) -> Dnf:
    """``ec2InstanceId <op> values`` (negated when ``negate``): the instance-id label, or the
    node name for nodes without the label."""
    if op not in (EQ, NE, IN, NOT_IN):
        raise NotCompilable(f"operator '{op}' on ec2InstanceId has no node affinity equivalent")
    key = instances.LABEL_INSTANCE_ID
    label_vals = tuple(sorted({v for v in values if v and _valid_label_value(v)}))
    names = sorted(set(values))
    member = (op in (EQ, IN)) != negate
    if member:  # (label present and in ids) or (no label and node name in ids)
        dnf: Dnf = [frozenset({("expr", key, "In", label_vals)})] if label_vals else []
        dnf += [frozenset({("expr", key, "DoesNotExist", ()), ("field", "metadata.name", "In", (n,))}) for n in names]
        if len(dnf) > MAX_TERMS:
            raise NotCompilable(f"more than {MAX_TERMS} node selector terms")
        return dnf
    with_label: set[Req] = {("expr", key, "Exists", ())}
    if label_vals:
        with_label.add(("expr", key, "NotIn", label_vals))
    without: set[Req] = {("expr", key, "DoesNotExist", ())} | {("field", "metadata.name", "NotIn", (n,)) for n in names}
    return [frozenset(with_label), frozenset(without)]


def to_dnf(expr: Expr, negate: bool = False) -> Dnf:
    """``expr`` (negated when ``negate``) as node selector terms; raises NotCompilable."""
    if isinstance(expr, Not):
        return to_dnf(expr.item, not negate)
    if isinstance(expr, (And, Or)):
        conj = isinstance(expr, And) != negate
        parts = [to_dnf(i, negate) for i in expr.items]
        acc = parts[0]
        for p in parts[1:]:
            acc = _and(acc, p) if conj else _or(acc, p)
        return acc
    if isinstance(expr, Compare):
        return [t for t in (_normalize(t) for t in _atom(expr, negate)) if t is not None]
    raise NotCompilable(f"unsupported expression {expr}")  # pragma: no cover


def _simplify(dnf: Dnf) -> Dnf:
    if any(not t for t in dnf):
        return TRUE
    # drop terms that are supersets of another (A or (A and B) == A)
    out = [t for t in dnf if not any(o < t for o in dnf)]
    return out


def _req_json(r: Req) -> dict[str, Any]:
    _, key, op, vals = r
    d: dict[str, Any] = {"key": key, "operator": op}
    if op in ("In", "NotIn"):
        d["values"] = list(vals)
    return d


def _term_json(t: Term) -> dict[str, Any]:
    exprs = sorted((r for r in t if r[0] == "expr"), key=lambda r: (r[1], r[2], r[3]))
    fields = sorted((r for r in t if r[0] == "field"), key=lambda r: (r[1], r[2], r[3]))
    out: dict[str, Any] = {}
    if exprs:
        out["matchExpressions"] = [_req_json(r) for r in exprs]
    if fields:
        out["matchFields"] = [_req_json(r) for r in fields]
    return out


@dataclass
class NativePlacement:
    node_affinity: dict[str, Any] | None = None
    pod_anti_affinity: dict[str, Any] | None = None
    compiled: list[str] = field(default_factory=list)
    not_compiled: list[tuple[str, str]] = field(default_factory=list)  # (constraint, reason)

    def affinity(self) -> dict[str, Any]:
        """A ``spec.affinity`` fragment (empty when nothing compiled)."""
        out: dict[str, Any] = {}
        if self.node_affinity:
            out["nodeAffinity"] = self.node_affinity
        if self.pod_anti_affinity:
            out["podAntiAffinity"] = self.pod_anti_affinity
        return out


def _distinct_selector(group: str | None, labels: Mapping[str, str]) -> dict[str, Any]:
    if not group:
        raise NotCompilable("the pod has no task group")
    kind, _, name = group.partition(":")
    if kind == "service" and labels.get(instances.LABEL_SERVICE):
        match = {instances.LABEL_SERVICE: labels[instances.LABEL_SERVICE]}
        if labels.get(instances.LABEL_CLUSTER):
            match[instances.LABEL_CLUSTER] = labels[instances.LABEL_CLUSTER]
        return {"matchLabels": match}
    if kind == "family" and labels.get(instances.LABEL_FAMILY) == name and instances.LABEL_TASK in labels:
        return {
            "matchLabels": {instances.LABEL_FAMILY: name},
            "matchExpressions": [
                {"key": instances.LABEL_TASK, "operator": "Exists"},
                {"key": instances.LABEL_SERVICE, "operator": "DoesNotExist"},
            ],
        }
    raise NotCompilable(f"task group {group!r} has no label its pods carry")


def _parsed(constraints: str | Sequence[Constraint] | Sequence[dict[str, Any]]) -> tuple[Constraint, ...]:
    """The constraints from the annotation text, the ECS JSON objects or already parsed."""
    if isinstance(constraints, str):
        return parse_constraints(constraints)
    items = list(constraints)
    if items and isinstance(items[0], dict):
        return parse_constraints(json.dumps(items))
    return tuple(c for c in items if isinstance(c, Constraint))


def compile_native(
    constraints: str | Sequence[Constraint] | Sequence[dict[str, Any]],
    *,
    group: str | None = None,
    pod_labels: Mapping[str, str] | None = None,
) -> NativePlacement:
    """Compile what Kubernetes can enforce natively. ``constraints``: the annotation text, the
    parsed constraints or the ECS JSON objects; ``group`` / ``pod_labels``: the pod's task
    group and labels (for distinctInstance). Raises PlacementError on invalid constraints."""
    parsed = _parsed(constraints)
    out = NativePlacement()
    terms: Dnf | None = None
    compiled: list[tuple[int, str]] = []
    not_compiled: list[tuple[int, str, str]] = []
    node_parts: list[tuple[int, str]] = []
    for i, c in enumerate(parsed):
        try:
            if c.type == "distinctInstance":
                selector = _distinct_selector(group, pod_labels or {})
                out.pod_anti_affinity = {
                    "requiredDuringSchedulingIgnoredDuringExecution": [
                        {"labelSelector": selector, "topologyKey": HOSTNAME}
                    ]
                }
                compiled.append((i, str(c)))
                continue
            if c.expression is None:
                raise NotCompilable("unsupported expression None")
            dnf = _simplify(to_dnf(c.expression))
            combined = dnf if terms is None else _simplify(_and(terms, dnf))
        except NotCompilable as e:
            not_compiled.append((i, str(c), str(e)))
            continue
        terms = combined
        node_parts.append((i, str(c)))
    if terms is not None:
        if not terms:
            not_compiled.extend(
                (i, p, "no node can satisfy the constraints together; left to the extender") for i, p in node_parts
            )
        else:
            compiled.extend(node_parts)
    out.compiled = [d for _, d in sorted(compiled)]
    out.not_compiled = [(d, why) for _, d, why in sorted(not_compiled)]
    if terms and terms != TRUE:
        out.node_affinity = {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [_term_json(t) for t in sorted(terms, key=lambda t: sorted(t))]
            }
        }
    return out


__all__ = ["NativePlacement", "compile_native", "to_dnf", "NotCompilable", "PlacementError"]
