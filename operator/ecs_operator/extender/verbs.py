"""The extender's verbs -- filter, prioritize and bind -- on decoded JSON (the HTTP server,
:mod:`.server`, is a thin layer over :class:`Extender`).

ECS placement itself is :mod:`ecs_operator.domain.placement`; this module applies it to the
:class:`~.view.ClusterView` (the request path never calls the API server: ``bind`` does, by
definition, through a :class:`Binder`, after recording the pod in the view) and keeps the
pods in flight between the scheduler's calls.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from ..domain import instances
from ..domain.instances import ContainerInstance
from ..domain.placement import PlacementError, PlacementSpec, filter_instances, score_instances, spec_from_pod
from ..domain.query import Expr
from .metrics import Latency
from .protocol import (
    ArgsError,
    ExtenderArgs,
    filter_result,
    host_priorities,
    parse_args,
    parse_binding_args,
    pod_name,
    set_passed,
)
from .view import ClusterView, Snapshot, pod_uid

log = logging.getLogger("ecs_operator.extender")


class _MemoExpr(Expr):
    """A static ``memberOf`` expression (one that reads only the node: attributes, instance id,
    agent state) with its verdict per (node name, node resourceVersion) remembered: a node's
    attributes change only with its resourceVersion, so the verdict holds until then. Pods
    moving on and off a node rebuild its instance but do not touch its verdict; evaluating the
    expression over every node on every filter call was most of the filter's time."""

    __slots__ = ("expr", "memo")

    def __init__(self, expr: Expr, memo: dict[tuple[str, str], bool]):
        super().__init__()
        self.expr = expr
        self.memo = memo

    def evaluate(self, target: Any) -> bool:
        rv = getattr(target, "resource_version", None)
        inst = target
        if rv is None:  # no version to key on (a node object without one): no memo
            return self.expr.evaluate(inst)
        key = (inst.name, rv)
        hit = self.memo.get(key)
        if hit is None:
            hit = self.memo[key] = self.expr.evaluate(inst)
        return hit

    def subjects(self) -> set[str]:
        return self.expr.subjects()

    def __str__(self) -> str:
        return str(self.expr)


class StaticConstraintMemo:
    """Per static ``memberOf`` expression (by its text), the verdicts :class:`_MemoExpr` keeps;
    bounded: at most ``max_expressions`` expressions, each forgetting its verdicts when it holds
    more than ``max_entries`` (stale resourceVersions of nodes that changed)."""

    def __init__(self, max_expressions: int = 256, max_entries: int = 20_000):
        self._lock = threading.Lock()
        self._memos: OrderedDict[str, dict[tuple[str, str], bool]] = OrderedDict()
        self.max_expressions = max_expressions
        self.max_entries = max_entries

    def _memo(self, text: str) -> dict[tuple[str, str], bool]:
        with self._lock:
            memo = self._memos.get(text)
            if memo is None or len(memo) > self.max_entries:
                memo = self._memos[text] = {}
            self._memos.move_to_end(text)
            while len(self._memos) > self.max_expressions:
                self._memos.popitem(last=False)
            return memo

    def apply(self, spec: PlacementSpec) -> PlacementSpec:
        """``spec`` with each static memberOf expression evaluated through its memo (same verdicts)."""
        if not any(c.type == "memberOf" and not c.dynamic and c.expression is not None for c in spec.constraints):
            return spec
        constraints = tuple(
            dataclasses.replace(c, expression=_MemoExpr(c.expression, self._memo(c.text or str(c.expression))))
            if c.type == "memberOf" and not c.dynamic and c.expression is not None
            else c
            for c in spec.constraints
        )
        return dataclasses.replace(spec, constraints=constraints)


class Binder(Protocol):
    """How ``bind`` binds (``ecs_operator.extender.kube.KubeBinder`` in the extender)."""

    def __call__(self, namespace: str, name: str, uid: str | None, node: str) -> None:
        """Bind the pod to the node (the pods/binding subresource); raise on failure."""


class Extender:
    """Filter, prioritize and bind on decoded JSON; the HTTP handler is a thin layer over this.

    With a ``binder`` the extender also serves the ``bind`` verb: it records the pod as
    *assumed* on the chosen node in the view (so the next pod's filter and scores count it at
    once, before the API server's binding comes back through the watch), then creates the
    binding.

    With ``inflight_timeout`` (seconds) it keeps the pods that passed its filter as *in
    flight*. kube-scheduler schedules one pod at a time and binds asynchronously: when the next
    pod's filter or prioritize arrives, every earlier pod that passed the filter has been
    assumed by the scheduler and is being bound. Before answering for an ECS task, the extender
    waits until each of them is settled -- its ``bind`` call came (assumed at once), or the
    view saw it bound, terminated or deleted -- or has been in flight for ``inflight_timeout``
    (a pod that failed after the filter), so spread and binpack count every earlier decision.
    With the bind verb the wait is the hop of the scheduler's binding goroutine to the
    extender; without it, the binding's round trip through the API server and the watch."""

    def __init__(
        self,
        view: ClusterView,
        binder: Binder | None = None,
        *,
        inflight_timeout: float | None = None,
        seen_max: int = 4096,
        scheduler_names: Iterable[str] | None = None,
    ):
        self.view = view
        self.binder = binder
        # Bind only pods that name one of these schedulers and are not bound yet (None: any).
        self.scheduler_names = frozenset(scheduler_names) if scheduler_names is not None else None
        self.inflight_timeout = inflight_timeout
        add_listener = getattr(view, "add_pod_listener", None)
        if inflight_timeout is not None and add_listener is not None:
            add_listener(self._settled)
        self._cond = threading.Condition()
        self._inflight: dict[str, float] = {}  # pod uid -> deadline (monotonic)
        self._seen: OrderedDict[str, dict] = OrderedDict()  # pod uid -> slim pod from filter
        self._seen_max = seen_max
        self.api_latency = Latency()  # the binder's API calls
        self.static_memo = StaticConstraintMemo()
        self.counters: dict[str, float] = {
            "inflight_waits": 0,
            "inflight_wait_seconds": 0.0,
            "inflight_timeouts": 0,
            "binds": 0,
            "bind_errors": 0,
            "binds_assumed": 0,
        }

    # -- in-flight pods ---------------------------------------------------------------------
    def _note_passed(self, pod: dict) -> None:
        uid = pod_uid(pod)
        if not uid or (self.inflight_timeout is None and self.binder is None):
            return
        with self._cond:
            if self.inflight_timeout is not None:
                self._inflight[uid] = time.monotonic() + self.inflight_timeout
            if self.binder is not None:
                self._seen[uid] = instances.slim_pod(pod)
                self._seen.move_to_end(uid)
                while len(self._seen) > self._seen_max:
                    self._seen.popitem(last=False)

    def _settled(self, uids: list[str]) -> None:
        with self._cond:
            if not self._inflight:
                return
            hit = False
            for u in uids:
                if self._inflight.pop(u, None) is not None:
                    hit = True
            if hit:
                self._cond.notify_all()

    def inflight(self) -> int:
        with self._cond:
            return len(self._inflight)

    def _await_inflight(self, pod: dict) -> None:
        """Wait until the pods that passed the filter before this one are settled (or expired)."""
        if self.inflight_timeout is None:
            return
        me = pod_uid(pod)
        with self._cond:
            if not any(u != me for u in self._inflight):
                return
            started = time.monotonic()
            while True:
                now = time.monotonic()
                for u in [u for u, d in self._inflight.items() if d <= now and u != me]:
                    del self._inflight[u]
                    self.counters["inflight_timeouts"] += 1
                    log.info(
                        "pod uid %s passed the filter %.1fs ago and was not bound; not waiting for it",
                        u,
                        self.inflight_timeout,
                    )
                pending = [d for u, d in self._inflight.items() if u != me]
                if not pending:
                    break
                self._cond.wait(min(pending) - now)
            self.counters["inflight_waits"] += 1
            self.counters["inflight_wait_seconds"] += time.monotonic() - started

    def bind(self, args: Any) -> dict:
        """``ExtenderBindingArgs`` (``PodName``, ``PodNamespace``, ``PodUID``, ``Node``) ->
        ``ExtenderBindingResult`` (``{"Error": ""}``)."""
        if self.binder is None:
            raise LookupError("bind is not served (no binder)")
        b = parse_binding_args(args)
        name, namespace, uid, node = b.name, b.namespace, b.uid, b.node
        with self._cond:
            hint = self._seen.pop(uid, None) if uid else None
        refused = self._refuse_bind(namespace, name, uid, hint)
        if refused:
            with self._cond:
                self.counters["binds_refused"] = self.counters.get("binds_refused", 0) + 1
            log.warning("bind %s/%s to %s refused: %s", namespace, name, node, refused)
            return {"Error": refused}
        assume = getattr(self.view, "assume_pod", None)
        assumed = bool(assume and assume(namespace, name, uid, node, hint))
        with self._cond:
            if uid:
                self._inflight.pop(uid, None)
            self.counters["binds"] += 1
            self.counters["binds_assumed"] += int(assumed)
            self._cond.notify_all()
        started = time.perf_counter()
        try:
            self.binder(namespace, name, uid, node)
        except Exception as e:
            forget = getattr(self.view, "forget_pod", None)
            if assumed and forget is not None:
                forget(namespace, name, uid)
            with self._cond:
                self.counters["bind_errors"] += 1
            log.warning("bind %s/%s to %s failed: %s", namespace, name, node, e)
            return {"Error": f"binding {namespace}/{name} to {node}: {e}"}
        finally:
            self.api_latency.add("bind", time.perf_counter() - started)
        return {"Error": ""}

    def _refuse_bind(self, namespace: str, name: str, uid: str | None, hint: dict | None) -> str:
        """Why this bind request is refused ("" when it is not): the extender binds only pods
        the ecs-scheduler schedules (its HTTP endpoint is no way to bind arbitrary pods)."""
        if self.scheduler_names is None:
            return ""
        get_pod = getattr(self.view, "get_pod", None)
        pod = (get_pod(namespace, name) if get_pod is not None else None) or hint
        if pod is None:
            return f"pod {namespace}/{name} is not known to the extender (yet)"
        if uid and pod_uid(pod) and pod_uid(pod) != uid:
            return f"pod {namespace}/{name} has uid {pod_uid(pod)}, not {uid}"
        spec = pod.get("spec") or {}
        if spec.get("schedulerName") not in self.scheduler_names:
            return (
                f"pod {namespace}/{name} names scheduler {spec.get('schedulerName')!r}; this extender "
                f"binds only pods of {', '.join(sorted(self.scheduler_names))}"
            )
        if spec.get("nodeName"):
            return f"pod {namespace}/{name} is already bound to {spec['nodeName']}"
        return ""

    def _candidates(
        self, a: ExtenderArgs, snap: Snapshot
    ) -> tuple[list[ContainerInstance], list[str], Mapping[str, ContainerInstance]]:
        """(known instances, unknown names, cluster-wide instances for counting)."""
        cluster = snap.instances
        if a.nodes is not None:
            insts = [snap.instance_for(n) for n in a.nodes]
            fresh = [i for i in insts if cluster.get(i.name) is not i]
            if fresh:
                cluster = {**cluster, **{i.name: i for i in fresh}}
            return insts, [], cluster
        known: list[ContainerInstance] = []
        unknown: list[str] = []
        for name in a.names:
            inst = cluster.get(name)
            if inst is None:
                unknown.append(name)
            else:
                known.append(inst)
        return known, unknown, cluster

    def filter(self, args: Any) -> dict:
        try:
            a = parse_args(args)
        except ArgsError as e:
            return filter_result(str(e))
        result = filter_result()
        try:
            spec = spec_from_pod(a.pod)
        except PlacementError as e:
            msg = f"pod {pod_name(a.pod)}: invalid {e}"
            result["FailedAndUnresolvableNodes"] = dict.fromkeys(a.names, msg)
            result["Error"] = msg
            set_passed(result, a, set())
            return result
        if not spec.managed:
            set_passed(result, a, set(a.names))
            if a.names:
                self._note_passed(a.pod)
            return result
        try:
            self._await_inflight(a.pod)
            snap = self.view.snapshot()
            insts, unknown, _ = self._candidates(a, snap)
        except Exception as e:  # the view could not be read (API server down, ...)
            log.warning("filter %s: cluster view unavailable: %s", pod_name(a.pod), e)
            result["Error"] = f"ecs placement: cluster state unavailable: {e}"
            set_passed(result, a, set())
            return result
        outcome = filter_instances(self.static_memo.apply(spec), insts)
        result["FailedNodes"] = dict(outcome.failed)
        result["FailedNodes"].update((n, "node not yet known to the ECS placement extender") for n in unknown)
        result["FailedAndUnresolvableNodes"] = outcome.unresolvable
        set_passed(result, a, set(outcome.passed))
        if outcome.passed:
            self._note_passed(a.pod)
        return result

    def prioritize(self, args: Any) -> list[dict]:
        a = parse_args(args)  # ArgsError -> HTTP 400
        try:
            spec = spec_from_pod(a.pod)
        except PlacementError as e:
            log.warning("prioritize %s: invalid %s", pod_name(a.pod), e)
            return host_priorities(a.names, {})
        if not spec.scored:
            return host_priorities(a.names, {})
        self._await_inflight(a.pod)
        snap = self.view.snapshot()
        insts, _, cluster = self._candidates(a, snap)
        scores = score_instances(spec, insts, cluster.values())
        return host_priorities(a.names, scores)
