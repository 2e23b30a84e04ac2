"""ECSService: REPLICA services as Deployments, DAEMON services as DaemonSets.

Level-based: every run resolves the task definition reference, rebuilds the workload from the
revision's pod template, applies it with server-side apply and recomputes status from what
Kubernetes reports. Status is also refreshed whenever the workload or its pods change.

Each step reads a snapshot (:mod:`ecs_operator.state.services`), asks the plan
(:mod:`ecs_operator.plans.service`) what to do and applies it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import kopf
from pydantic import ValidationError

from .. import API_VERSION, GROUP, VERSION, config, k8s, metrics
from ..domain import revisions
from ..errors import NotReady
from ..k8s import records
from ..models.generated import CreateServiceRequest, RegisterTaskDefinitionRequest
from ..plans import deployment as plan_dep
from ..plans import service as plan
from ..state import nodes as node_state
from ..state import services as state
from ..state import slim
from ..state.clusters import ClusterSnapshot, cluster_name_of, read_cluster, strategy_pools
from ..state.families import list_family, resolve_revision, services_for_family
from ..state.images import resolve_images
from ..status import format_warnings, now_iso
from ..translate import images as images_tr
from ..translate import service as svc_tr
from ..translate import service_traffic
from ..translate.service_drain import DELETION_COST
from ..translate.service_network import network_services
from ..translate.taskdef import TranslationError, translate_task_definition
from . import wakeups
from ._coalesce import Coalescer
from ._errors import enforce_policy, load_spec
from ._locks import KeyedLocks

API = API_VERSION
# One lock per service: status writes and reconciles of a service never interleave
# (re-entrant: a rollback reconciles from inside a status write).
_locks = KeyedLocks()
# Announced tasks and dirty marks, per service (dropped when the service is deleted).
_runtime = state.ServiceRuntime()


def remember_indexes(kwargs: dict) -> None:
    """Keep kopf's Index objects (passed to every handler, startup included)."""
    state.indexes.remember(kwargs)


# In-memory views of every service's workloads, ReplicaSets, pods, Services and budgets, kept by
# kopf from its watch streams (see :mod:`ecs_operator.state.services`). A status refresh reads
# them instead of listing; the objects a reconcile has just applied replace theirs.
def _by_service(body, namespace, labels, **_):
    # slim entries: what the plans read, not whole bodies (state/slim.py; ~7x less memory)
    return {(namespace, labels[svc_tr.LABEL_SERVICE]): slim.slim(body)}


for _group, _plural, _index_name in (
    ("apps", "deployments", "service_deployments"),
    ("apps", "daemonsets", "service_daemonsets"),
    ("apps", "replicasets", "service_replicasets"),
    ("", "pods", "service_pods"),
    ("", "services", "service_services"),
    ("policy", "poddisruptionbudgets", "service_budgets"),
):
    kopf.index(_group, "v1", _plural, id=_index_name, labels={svc_tr.LABEL_SERVICE: kopf.PRESENT})(_by_service)


def task_id(pod: dict) -> str:
    """A service task's id, as ECS shows one (32 hex digits): its pod's uid."""
    return pod["metadata"].get("uid", "").replace("-", "")


def _key(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


# ------------------------------------------------------------------------------------------
# Reconcile
# ------------------------------------------------------------------------------------------


def reconcile(body: dict, logger) -> None:
    """Resolve, build, apply and write status; then serve refreshes that arrived meanwhile."""
    md = body["metadata"]
    try:
        _reconcile(body, logger)
    finally:
        _drain(_key(md["namespace"], md["name"]), md["namespace"], md["name"], logger)


def _resolve(body: dict, svc: CreateServiceRequest) -> revisions.Revision:
    """The revision to run: the spec's, or the last completed one while the circuit breaker
    keeps this generation rolled back."""
    namespace = body["metadata"]["namespace"]
    status = body.get("status") or {}
    pinned = plan.pinned_task_definition(status, body["metadata"].get("generation"))
    if pinned is None:
        return resolve_revision(namespace, svc.taskDefinition or "", keep=status.get("taskDefinition"))
    ref = revisions.parse_reference(pinned)
    rev = revisions.resolve(list_family(namespace, ref.family), ref)
    if rev is None:
        raise NotReady("TaskDefinitionNotFound", f"taskDefinition: rollback target {pinned} no longer exists.")
    return rev


@dataclass(frozen=True)
class _Built:
    """What a reconcile computed before applying anything."""

    cluster: ClusterSnapshot
    owner: dict
    translation: Any  # the task definition's translation (pod template, objects, warnings)
    workload: svc_tr.ServiceWorkload
    network: list[dict]
    warnings: list[str]
    images: list[dict]  # the revision's containerImages (versionConsistency), ECS's shape


def _build(
    body: dict, svc: CreateServiceRequest, rev: revisions.Revision, revision: str, per_revision: bool = False
) -> _Built:
    """Everything is computed before anything is applied: bad input never half-applies.
    ``revision``: the service revision (deployment) of ``rev``; ``per_revision``: it runs in its own
    workloads (BLUE_GREEN/LINEAR/CANARY).

    versionConsistency: each image tag is resolved to a digest once per service revision (kept in
    its ServiceRevision's containerImages) and the tasks run ``image@digest``; a tag no registry
    answers for is kept, with a warning naming the container."""
    md = body["metadata"]
    name, namespace = md["name"], md["namespace"]
    try:
        td_model = RegisterTaskDefinitionRequest.model_validate(rev.spec)
        translation = translate_task_definition(td_model, family=rev.family, revision=rev.revision)
    except (ValidationError, TranslationError) as e:
        raise NotReady("InvalidTaskDefinition", f"taskDefinition {rev.arn}: {e}") from e
    images = resolve_images(td_model, records.revision_images(namespace, plan_dep.record_name(name, revision)))
    template = images_tr.pin_template(translation.template, translation.container_names, images)
    cluster = read_cluster(namespace, svc_tr.cluster_name(svc.cluster))
    owner = k8s.owner_of(body).as_dict()
    try:
        wl = svc_tr.workload(
            svc,
            name=name,
            namespace=namespace,
            owner=owner,
            template=template,
            task_definition=rev.arn,
            compatibilities=td_model.requiresCompatibilities,
            capacity_pools=strategy_pools(namespace, svc_tr.effective_strategy(svc, cluster.default_strategy)),
            scheduler_name=config.get().scheduler_name,
            cluster_pools=cluster.pools,
            default_strategy=cluster.default_strategy,
            revision=revision if per_revision else None,
        )
        net, net_warnings = network_services(
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
        enforce_policy(manifest["spec"]["template"], cluster.obj, cluster.name)
    warnings = format_warnings(translation.warnings) + format_warnings(wl.warnings) + format_warnings(net_warnings)
    warnings += format_warnings(images_tr.unresolved_warnings(images))
    return _Built(cluster, owner, translation, wl, net, warnings, [ci.as_ecs() for ci in images])


def _apply(namespace: str, todo: plan.ApplyPlan) -> list[dict]:
    """Apply a reconcile's plan, in its order; returns the workloads as applied."""
    for kind, wl_name in todo.delete_workloads:
        k8s.delete("apps/v1", kind, namespace, wl_name)
    for pod in todo.mark:
        k8s.merge_patch("v1", "Pod", namespace, pod, {"metadata": {"annotations": {DELETION_COST: plan.DRAINING_COST}}})
    applied = []
    for manifest in todo.manifests:
        try:
            applied.append(k8s.apply(manifest))
        except k8s.ApiError as e:
            raise NotReady(
                "WorkloadRejected",
                f"the API server refused the {manifest['kind']} {manifest['metadata']['name']}: {e.message}",
            ) from e
    for pod in todo.stop:
        k8s.delete("v1", "Pod", namespace, pod)
    for obj in todo.network + todo.budgets:
        k8s.apply(obj)
    for budget in todo.delete_budgets:
        k8s.delete("policy/v1", "PodDisruptionBudget", namespace, budget)
    for service in todo.delete_services:
        k8s.delete("v1", "Service", namespace, service)
    return applied


def _reconcile(body: dict, logger) -> None:
    md = body["metadata"]
    name, namespace = md["name"], md["namespace"]
    now = now_iso()
    with _locks.hold(_key(namespace, name)):
        body = state.fetch(namespace, name) or body
        generation = body["metadata"].get("generation")
        try:
            svc = load_spec(CreateServiceRequest, body.get("spec"), svc_tr.validate, svc_tr.ServiceError)
            rev = _resolve(body, svc)
            revision = plan_dep.revision_id(name, rev.arn)
            strategic = svc_tr.deployment_strategy(svc) != svc_tr.ROLLING
            built = _build(body, svc, rev, revision, per_revision=strategic)
            k8s.create_missing(built.translation.objects, namespace)
            snapshot = state.read(body)
            step = _strategy_step(body, svc, rev, built, snapshot, revision) if strategic else None
            manifests = step.manifests if step else built.workload.manifests
            network, traffic_warnings = _traffic(body, svc, built, step) if step else (built.network, [])
            budgets = (
                svc_tr.disruption_budgets(svc, manifests, built.owner) if plan.budgets_on(built.cluster.obj) else []
            )
            todo = plan.plan_apply(snapshot, svc, manifests=manifests, network=network, budgets=budgets)
            applied = _apply(namespace, todo)
            _record_revision(svc, name, namespace, built, revision, rev, now)
            if step is not None:
                _apply_strategy_step(body, svc, step, logger)
            desired = plan.Desired(
                task_definition=step.task_definition if step else rev.arn,
                warnings=built.warnings + traffic_warnings,
                workloads=step.workloads if step else built.workload.refs(),
                strategy=svc_tr.effective_strategy(svc, built.cluster.default_strategy),
                applied=tuple(applied),
                keep=step.keep if step else (),
            )
            _write_status(body, svc, desired, now, logger)
        except NotReady as e:
            kopf.warn(body, reason=e.reason, message=e.message)
            body = state.fetch(namespace, name) or body
            status = plan.failure_status(body.get("status") or {}, generation, e.reason, e.message, now)
            k8s.merge_patch(API, "ECSService", namespace, name, {"status": status}, subresource="status")


# ------------------------------------------------------------------------------------------
# Deployment strategies (BLUE_GREEN, LINEAR, CANARY) and the deployment records
# ------------------------------------------------------------------------------------------


def _strategy_step(
    body: dict, svc: CreateServiceRequest, rev: revisions.Revision, built: _Built, snapshot, revision: str
) -> plan_dep.StrategyPlan:
    """Step the deployment of ``revision`` (its state machine lives in its ServiceDeployment)."""
    md = body["metadata"]
    name, namespace = md["name"], md["namespace"]
    record = records.read_deployment(namespace, plan_dep.record_name(name, revision))
    target = plan_dep.Target(
        name=name,
        revision=revision,
        task_definition=rev.arn,
        manifests=built.workload.manifests,
        router=records.httproutes_served(),
    )
    return plan_dep.plan_strategy(
        svc,
        target,
        workloads=snapshot.workloads,
        pods=snapshot.pods,
        record=record,
        owner=built.owner,
        namespace=namespace,
        now=time.time(),
        minute_seconds=config.get().minute_seconds,
        generation=md.get("generation"),
    )


def _apply_strategy_step(body: dict, svc: CreateServiceRequest, step: plan_dep.StrategyPlan, logger) -> None:
    """Delete what the step stops, write the ServiceDeployment, post its events, and look again
    when a bake time or a hook's timeout ends."""
    md = body["metadata"]
    name, namespace = md["name"], md["namespace"]
    for kind, wl_name in step.delete:
        k8s.delete("apps/v1", kind, namespace, wl_name)
    if step.record_changed:
        records.write_deployment(step.record, step.record_status, exists=step.record_exists)
    deployment = step.record_status.get("id", "")
    for message in step.events:
        kopf.info(
            body,
            reason=plan.EVENT_REASON,
            message=f"(service {svc.serviceName or name}) (deployment {deployment}) {message}.",
        )
    if step.wake_at is not None:
        _timers.poke((namespace, name), delay=max(step.wake_at - time.time(), 0.2))


def _traffic(
    body: dict, svc: CreateServiceRequest, built: _Built, step: plan_dep.StrategyPlan
) -> tuple[list[dict], list[str]]:
    """The service's Services, plus one per revision and (with Gateway API) its weighted
    HTTPRoute(s); and what cannot be routed as ECS would."""
    md = body["metadata"]
    gateway, gateway_warnings = service_traffic.gateway_target(md.get("annotations"))
    objects, warnings = service_traffic.traffic_objects(
        svc,
        name=md["name"],
        namespace=md["namespace"],
        owner=built.owner,
        revisions=[service_traffic.RevisionTraffic(t.revision, t.production, t.test) for t in step.traffic],
        httproute=records.httproutes_served(),
        gateway=gateway,
    )
    return built.network + objects, format_warnings(gateway_warnings + warnings)


def _record_revision(
    svc: CreateServiceRequest,
    name: str,
    namespace: str,
    built: _Built,
    revision: str,
    rev: revisions.Revision,
    now: str,
) -> None:
    records.ensure_revision(
        plan_dep.revision_record(
            svc,
            name=name,
            namespace=namespace,
            owner=built.owner,
            revision=revision,
            task_definition=rev.arn,
            containers=list(rev.spec.get("containerDefinitions") or []),
            now=now,
            images=built.images,
        )
    )


def _write_rolling_records(body: dict, status: dict, previous: dict) -> None:
    """The ServiceDeployment records of a ROLLING service's deployments (when they changed)."""
    md = body["metadata"]
    owner = k8s.owner_of(body).as_dict()
    for record, record_status in plan_dep.rolling_records(md["name"], md["namespace"], owner, status, previous):
        records.write_deployment(record, record_status)


def _wake(key) -> None:
    namespace, name = key
    body = state.fetch(namespace, name)
    if body is None or body["metadata"].get("deletionTimestamp"):
        return
    try:
        reconcile(body, _log)
    except kopf.TemporaryError as e:
        _timers.poke(key, delay=max(float(e.delay or 1), 1.0))
    except k8s.ApiError as e:
        _log.debug(f"deployment step of {namespace}/{name} skipped: {e}")


#: Deployment steps due at a time (a bake time or a hook's timeout ends).
_timers = Coalescer(_wake, delay=1.0, workers=2, name="ecsservice-deployment-timer")


# ------------------------------------------------------------------------------------------
# Status
# ------------------------------------------------------------------------------------------


def _write_status(body: dict, svc: CreateServiceRequest, desired: plan.Desired, now: str, logger) -> None:
    """Write the status computed from ``body`` (which the caller, holding the service's lock, has
    just read: concurrent refreshes never write back an older status)."""
    md = body["metadata"]
    name, namespace = md["name"], md["namespace"]
    snapshot = state.read(body)
    key = _key(namespace, name)
    started, stopped = _runtime.take_announcements(key)
    try:
        todo = plan.plan_status(snapshot, svc, desired, started=started, stopped=stopped, now=now)
        for pod in todo.unmark:  # its node was uncordoned: an ordinary task again
            k8s.merge_patch("v1", "Pod", namespace, pod, {"metadata": {"annotations": {DELETION_COST: None}}})
        for kind, wl_name in todo.delete:  # the new Deployments run every task: the former ones stop
            k8s.delete("apps/v1", kind, namespace, wl_name)
        for event in todo.events:
            (kopf.warn if event.warning else kopf.info)(body, reason=event.reason, message=event.message)
        if todo.write:  # nothing new: no write
            k8s.merge_patch(API, "ECSService", namespace, name, {"status": todo.status}, subresource="status")
    except BaseException:  # not written: the next status names these tasks
        _runtime.give_back(key, started, stopped)
        raise
    if todo.write and svc_tr.deployment_strategy(svc) == svc_tr.ROLLING:
        _write_rolling_records(body, todo.status, body.get("status") or {})
    if todo.follow_up:  # a rollback starts, or tasks on draining nodes wait for their replacements
        reconcile(body, logger)


@kopf.on.resume(GROUP, VERSION, "ecsservices")
@kopf.on.create(GROUP, VERSION, "ecsservices")
@kopf.on.update(GROUP, VERSION, "ecsservices")
@metrics.reconciled("ECSService")
def service_changed(body, logger, **kwargs):
    remember_indexes(kwargs)
    reconcile(dict(body), logger)


#: Seconds a service whose status is behind its spec stays unchanged before it is reconciled again.
BEHIND_SECONDS = 10.0


def _behind(body, **_) -> bool:
    return plan.behind_spec(body)


@kopf.timer(GROUP, VERSION, "ecsservices", interval=BEHIND_SECONDS, idle=BEHIND_SECONDS, when=_behind)
@metrics.reconciled("ECSService", handler="behind_spec")
def status_behind_spec(body, logger, **kwargs):
    """kopf runs service_changed only for a spec that differs from the last one it handled: a change
    whose handler failed for a while and that was changed back before kopf's retry is never handled
    (see ``plans.service.behind_spec``). Such a service, unchanged for BEHIND_SECONDS (``idle``:
    not while kopf itself still retries), is reconciled: level-based, under the service's lock."""
    remember_indexes(kwargs)
    reconcile(dict(body), logger)


#: Seconds a status refresh waits for more changes of the same service before it runs.
REFRESH_DELAY = config.get().refresh_delay
_log = logging.getLogger(__name__)


def _refresh_now(key) -> None:
    namespace, name = key
    try:
        refresh_now(namespace, name, _log)
    except kopf.TemporaryError as e:
        _refreshes.poke(key, delay=max(float(e.delay or 1), 1.0))  # the API server will be back
    except k8s.ApiError as e:
        _log.debug(f"status refresh of {namespace}/{name} skipped: {e}")


_refreshes = Coalescer(_refresh_now, delay=REFRESH_DELAY, name="ecsservice-refresh")
metrics.REFRESH_QUEUE_DEPTH.set_function(_refreshes.pending)


def refresh(namespace: str, name: str) -> None:
    """Recompute an ECSService's status after its workload or tasks changed: soon, once for a
    burst of changes (see :mod:`._coalesce`), off kopf's workers."""
    _refreshes.poke((namespace, name))


@metrics.reconciled("ECSService", handler="status_refresh")
def refresh_now(namespace: str, name: str, logger) -> None:
    """Recompute an ECSService's status now. A refresh that arrives while a reconcile or
    another refresh of the service runs marks it dirty; the holder of the service's lock
    refreshes until it is clean, so no change is lost."""
    key = _key(namespace, name)
    _runtime.mark_dirty(key)
    _drain(key, namespace, name, logger)


def _drain(key: str, namespace: str, name: str, logger) -> None:
    while _runtime.is_dirty(key):
        with _locks.try_hold(key) as held:
            if not held:
                return  # the holder drains the mark after it releases
            while _runtime.take_dirty(key):
                body = state.fetch(namespace, name)
                if body is None or body["metadata"].get("deletionTimestamp"):
                    return
                try:
                    svc = CreateServiceRequest.model_validate(dict(body.get("spec") or {}))
                except ValidationError:
                    return
                if svc_tr.deployment_strategy(svc) != svc_tr.ROLLING or plan.replicas_drifted(state.read(body), svc):
                    # the deployment's state machine moves with its tasks; a Deployment another
                    # writer resized is set back
                    _reconcile(body, logger)
                    continue
                _write_status(body, svc, plan.Desired(), now_iso(), logger)


@kopf.on.event("apps", "v1", "deployments", labels={svc_tr.LABEL_SERVICE: kopf.PRESENT})
@kopf.on.event("apps", "v1", "daemonsets", labels={svc_tr.LABEL_SERVICE: kopf.PRESENT})
@kopf.on.event("", "v1", "pods", labels={svc_tr.LABEL_SERVICE: kopf.PRESENT})
@metrics.reconciled("ECSService")
def workload_event(body, event, logger, **kwargs):
    remember_indexes(kwargs)
    md = body["metadata"]
    if body.get("kind") == "Pod" and event.get("type") in ("ADDED", "DELETED"):
        # A task launched or gone now (the initial listing after a restart has no type, so
        # tasks that ran before are not announced again).
        key = _key(md["namespace"], md["labels"][svc_tr.LABEL_SERVICE])
        _runtime.announce(key, task_id(body), started=event["type"] == "ADDED")
    refresh(md["namespace"], md["labels"][svc_tr.LABEL_SERVICE])


def _has_requests(spec, **_) -> bool:
    return bool((spec or {}).get("stop") or (spec or {}).get("continue"))


@kopf.on.event(GROUP, VERSION, "servicedeployments", when=_has_requests)
@metrics.reconciled("ServiceDeployment")
def deployment_requested(body, **_):
    """A stop or continue request on a ServiceDeployment: its service's deployment moves on."""
    service = (body.get("spec") or {}).get("service")
    if service:
        refresh(body["metadata"]["namespace"], service)


@kopf.on.delete(GROUP, VERSION, "ecsservices")
@metrics.reconciled("ECSService")
def service_deleted(body, logger, **_):
    """ECS drains a deleted service: status DRAINING, tasks stopped, then the service is gone."""
    md = body["metadata"]
    name, namespace = md["name"], md["namespace"]
    k8s.merge_patch(API, "ECSService", namespace, name, {"status": {"status": "DRAINING"}}, subresource="status")
    for wl in state.owned_workloads(namespace, name, md["uid"]):
        k8s.delete("apps/v1", wl["kind"], namespace, wl["metadata"]["name"], propagation="Foreground")
    remaining = list(k8s.list_("v1", "Pod", namespace, labels={svc_tr.LABEL_SERVICE: name}))
    if remaining:
        raise kopf.TemporaryError(f"draining: {len(remaining)} tasks still stopping", delay=2)
    _runtime.forget(_key(namespace, name))  # nothing is kept for a service that is gone
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
