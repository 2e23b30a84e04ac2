"""ECSService: REPLICA services as Deployments, DAEMON services as DaemonSets.

Level-based: every run resolves the task definition reference, rebuilds the workload from the
revision's pod template, applies it with server-side apply and recomputes status from what
Kubernetes reports. Status is also refreshed whenever the workload or its pods change.
"""

from __future__ import annotations

import logging
from collections import defaultdict

import kopf
from pydantic import ValidationError

from .. import API_VERSION, GROUP, VERSION, config, k8s
from ..domain import revisions
from ..errors import NotReady
from ..models.generated import CapacityProviderStrategyItem, CreateServiceRequest, RegisterTaskDefinitionRequest
from ..state import nodes as node_state
from ..state.clusters import cluster_name_of, cluster_pools, existing_cluster, strategy_pools
from ..state.clusters import default_strategy as cluster_default_strategy
from ..state.families import list_family, resolve_revision, services_for_family
from ..status import condition, format_warnings, merge_conditions, now_iso
from ..translate import service as svc_tr
from ..translate.taskdef import TranslationError, translate_task_definition
from . import wakeups
from ._coalesce import Coalescer
from ._errors import enforce_policy, load_spec
from ._locks import KeyedLocks

API = API_VERSION
# One lock per service: status writes and reconciles of a service never interleave
# (re-entrant: a rollback reconciles from inside a status write).
_locks = KeyedLocks()
_dirty: dict[str, bool] = {}


def _resolve(svc: CreateServiceRequest, namespace: str, current_td: str | None) -> revisions.Revision:
    return resolve_revision(namespace, svc.taskDefinition or "", keep=current_td)


def _resolve_exact(namespace: str, arn: str) -> revisions.Revision:
    ref = revisions.parse_reference(arn)
    rev = revisions.resolve(list_family(namespace, ref.family), ref)
    if rev is None:
        raise NotReady("TaskDefinitionNotFound", f"taskDefinition: rollback target {arn} no longer exists.")
    return rev


def _kind(svc: CreateServiceRequest) -> str:
    return "DaemonSet" if svc_tr.scheduling_strategy(svc) == svc_tr.DAEMON else "Deployment"


# In-memory views of every service's workloads, ReplicaSets and pods, kept by kopf from its
# watch streams (kopf runs no handler before these are populated from the initial listings,
# and updates an object's entry before that object's own handlers run). A status refresh
# reads them instead of listing; the objects a reconcile has just applied replace theirs.
_INDEXED_KINDS = {
    "Deployment": "service_deployments",
    "DaemonSet": "service_daemonsets",
    "ReplicaSet": "service_replicasets",
    "Pod": "service_pods",
    "Service": "service_services",
    "PodDisruptionBudget": "service_budgets",
}
_indexes: dict[str, kopf.Index] = {}


def remember_indexes(kwargs: dict) -> None:
    """Keep kopf's Index objects (passed to every handler, startup included)."""
    for index_name in _INDEXED_KINDS.values():
        if index_name in kwargs and index_name not in _indexes:
            _indexes[index_name] = kwargs[index_name]


def _by_service(body, namespace, labels, **_):
    return {(namespace, labels[svc_tr.LABEL_SERVICE]): dict(body)}


for _group, _plural, _index_name in (
    ("apps", "deployments", "service_deployments"),
    ("apps", "daemonsets", "service_daemonsets"),
    ("apps", "replicasets", "service_replicasets"),
    ("", "pods", "service_pods"),
    ("", "services", "service_services"),
    ("policy", "poddisruptionbudgets", "service_budgets"),
):
    kopf.index(_group, "v1", _plural, id=_index_name, labels={svc_tr.LABEL_SERVICE: kopf.PRESENT})(_by_service)

_API_VERSIONS = {"Pod": "v1", "Service": "v1", "PodDisruptionBudget": "policy/v1"}


def _service_objects(kind: str, namespace: str, name: str) -> list[dict]:
    """The service's objects of ``kind`` (labelled ecs.seed.dev/service=name): from kopf's index
    when the operator runs, else listed."""
    index = _indexes.get(_INDEXED_KINDS[kind])
    if index is None:
        found = k8s.list_(_API_VERSIONS.get(kind, "apps/v1"), kind, namespace, labels={svc_tr.LABEL_SERVICE: name})
        for obj in found:
            obj.setdefault("kind", kind)
        return found
    return [dict(obj, kind=kind) for obj in index.get((namespace, name), [])]


def _owned_workloads(namespace: str, name: str, uid: str, kinds=("Deployment", "DaemonSet")) -> list[dict]:
    """Every Deployment and DaemonSet (of ``kinds``) this ECSService owns."""
    return [
        obj
        for kind in kinds
        for obj in _service_objects(kind, namespace, name)
        if any(o.get("uid") == uid for o in obj["metadata"].get("ownerReferences") or [])
    ]


def _ref(obj: dict) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


# Tasks launched / stopped since the service's last status (ids, per service): named in ECS's
# "has started N tasks" / "has stopped N running tasks" events. Filled from pod ADDED and
# DELETED events, consumed by the status write.
_started: dict[str, list[str]] = defaultdict(list)
_stopped: dict[str, list[str]] = defaultdict(list)
#: At most this many task ids wait per service for the next status (ECS keeps 100 events).
MAX_ANNOUNCED = 100
#: pod-deletion-cost of tasks on DRAINING container instances (lowest: they go first).
DRAINING_COST = "-1000"


def _drain_plan(svc: CreateServiceRequest, namespace: str, name: str, manifests) -> svc_tr.DrainPlan:
    """Which tasks leave DRAINING container instances now (no API call unless a node drains)."""
    draining = node_state.draining.names()
    if not draining or svc_tr.scheduling_strategy(svc) == svc_tr.DAEMON:
        return svc_tr.DrainPlan(tuple(manifests))
    pods = _service_objects("Pod", namespace, name)
    plan = svc_tr.drain(svc, tuple(manifests), pods, draining)
    marked = {
        p["metadata"]["name"]
        for p in pods
        if (p["metadata"].get("annotations") or {}).get(svc_tr.DELETION_COST) == DRAINING_COST
    }
    return svc_tr.DrainPlan(plan.manifests, tuple(sorted(set(plan.mark) - marked)), plan.stop)


def _budgets_on(cluster_obj: dict | None) -> bool:
    """The ECSCluster asks for PodDisruptionBudgets (spec.kubernetes.podDisruptionBudgets)."""
    return bool((((cluster_obj or {}).get("spec") or {}).get("kubernetes") or {}).get("podDisruptionBudgets"))


def task_id(pod: dict) -> str:
    """A service task's id, as ECS shows one (32 hex digits): its pod's uid."""
    return pod["metadata"].get("uid", "").replace("-", "")


def reconcile(body: dict, logger) -> None:
    """Resolve, build, apply and write status; then serve refreshes that arrived meanwhile."""
    md = body["metadata"]
    try:
        _reconcile(body, logger)
    finally:
        _drain(f"{md['namespace']}/{md['name']}", md["namespace"], md["name"], logger)


def _reconcile(body: dict, logger) -> None:
    md = body["metadata"]
    name, namespace, generation = md["name"], md["namespace"], md.get("generation")
    now = now_iso()
    with _locks.hold(f"{namespace}/{name}"):
        body = k8s.get(API, "ECSService", namespace, name) or body
        md = body["metadata"]
        generation = md.get("generation")
        try:
            svc = load_spec(CreateServiceRequest, body.get("spec"), svc_tr.validate, svc_tr.ServiceError)
            status = body.get("status") or {}
            current_td = status.get("taskDefinition")
            if status.get("rolledBackGeneration") == generation and status.get("lastCompletedTaskDefinition"):
                # The circuit breaker rolled this generation back: keep running the last
                # completed task definition until the spec changes again.
                rev = _resolve_exact(namespace, status["lastCompletedTaskDefinition"])
            else:
                rev = _resolve(svc, namespace, current_td)
            try:
                td_model = RegisterTaskDefinitionRequest.model_validate(rev.spec)
                translation = translate_task_definition(td_model, family=rev.family, revision=rev.revision)
            except (ValidationError, TranslationError) as e:
                raise NotReady("InvalidTaskDefinition", f"taskDefinition {rev.arn}: {e}") from e
            cluster = svc_tr.cluster_name(svc.cluster)
            cluster_obj = existing_cluster(namespace, cluster)
            default_strategy = cluster_default_strategy(cluster_obj)
            owner = k8s.owner_of(body).as_dict()
            try:
                # Everything is computed before anything is applied: bad input never half-applies.
                wl = svc_tr.workload(
                    svc,
                    name=name,
                    namespace=namespace,
                    owner=owner,
                    template=translation.template,
                    task_definition=rev.arn,
                    compatibilities=td_model.requiresCompatibilities,
                    capacity_pools=strategy_pools(namespace, svc_tr.effective_strategy(svc, default_strategy)),
                    scheduler_name=config.get().scheduler_name,
                    cluster_pools=cluster_pools(namespace, cluster_obj),
                    default_strategy=default_strategy,
                )
                net, net_warnings = svc_tr.network_services(
                    svc,
                    name=name,
                    namespace=namespace,
                    owner=owner,
                    template=translation.template,
                    container_names=translation.container_names,
                )
            except svc_tr.ServiceError as e:
                raise NotReady("InvalidParameterException", str(e)) from e
            for manifest in wl.manifests:
                enforce_policy(manifest["spec"]["template"], cluster_obj, cluster)
            k8s.create_missing(translation.objects, namespace)
            # A switch REPLICA <-> DAEMON replaces the workload kind at once; Deployments the
            # service no longer wants (its capacity provider strategy changed shape) stop once
            # the new ones run every task (see _write_status).
            for stale in _owned_workloads(namespace, name, md["uid"]):
                if stale["kind"] != _kind(svc):
                    k8s.delete("apps/v1", stale["kind"], namespace, stale["metadata"]["name"])
            plan = _drain_plan(svc, namespace, name, wl.manifests)
            for pod in plan.mark:
                k8s.merge_patch(
                    "v1", "Pod", namespace, pod, {"metadata": {"annotations": {svc_tr.DELETION_COST: DRAINING_COST}}}
                )
            applied = []
            for manifest in plan.manifests:
                try:
                    applied.append(k8s.apply(manifest))
                except k8s.ApiError as e:
                    raise NotReady(
                        "WorkloadRejected",
                        f"the API server refused the {manifest['kind']} {manifest['metadata']['name']}: {e.message}",
                    ) from e
            for pod in plan.stop:
                k8s.delete("v1", "Pod", namespace, pod)
            for obj in net:
                k8s.apply(obj)
            budgets = svc_tr.disruption_budgets(svc, wl.manifests, owner) if _budgets_on(cluster_obj) else []
            for obj in budgets:
                k8s.apply(obj)
            wanted_budgets = {o["metadata"]["name"] for o in budgets}
            for existing in _service_objects("PodDisruptionBudget", namespace, name):
                owned = any(o.get("uid") == md["uid"] for o in existing["metadata"].get("ownerReferences") or [])
                if owned and existing["metadata"]["name"] not in wanted_budgets:
                    k8s.delete("policy/v1", "PodDisruptionBudget", namespace, existing["metadata"]["name"])
            wanted = {o["metadata"]["name"] for o in net}
            for existing in _service_objects("Service", namespace, name):
                owned = any(o.get("uid") == md["uid"] for o in existing["metadata"].get("ownerReferences", []))
                if owned and existing["metadata"]["name"] not in wanted:
                    k8s.delete("v1", "Service", namespace, existing["metadata"]["name"])
            warnings = (
                format_warnings(translation.warnings) + format_warnings(wl.warnings) + format_warnings(net_warnings)
            )
            _write_status(
                body,
                svc,
                rev.arn,
                warnings,
                now,
                logger,
                workloads=wl.refs(),
                strategy=svc_tr.effective_strategy(svc, default_strategy),
                applied=applied,
                fetched=True,
            )
        except NotReady as e:
            kopf.warn(body, reason=e.reason, message=e.message)
            body = k8s.get(API, "ECSService", namespace, name) or body
            k8s.merge_patch(
                API,
                "ECSService",
                namespace,
                name,
                {
                    "status": {
                        "observedGeneration": generation,
                        "conditions": merge_conditions(
                            (body.get("status") or {}).get("conditions"),
                            [
                                condition("Ready", False, e.reason, e.message, generation, now),
                                condition("Progressing", False, e.reason, e.message, generation, now),
                            ],
                        ),
                    }
                },
                subresource="status",
            )


def _write_status(
    body: dict,
    svc: CreateServiceRequest,
    task_definition: str | None,
    warnings: list[str] | None,
    now: str,
    logger,
    workloads: list[str] | None = None,
    strategy: list | None = None,
    applied: list[dict] | None = None,
    fetched: bool = False,
) -> None:
    md = body["metadata"]
    name, namespace = md["name"], md["namespace"]
    # Status is computed from the object as it is now (callers may hold an older copy), under
    # the per-service lock, so concurrent refreshes never write back an older status.
    if not fetched:  # ``fetched``: the caller has just read it
        body = k8s.get(API, "ECSService", namespace, name) or body
    md = body["metadata"]
    generation = md.get("generation")
    kind = _kind(svc)
    previous = body.get("status") or {}
    wanted = workloads or previous.get("workloads") or [f"{kind}/{name}"]
    if strategy is None and workloads is None and previous.get("capacityProviderStrategy"):
        strategy = [CapacityProviderStrategyItem.model_validate(i) for i in previous["capacityProviderStrategy"]]
    # ``applied``: what the reconcile just applied, fresher than the watch has seen.
    fresh = {_ref(o): o for o in (dict(a, kind=a.get("kind") or kind) for a in applied or [])}
    owned = [
        fresh.get(_ref(w), w)
        for w in _service_objects(kind, namespace, name)
        if any(o.get("uid") == md["uid"] for o in w["metadata"].get("ownerReferences") or [])
    ]
    owned += [o for r, o in fresh.items() if r not in {_ref(w) for w in owned}]
    current = [w for w in owned if _ref(w) in wanted]
    rss = _service_objects("ReplicaSet", namespace, name) if kind == "Deployment" else []
    pods = _service_objects("Pod", namespace, name)
    td = task_definition or previous.get("taskDefinition") or ""
    started = _started.pop(f"{namespace}/{name}", [])
    stopped = _stopped.pop(f"{namespace}/{name}", [])
    ecs, steady = svc_tr.service_status(
        svc=svc,
        name=name,
        workloads=current,
        replicasets=rss,
        pods=pods,
        previous=previous,
        task_definition=td,
        now=now,
        started_tasks=started,
        stopped_tasks=stopped,
        capacity_provider_strategy=strategy,
    )
    ecs["workloads"] = wanted
    stale = [w for w in owned if _ref(w) not in wanted]
    draining = node_state.draining.names()
    unmark = [
        p["metadata"]["name"]
        for p in pods
        if (p["metadata"].get("annotations") or {}).get(svc_tr.DELETION_COST) == DRAINING_COST
        and (p.get("spec") or {}).get("nodeName") not in draining
        and svc_tr.is_active(p)
    ]
    for pod in unmark:  # its node was uncordoned: an ordinary task again
        k8s.merge_patch("v1", "Pod", namespace, pod, {"metadata": {"annotations": {svc_tr.DELETION_COST: None}}})
    drain_pending = (
        workloads is None
        and kind == "Deployment"
        and any((p.get("spec") or {}).get("nodeName") in draining and svc_tr.is_active(p) for p in pods)
    )
    if stale and kind == "Deployment" and svc_tr.workloads_complete(svc, current):
        # The new Deployments run every task: the ones of the former strategy stop now.
        for w in stale:
            k8s.delete("apps/v1", w["kind"], namespace, w["metadata"]["name"])
    for event in ecs["events"]:
        if event not in (previous.get("events") or []):
            kopf.info(body, reason="ServiceEvent", message=event["message"])
    failed = ecs["rolloutState"] == "FAILED"
    rollback: dict = {
        k: previous[k]
        for k in ("lastCompletedTaskDefinition", "rolledBackTaskDefinition", "rolledBackGeneration")
        if k in previous
    }
    rolled_back = previous.get("rolledBackGeneration") == generation
    if steady:
        rollback["lastCompletedTaskDefinition"] = ecs["taskDefinition"]
    cb = svc_tr.circuit_breaker(svc)
    start_rollback = (
        failed
        and cb is not None
        and cb.rollback
        and not rolled_back
        and rollback.get("lastCompletedTaskDefinition")
        and rollback["lastCompletedTaskDefinition"] != ecs["taskDefinition"]
    )
    if start_rollback:
        rollback.update(rolledBackTaskDefinition=ecs["taskDefinition"], rolledBackGeneration=generation)
        msg = (
            f"(service {ecs['serviceName']}) rolling back to deployment of "
            f"{rollback['lastCompletedTaskDefinition']}: deployment circuit breaker tripped."
        )
        ecs["events"] = [{"id": f"rollback-{generation}", "createdAt": now, "message": msg}] + ecs["events"][:99]
        kopf.warn(body, reason="ServiceEvent", message=msg)
    if rolled_back or start_rollback:
        why = (
            f"the deployment of {rollback['rolledBackTaskDefinition']} failed and was rolled back to "
            f"{rollback['lastCompletedTaskDefinition']}"
        )
        ready_cond = condition("Ready", False, "RolledBack", why, generation, now)
    else:
        ready_cond = condition(
            "Ready",
            steady,
            "SteadyState" if steady else ("DeploymentFailed" if failed else "NotSteady"),
            f"{ecs['runningCount']}/{ecs['desiredCount']} tasks running; rollout {ecs['rolloutState']}",
            generation,
            now,
        )
    conditions = [
        ready_cond,
        condition(
            "Progressing",
            not failed and not steady,
            "DeploymentFailed" if failed else ("DeploymentCompleted" if steady else "DeploymentInProgress"),
            ecs["rolloutStateReason"],
            generation,
            now,
        ),
    ]
    if warnings is not None:
        conditions.append(
            condition(
                "Translated",
                True,
                "TranslatedWithWarnings" if warnings else "Translated",
                ("Kubernetes cannot express: " + "; ".join(warnings)) if warnings else "every field is expressed",
                generation,
                now,
            )
        )
    status = {
        **ecs,
        **rollback,
        "observedGeneration": generation,
        "conditions": merge_conditions(previous.get("conditions"), conditions),
    }
    if any(previous.get(k) != v for k, v in status.items()):  # nothing new: no write
        k8s.merge_patch(API, "ECSService", namespace, name, {"status": status}, subresource="status")
    if start_rollback or drain_pending:
        reconcile(body, logger)


@kopf.on.resume(GROUP, VERSION, "ecsservices")
@kopf.on.create(GROUP, VERSION, "ecsservices")
@kopf.on.update(GROUP, VERSION, "ecsservices")
def service_changed(body, logger, **kwargs):
    remember_indexes(kwargs)
    reconcile(dict(body), logger)


#: Seconds a status refresh waits for more changes of the same service before it runs.
REFRESH_DELAY = config.get().refresh_delay
_log = logging.getLogger(__name__)


def _refresh_now(key: tuple[str, str]) -> None:
    namespace, name = key
    try:
        refresh_now(namespace, name, _log)
    except kopf.TemporaryError as e:
        _refreshes.poke(key, delay=max(float(e.delay or 1), 1.0))  # the API server will be back
    except k8s.ApiError as e:
        _log.debug(f"status refresh of {namespace}/{name} skipped: {e}")


_refreshes = Coalescer(_refresh_now, delay=REFRESH_DELAY, name="ecsservice-refresh")


def refresh(namespace: str, name: str) -> None:
    """Recompute an ECSService's status after its workload or tasks changed: soon, once for a
    burst of changes (see :mod:`._coalesce`), off kopf's workers."""
    _refreshes.poke((namespace, name))


def refresh_now(namespace: str, name: str, logger) -> None:
    """Recompute an ECSService's status now. A refresh that arrives while a reconcile or
    another refresh of the service runs marks it dirty; the holder of the service's lock
    refreshes until it is clean, so no change is lost."""
    key = f"{namespace}/{name}"
    _dirty[key] = True
    _drain(key, namespace, name, logger)


def _drain(key: str, namespace: str, name: str, logger) -> None:
    while _dirty.get(key):
        with _locks.try_hold(key) as held:
            if not held:
                return  # the holder drains the mark after it releases
            while _dirty.pop(key, False):
                body = k8s.get(API, "ECSService", namespace, name)
                if body is None or body["metadata"].get("deletionTimestamp"):
                    return
                try:
                    svc = CreateServiceRequest.model_validate(dict(body.get("spec") or {}))
                except ValidationError:
                    return
                _write_status(body, svc, None, None, now_iso(), logger, fetched=True)


@kopf.on.event("apps", "v1", "deployments", labels={svc_tr.LABEL_SERVICE: kopf.PRESENT})
@kopf.on.event("apps", "v1", "daemonsets", labels={svc_tr.LABEL_SERVICE: kopf.PRESENT})
@kopf.on.event("", "v1", "pods", labels={svc_tr.LABEL_SERVICE: kopf.PRESENT})
def workload_event(body, event, logger, **kwargs):
    remember_indexes(kwargs)
    md = body["metadata"]
    if body.get("kind") == "Pod" and event.get("type") in ("ADDED", "DELETED"):
        # A task launched or gone now (the initial listing after a restart has no type, so
        # tasks that ran before are not announced again).
        key = f"{md['namespace']}/{md['labels'][svc_tr.LABEL_SERVICE]}"
        ids = (_started if event["type"] == "ADDED" else _stopped)[key]
        ids.append(task_id(body))
        del ids[:-MAX_ANNOUNCED]  # a service whose status is never written again keeps no more
    refresh(md["namespace"], md["labels"][svc_tr.LABEL_SERVICE])


@kopf.on.delete(GROUP, VERSION, "ecsservices")
def service_deleted(body, logger, **_):
    """ECS drains a deleted service: status DRAINING, tasks stopped, then the service is gone."""
    md = body["metadata"]
    name, namespace = md["name"], md["namespace"]
    k8s.merge_patch(API, "ECSService", namespace, name, {"status": {"status": "DRAINING"}}, subresource="status")
    for wl in _owned_workloads(namespace, name, md["uid"]):
        k8s.delete("apps/v1", wl["kind"], namespace, wl["metadata"]["name"], propagation="Foreground")
    remaining = list(k8s.list_("v1", "Pod", namespace, labels={svc_tr.LABEL_SERVICE: name}))
    if remaining:
        raise kopf.TemporaryError(f"draining: {len(remaining)} tasks still stopping", delay=2)
    key = f"{namespace}/{name}"
    for pending in (_started, _stopped, _dirty):  # nothing is kept for a service that is gone
        pending.pop(key, None)
    logger.info(f"service {name} drained")


# What wakes a service up (see .wakeups): its cluster changed, its family got a new revision, a
# node with its tasks started draining.
def _cluster_services(cluster: dict) -> list[dict]:
    name = cluster_name_of(cluster)
    namespace = cluster["metadata"]["namespace"]
    return [
        s
        for s in k8s.list_(API, "ECSService", namespace)
        if svc_tr.cluster_name((s.get("spec") or {}).get("cluster")) == name
    ]


wakeups.depends("ECSService", on="ECSCluster", find=_cluster_services, run=reconcile)
wakeups.depends(
    "ECSService",
    on="TaskDefinition",
    find=lambda td: services_for_family(td["metadata"]["namespace"], (td.get("status") or {}).get("family")),
    run=reconcile,
)
wakeups.depends(
    "ECSService",
    on="Node",
    find=lambda node: sorted(node_state.services_on(node["metadata"]["name"])),
    run=lambda key, logger: refresh(*key),  # its status refresh moves the drain on
)
