"""ECS task placement as a kube-scheduler extender: constraints filter, strategies score.

What a pod asks for (annotations the operator sets on ECS task pods):

- ``ecs.seed.dev/placement-constraints``: JSON list of ECS ``PlacementConstraint`` objects
  (``{"type": "memberOf", "expression": "..."}``, ``{"type": "distinctInstance"}``);
- ``ecs.seed.dev/placement-strategy``: JSON list of ECS ``PlacementStrategy`` objects
  (``{"type": "spread", "field": "attribute:ecs.availability-zone"}``, ``binpack`` on
  ``cpu``/``memory``, ``random``);
- ``ecs.seed.dev/group``: the task group (``service:web``, ``family:batch``).

Filter (ECS: "identify the instances that satisfy the task placement constraints"):
DRAINING (cordoned) and agent-disconnected (not Ready) instances fail, then every
constraint must hold. ``distinctInstance`` fails instances that already run a task of the
pod's group (the AWS docs: "places each task in the group on a different instance").

Score (ECS: "identify the instances that satisfy the task placement strategies"): the
strategies are applied in order, each one only breaking the ties of the previous ones, as
ECS does. Each candidate gets a tuple of per-strategy keys (lower is better):

- ``spread`` on ``instanceId``/``host``: tasks of the group on the instance;
  on ``attribute:<name>``: tasks of the group on all instances with the same value of the
  attribute (instances without it form one more bucket);
- ``binpack`` on ``cpu``/``memory``: the resource left after placing the task (instances
  where it would not fit sort last);
- ``random``: a hash of the pod and node names (stable for one pod, different across pods).

The candidates are ranked by that tuple (dense ranking: equal tuples share a rank) and get
``score = max(0, 10 - rank)``: the best tuple scores 10 (MaxExtenderPriority), the next 9,
... everything from the 11th distinct tuple on scores 0. The order among the best ten
distinct placements is exact; beyond that it is lost, which does not change which node is
best. See docs/placement.md for the weight this needs in the scheduler configuration.

Defaults when a pod has no strategy: service tasks (REPLICA) spread by
``attribute:ecs.availability-zone`` and then by ``instanceId`` (the service scheduler's
documented balancing: the zone with the fewest tasks of the service, then the instance with
the fewest); standalone tasks get no preference (all candidates score alike). DAEMON service
tasks: only constraints apply (no strategy, and ``distinctInstance`` is implied).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from .. import constants
from . import instances
from .capacity import FARGATE_PROVIDERS, LABEL_CAPACITY_PROVIDER
from .instances import ACTIVE, ContainerInstance
from .query import RUNNING_TASKS_COUNT, TASK_GROUP, Expr, QueryError, parse

ANN_CONSTRAINTS = constants.PLACEMENT_CONSTRAINTS
ANN_STRATEGY = constants.PLACEMENT_STRATEGY
ANN_GROUP = instances.ANNOTATION_GROUP
#: Optional: ``DAEMON`` marks a daemon service task when its owner is not a DaemonSet.
ANN_SCHEDULING_STRATEGY = constants.SCHEDULING_STRATEGY

MAX_SCORE = 10  # k8s.io/kube-scheduler/extender/v1 MaxExtenderPriority
MAX_CONSTRAINTS = 10  # ECS: at most 10 constraints per task (task definition + run time)
MAX_STRATEGIES = 5  # ECS: at most 5 strategy rules per task or service

_ATTRIBUTE_FIELD_RE = re.compile(r"attribute:[A-Za-z0-9_\-/\\.]{1,128}")


class PlacementError(ValueError):
    """An invalid placement annotation; ``field`` names the annotation (and the element)."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True, slots=True)
class Constraint:
    type: str  # "memberOf" | "distinctInstance"
    expression: Expr | None = None
    text: str | None = None
    dynamic: bool = False  # depends on the tasks on the instance (task:group, runningTasksCount)

    def __str__(self) -> str:
        return f"memberOf({self.text})" if self.type == "memberOf" else self.type


@dataclass(frozen=True, slots=True)
class Strategy:
    type: str  # "spread" | "binpack" | "random"
    field: str | None = None  # spread: "instanceId" | "attribute:<name>"; binpack: "cpu" | "memory"

    def __str__(self) -> str:
        return f"{self.type}({self.field})" if self.field else self.type


SPREAD_ZONE = Strategy("spread", "attribute:ecs.availability-zone")
SPREAD_INSTANCE = Strategy("spread", "instanceId")
DEFAULT_SERVICE_STRATEGY = (SPREAD_ZONE, SPREAD_INSTANCE)
FARGATE_STRATEGY = (SPREAD_ZONE,)


@dataclass(frozen=True, slots=True)
class PlacementSpec:
    """What one pod asks of placement."""

    managed: bool  # an ECS task (else the extender has no opinion)
    group: str | None = None
    constraints: tuple[Constraint, ...] = ()
    strategies: tuple[Strategy, ...] = ()
    daemon: bool = False
    service: bool = False
    cpu: int = 0  # requested ECS cpu units
    memory: int = 0  # requested MiB
    seed: str = ""  # for the random strategy
    default_strategy: bool = False  # strategies are ECS's defaults
    fargate: bool = False  # a Fargate task (nodeSelector on a Fargate provider)

    @property
    def scored(self) -> bool:
        return self.managed and not self.daemon and bool(self.strategies)


UNMANAGED = PlacementSpec(managed=False)


# --------------------------------------------------------------------------------------
# Annotations -> spec


def _load_list(text: str, field: str) -> list[Any]:
    try:
        value = json.loads(text)
    except (TypeError, ValueError) as e:
        raise PlacementError(field, f"not valid JSON ({e})") from None
    if value is None:
        return []
    if not isinstance(value, list):
        raise PlacementError(field, f"expected a JSON list, not {type(value).__name__}")
    return value


def _keys(item: object, where: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise PlacementError(where, f"expected an object, not {type(item).__name__}")
    out = {}
    for k, v in item.items():
        key = next((a for a in allowed if a.lower() == str(k).lower()), None)
        if key is None:
            raise PlacementError(where, f"unknown field {k!r} (valid: {', '.join(allowed)})")
        out[key] = v
    return out


@lru_cache(maxsize=512)
def parse_constraints(text: str) -> tuple[Constraint, ...]:
    """``ecs.seed.dev/placement-constraints`` -> constraints (cached; raises PlacementError)."""
    items = _load_list(text, ANN_CONSTRAINTS)
    if len(items) > MAX_CONSTRAINTS:
        raise PlacementError(ANN_CONSTRAINTS, f"{len(items)} constraints; ECS allows at most {MAX_CONSTRAINTS}")
    out = []
    for i, raw in enumerate(items):
        where = f"{ANN_CONSTRAINTS}[{i}]"
        item = _keys(raw, where, ("type", "expression"))
        ctype = item.get("type")
        expr_text = item.get("expression")
        if ctype == "distinctInstance":
            if expr_text not in (None, ""):
                raise PlacementError(where, "an expression cannot be given for a distinctInstance constraint")
            out.append(Constraint("distinctInstance"))
        elif ctype == "memberOf":
            if not isinstance(expr_text, str) or not expr_text.strip():
                raise PlacementError(where, "a memberOf constraint needs an expression")
            try:
                expr = parse(expr_text, "memberOf")
            except QueryError as e:
                raise PlacementError(f"{where}.expression", str(e)) from None
            dynamic = bool(expr.subjects() & {TASK_GROUP, RUNNING_TASKS_COUNT})
            out.append(Constraint("memberOf", expr, expr_text, dynamic))
        else:
            raise PlacementError(f"{where}.type", f"{ctype!r} is not a constraint type (memberOf, distinctInstance)")
    return tuple(out)


def _strategy(raw: object, where: str) -> Strategy:
    item = _keys(raw, where, ("type", "field"))
    stype = item.get("type")
    fld = item.get("field")
    if fld is not None and not isinstance(fld, str):
        raise PlacementError(f"{where}.field", f"expected a string, not {type(fld).__name__}")
    if stype == "random":
        return Strategy("random")
    if stype == "spread":
        if not fld:
            raise PlacementError(f"{where}.field", "spread needs a field (instanceId, host or attribute:<name>)")
        if fld.lower() in ("instanceid", "host"):
            return Strategy("spread", "instanceId")
        if _ATTRIBUTE_FIELD_RE.fullmatch(fld):
            return Strategy("spread", fld)
        raise PlacementError(f"{where}.field", f"{fld!r} cannot be spread on (instanceId, host or attribute:<name>)")
    if stype == "binpack":
        if not fld or fld.lower() not in ("cpu", "memory"):
            raise PlacementError(f"{where}.field", f"binpack needs field cpu or memory, not {fld!r}")
        return Strategy("binpack", fld.lower())
    raise PlacementError(f"{where}.type", f"{stype!r} is not a strategy type (random, spread, binpack)")


@lru_cache(maxsize=512)
def parse_strategies(text: str) -> tuple[Strategy, ...]:
    """``ecs.seed.dev/placement-strategy`` -> strategies (cached; raises PlacementError)."""
    items = _load_list(text, ANN_STRATEGY)
    if len(items) > MAX_STRATEGIES:
        raise PlacementError(ANN_STRATEGY, f"{len(items)} strategies; ECS allows at most {MAX_STRATEGIES}")
    return tuple(_strategy(raw, f"{ANN_STRATEGY}[{i}]") for i, raw in enumerate(items))


def is_daemon(pod: dict[str, Any]) -> bool:
    md = pod.get("metadata") or {}
    if str((md.get("annotations") or {}).get(ANN_SCHEDULING_STRATEGY, "")).upper() == "DAEMON":
        return True
    return any((ref or {}).get("kind") == "DaemonSet" for ref in md.get("ownerReferences") or ())


def spec_from_pod(pod: dict[str, Any]) -> PlacementSpec:
    """The placement a pod asks for; raises PlacementError naming the invalid annotation."""
    md = pod.get("metadata") or {}
    ann = md.get("annotations") or {}
    labels = md.get("labels") or {}
    has_ann = ANN_CONSTRAINTS in ann or ANN_STRATEGY in ann
    if not (has_ann or instances.is_ecs_task(pod)):
        return UNMANAGED
    constraints = parse_constraints(str(ann[ANN_CONSTRAINTS])) if ann.get(ANN_CONSTRAINTS) else ()
    strategies = parse_strategies(str(ann[ANN_STRATEGY])) if ann.get(ANN_STRATEGY) else ()
    group = instances.task_group(pod)
    daemon = is_daemon(pod)
    service = bool(labels.get(instances.LABEL_SERVICE)) or (group or "").startswith("service:")
    defaulted = False
    fargate = ((pod.get("spec") or {}).get("nodeSelector") or {}).get(LABEL_CAPACITY_PROVIDER) in FARGATE_PROVIDERS
    if fargate and not daemon:
        # ECS: no placement strategies on Fargate; its tasks are spread across Availability Zones.
        strategies, defaulted = FARGATE_STRATEGY, True
    elif not strategies and service and not daemon:
        strategies, defaulted = DEFAULT_SERVICE_STRATEGY, True
    cpu, mem = instances.pod_requests_ecs(pod)
    seed = str(md.get("uid") or f"{md.get('namespace', '')}/{md.get('name') or md.get('generateName', '')}")
    return PlacementSpec(True, group, constraints, strategies, daemon, service, cpu, mem, seed, defaulted, fargate)


# --------------------------------------------------------------------------------------
# Filter


@dataclass
class FilterOutcome:
    passed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # preemption might help
    unresolvable: dict[str, str] = field(default_factory=dict)  # it would not


def check_instance(spec: PlacementSpec, inst: ContainerInstance) -> tuple[bool, str] | None:
    """None when ``inst`` may host the task; else (resolvable, reason)."""
    if inst.status != ACTIVE:
        return False, f"container instance {inst.ec2_instance_id} is {inst.status} (node cordoned)"
    if not inst.agent_connected:
        return False, f"container instance {inst.ec2_instance_id} agent is disconnected (node not Ready)"
    # Constraints on the instance itself first: when one fails, preemption cannot help,
    # whatever the constraints on the tasks running there say.
    # Fargate virtual nodes are not EC2 container instances, and Fargate tasks run nowhere else
    # (the taint and the nodeSelector already say so; this holds even for a pod tolerating all taints).
    if inst.fargate and not spec.fargate:
        return False, f"{inst.name} is a {inst.fargate} virtual node, not an EC2 container instance"
    if spec.fargate and not inst.fargate:
        return False, f"{inst.name} is not a Fargate virtual node"
    for c in spec.constraints:
        if c.type == "memberOf" and not c.dynamic and not _satisfied(c, inst):
            return False, f"memberOf constraint not satisfied: {c.text}"
    for c in spec.constraints:
        if c.type == "distinctInstance":
            if not spec.daemon and inst.tasks_in_group(spec.group) > 0:
                return True, f"distinctInstance: a task of group {spec.group} already runs on {inst.ec2_instance_id}"
        elif c.dynamic and not _satisfied(c, inst):
            return True, f"memberOf constraint not satisfied: {c.text}"
    return None


def _satisfied(c: Constraint, inst: ContainerInstance) -> bool:
    """A memberOf constraint's expression holds on ``inst`` (the parser sets it for every memberOf)."""
    return c.expression is None or c.expression.evaluate(inst)


def filter_instances(spec: PlacementSpec, instances: Iterable[ContainerInstance]) -> FilterOutcome:
    out = FilterOutcome()
    for inst in instances:
        if not spec.managed:
            out.passed.append(inst.name)
            continue
        verdict = check_instance(spec, inst)
        if verdict is None:
            out.passed.append(inst.name)
        elif verdict[0]:
            out.failed[inst.name] = verdict[1]
        else:
            out.unresolvable[inst.name] = verdict[1]
    return out


# --------------------------------------------------------------------------------------
# Score


def _random_key(seed: str, name: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{seed}\0{name}".encode(), digest_size=8).digest(), "big")


# One strategy's key for a candidate: a count or random number, or (overcommitted, left) for binpack.
_Key = int | tuple[bool, int]
StrategyKeys = tuple[_Key, ...]


def strategy_keys(
    spec: PlacementSpec, candidates: Sequence[ContainerInstance], cluster: Iterable[ContainerInstance]
) -> dict[str, StrategyKeys]:
    """Per candidate, the tuple of per-strategy keys (lower is better)."""
    cluster = list(cluster)
    columns: list[Sequence[_Key]] = []
    for st in spec.strategies:
        col: Sequence[_Key]
        if st.type == "spread":
            col = _spread_column(spec, st.field or "", candidates, cluster)
        elif st.type == "binpack":
            if st.field == "cpu":
                left = [c.remaining_cpu - spec.cpu for c in candidates]
            else:
                left = [c.remaining_memory - spec.memory for c in candidates]
            col = [(x < 0, x) for x in left]
        else:  # random
            col = [_random_key(spec.seed, c.name) for c in candidates]
        columns.append(col)
    names = [c.name for c in candidates]
    # transposed in one pass (the extender's prioritize hot path at 1,000 nodes)
    return dict(zip(names, zip(*columns, strict=True), strict=True)) if columns else dict.fromkeys(names, ())


def _spread_column(
    spec: PlacementSpec, field: str, candidates: Sequence[ContainerInstance], cluster: list[ContainerInstance]
) -> list[int]:
    """spread(instanceId): the group's tasks on each candidate; spread(attribute:<name>): the
    group's tasks across the cluster on instances with the candidate's value of the attribute."""
    if field == "instanceId":
        return [c.tasks_in_group(spec.group) for c in candidates]
    name = field.split(":", 1)[1]
    counts: dict[str | None, int] = {}
    if spec.group:
        for inst in cluster:
            n = inst.task_groups.get(spec.group, 0)
            if n:
                v = inst.attributes.get(name)
                counts[v] = counts.get(v, 0) + n
    return [counts.get(c.attributes.get(name), 0) for c in candidates]


def rank_scores(keys: Mapping[str, StrategyKeys]) -> dict[str, int]:
    """Dense-rank the key tuples (lower first) -> ``max(0, 10 - rank)``."""
    rank = {k: i for i, k in enumerate(sorted(set(keys.values())))}
    return {name: max(0, MAX_SCORE - rank[k]) for name, k in keys.items()}


def score_instances(
    spec: PlacementSpec, candidates: Sequence[ContainerInstance], cluster: Iterable[ContainerInstance]
) -> dict[str, int]:
    """Scores 0..10 for the candidates; ``cluster`` (every known instance, candidates
    included) is what spread counts tasks on."""
    if not spec.scored:
        return {c.name: 0 for c in candidates}
    return rank_scores(strategy_keys(spec, candidates, cluster))
