"""ECSService deployments as records (pure): the BLUE_GREEN, LINEAR and CANARY strategies' plan
(which revision's workloads run how many tasks, which go, the traffic weights, the
ServiceDeployment's status) and the records of ROLLING deployments.

Every ECS deployment has a ServiceDeployment and a ServiceRevision object named
``<service>-<number>`` after the deployment id ``ecs-svc/<number>`` (the same id the service's
status.deployments shows). A strategy deployment's state machine
(:mod:`ecs_operator.domain.deployments`) keeps its place in the ServiceDeployment's
status.machine; the user's stop and continue requests are its spec.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .. import API_VERSION, constants
from ..domain import deployments as dep
from ..models.generated import CreateServiceRequest, DeploymentConfiguration
from ..status import condition, merge_conditions
from ..translate import service as svc_tr
from ..translate.service_status import deployment_id, is_active

Obj = dict[str, Any]
KIND_DEPLOYMENT = "ServiceDeployment"
KIND_REVISION = "ServiceRevision"


def revision_id(name: str, task_definition: str) -> str:
    """The service revision (the number of the deployment id ECS shows) of ``task_definition``."""
    return deployment_id(f"{name}/{task_definition}").split("/", 1)[1]


def record_name(service: str, revision: str) -> str:
    """The ServiceDeployment / ServiceRevision name of a service's revision."""
    return f"{service[: 253 - len(revision) - 1]}-{revision}"


def iso(seconds: float | None) -> str | None:
    """Seconds since the epoch as the ISO time the records show."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ref(obj: Obj) -> str:
    return f"{obj.get('kind') or 'Deployment'}/{obj['metadata']['name']}"


def _label(obj: Obj, key: str) -> str | None:
    value = (obj["metadata"].get("labels") or {}).get(key)
    return str(value) if value is not None else None


def _ready(pod: Obj) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return is_active(pod) and any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _failed(pods: Sequence[Obj]) -> int:
    n = 0
    for p in pods:
        st = p.get("status") or {}
        n += 1 if st.get("phase") == "Failed" else 0
        n += sum(cs.get("restartCount", 0) or 0 for cs in st.get("containerStatuses") or [])
    return n


def _template_td(workload: Obj) -> str | None:
    template = (workload.get("spec") or {}).get("template") or {}
    value = ((template.get("metadata") or {}).get("annotations") or {}).get(constants.TASK_DEFINITION)
    return str(value) if value else None


@dataclass(frozen=True)
class Sides:
    """The target (green) revision's workloads and tasks, and the source (blue) ones: every other
    Deployment the service owns, whatever revision (or none: a ROLLING past) it runs."""

    green: list[Obj]
    blue: list[Obj]
    green_pods: list[Obj]
    blue_pods: list[Obj]


def sides(workloads: Sequence[Obj], pods: Sequence[Obj], revision: str) -> Sides:
    deployments = [w for w in workloads if (w.get("kind") or "Deployment") == "Deployment"]
    green = [w for w in deployments if _label(w, constants.SERVICE_REVISION) == revision]
    blue = [w for w in deployments if w not in green]
    green_pods = [p for p in pods if _label(p, constants.SERVICE_REVISION) == revision]
    blue_pods = [p for p in pods if p not in green_pods]
    return Sides(green, blue, green_pods, blue_pods)


def health(s: Sides, desired: int) -> dep.Health:
    return dep.Health(
        desired=desired,
        green_running=sum(1 for p in s.green_pods if _ready(p)),
        green_pending=sum(1 for p in s.green_pods if is_active(p) and not _ready(p)),
        green_failed=_failed(s.green_pods),
        blue_running=sum(1 for p in s.blue_pods if _ready(p)),
        blue_pending=sum(1 for p in s.blue_pods if is_active(p) and not _ready(p)),
        has_source=bool(s.blue) or any(is_active(p) for p in s.blue_pods),
    )


# ------------------------------------------------------------------------------------------
# The record <-> the machine's state
# ------------------------------------------------------------------------------------------


def state_of(record: Obj | None) -> dep.State:
    """The machine's state kept in a ServiceDeployment's status (a new deployment: PENDING)."""
    st = (record or {}).get("status") or {}
    m = st.get("machine") or {}
    if not st.get("status"):
        return dep.State()
    hooks = tuple(
        dep.HookState(
            hook_id=h["hookId"],
            index=int(h.get("index", 0)),
            stage=h.get("stage", ""),
            status=h.get("status", "AWAITING_ACTION"),
            started_at=float(h.get("startedAt", 0.0)),
            expires_at=float(h["expiresAt"]) if h.get("expiresAt") is not None else None,
        )
        for h in m.get("hooks") or []
    )
    return dep.State(
        status=st["status"],
        stage=st.get("lifecycleStage") or "RECONCILE_SERVICE",
        position=int(m.get("position", 0)),
        entered_at=float(m.get("enteredAt", 0.0)),
        production=float(m.get("production", 0.0)),
        test=float(m.get("test", 0.0)),
        reason=m.get("reason") or "",
        hooks=hooks,
        started_at=m.get("startedAt"),
        finished_at=m.get("finishedAt"),
        rollback_started_at=m.get("rollbackStartedAt"),
    )


def _machine(st: dep.State) -> Obj:
    out: Obj = {
        "position": st.position,
        "enteredAt": st.entered_at,
        "production": st.production,
        "test": st.test,
        "reason": st.reason,
        "hooks": [
            {
                "hookId": h.hook_id,
                "index": h.index,
                "stage": h.stage,
                "status": h.status,
                "startedAt": h.started_at,
                **({"expiresAt": h.expires_at} if h.expires_at is not None else {}),
            }
            for h in st.hooks
        ],
    }
    for key, value in (
        ("startedAt", st.started_at),
        ("finishedAt", st.finished_at),
        ("rollbackStartedAt", st.rollback_started_at),
    ):
        if value is not None:
            out[key] = value
    return out


def requests_of(record: Obj | None) -> dep.Requests:
    """The user's stop and continue requests (a ServiceDeployment's spec)."""
    spec = (record or {}).get("spec") or {}
    stop = (spec.get("stop") or {}).get("stopType")
    hooks = {c["hookId"]: c.get("action") or "CONTINUE" for c in spec.get("continue") or [] if c.get("hookId")}
    return dep.Requests(stop=stop, continue_hooks=hooks)


def configuration_of(record: Obj | None, svc: CreateServiceRequest) -> DeploymentConfiguration:
    """The configuration the deployment started with (the service's, for a new one)."""
    kept = ((record or {}).get("status") or {}).get("deploymentConfiguration")
    if kept:
        return DeploymentConfiguration.model_validate(kept)
    return svc.deploymentConfiguration or DeploymentConfiguration()


# ------------------------------------------------------------------------------------------
# The plan
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Traffic:
    revision: str
    production: int
    test: int


@dataclass(frozen=True)
class StrategyPlan:
    """What a reconcile of a strategy service does: apply ``manifests`` (the target revision's
    workloads, at the machine's count), delete ``delete`` (kind, name), write the record."""

    manifests: tuple[Obj, ...]
    delete: tuple[tuple[str, str], ...]
    record: Obj  # the ServiceDeployment (metadata + spec.service), applied when new
    record_status: Obj
    record_changed: bool
    record_exists: bool
    task_definition: str  # what the service runs: the source's after a rollback
    workloads: list[str]  # status.workloads: the refs of the revision the service runs
    keep: tuple[str, ...]  # refs of workloads a status write must not delete as stale
    traffic: tuple[Traffic, ...]
    events: tuple[str, ...]
    wake_at: float | None
    step: dep.Step


def _scaled(manifests: Sequence[Obj], count: int, desired: int) -> list[Obj]:
    """The target's workloads at ``count`` tasks in all (their split kept: all or nothing)."""
    out = []
    for m in manifests:
        m = copy.deepcopy(m)
        if count < desired:
            m["spec"]["replicas"] = 0
        out.append(m)
    return out


def _summary(
    name: str, revision: str, td: str | None, pods: Sequence[Obj], requested: int, prod: int, test: int
) -> Obj:
    return {
        "serviceRevision": record_name(name, revision) if revision else "",
        "arn": f"ecs-svc/{revision}" if revision else "",
        "taskDefinition": td or "",
        "requestedTaskCount": requested,
        "runningTaskCount": sum(1 for p in pods if is_active(p) and (p.get("status") or {}).get("phase") == "Running"),
        "pendingTaskCount": sum(1 for p in pods if is_active(p) and (p.get("status") or {}).get("phase") == "Pending"),
        "requestedProductionTrafficWeight": float(prod),
        "requestedTestTrafficWeight": float(test),
    }


def _hook_details(st: dep.State, dc: DeploymentConfiguration) -> list[Obj]:
    hooks = list(dc.lifecycleHooks or [])
    out = []
    for h in st.hooks:
        hook = hooks[h.index] if h.index < len(hooks) else None
        tc = hook.timeoutConfiguration if hook else None
        out.append(
            {
                "hookId": h.hook_id,
                "targetType": (hook.targetType if hook else None) or "PAUSE",
                **({"targetArn": hook.hookTargetArn} if hook and hook.hookTargetArn else {}),
                "status": h.status,
                "lifecycleStage": h.stage,
                **({"expiresAt": iso(h.expires_at)} if h.expires_at is not None else {}),
                **({"timeoutAction": (tc.action or "ROLLBACK")} if tc and tc.timeoutInMinutes else {}),
            }
        )
    return out


@dataclass(frozen=True)
class Target:
    """The revision a reconcile deploys."""

    name: str  # the ECSService
    revision: str
    task_definition: str
    manifests: tuple[Obj, ...]  # its workloads at full size (translate.service.workload)
    router: bool  # traffic is weighted by an HTTPRoute (else it follows task counts)


def plan_strategy(
    svc: CreateServiceRequest,
    target: Target,
    *,
    workloads: Sequence[Obj],
    pods: Sequence[Obj],
    record: Obj | None,
    owner: Obj,
    namespace: str,
    now: float,
    minute_seconds: float,
    generation: int | None = None,
) -> StrategyPlan:
    """Step the target revision's deployment and say what Kubernetes runs for it."""
    desired = svc.desiredCount or 0
    s = sides(workloads, pods, target.revision)
    dc = configuration_of(record, svc)
    cb = svc_tr.circuit_breaker(svc)
    settings = dep.Settings(
        minute_seconds=minute_seconds,
        circuit_breaker_threshold=svc_tr.circuit_breaker_threshold(desired) if cb else None,
        circuit_breaker_rollback=bool(cb and cb.rollback),
    )
    step = dep.advance(state_of(record), dc, health(s, desired), requests_of(record), now, settings)
    st = step.state
    rolled_back = st.status in (dep.ROLLBACK_IN_PROGRESS, dep.ROLLBACK_SUCCESSFUL, dep.ROLLBACK_REQUESTED)
    green_refs = [_ref(m) for m in target.manifests]
    blue_refs = [_ref(w) for w in s.blue]
    delete: list[tuple[str, str]] = []
    if rolled_back:
        manifests: list[Obj] = []
        delete += [("Deployment", w["metadata"]["name"]) for w in s.green]
    else:
        manifests = _scaled(target.manifests, step.green_count, desired)
    if step.blue_count == 0:
        delete += [("Deployment", w["metadata"]["name"]) for w in s.blue]
    blue_td = next((td for td in map(_template_td, s.blue) if td), None)
    serving_blue = rolled_back and blue_td is not None
    traffic = _traffic(target.revision, s.blue, step)
    status = _record_status(svc, target, s, step, dc, record, now, traffic, generation)
    previous = (record or {}).get("status") or {}
    changed = any(previous.get(k) != v for k, v in status.items() if k not in ("updatedAt", "conditions"))
    if changed:
        status["updatedAt"] = iso(now)
    return StrategyPlan(
        manifests=tuple(manifests),
        delete=tuple(delete),
        record={
            "apiVersion": API_VERSION,
            "kind": KIND_DEPLOYMENT,
            "metadata": {
                "name": record_name(target.name, target.revision),
                "namespace": namespace,
                "labels": {constants.SERVICE: target.name, constants.SERVICE_REVISION: target.revision},
                "ownerReferences": [owner],
            },
            "spec": {"service": target.name},
        },
        record_status=status,
        record_changed=changed or record is None,
        record_exists=record is not None,
        task_definition=blue_td if serving_blue and blue_td else target.task_definition,
        workloads=blue_refs if serving_blue else green_refs,
        keep=() if serving_blue else tuple(blue_refs),
        traffic=traffic,
        events=step.events,
        wake_at=step.wake_at,
        step=step,
    )


def _traffic(revision: str, blue: Sequence[Obj], step: dep.Step) -> tuple[Traffic, ...]:
    """The weights per revision: the target's, and the rest to the (newest labelled) source."""
    out = [Traffic(revision, step.production, step.test)]
    blue_revisions = [r for r in (_label(w, constants.SERVICE_REVISION) for w in blue) if r]
    if blue_revisions:
        out.append(Traffic(blue_revisions[0], 100 - step.production, 100 - step.test))
        out += [Traffic(r, 0, 0) for r in dict.fromkeys(blue_revisions[1:])]
    return tuple(out)


def _sources(target: Target, s: Sides, step: dep.Step, traffic: Sequence[Traffic]) -> list[Obj]:
    """The source revisions' summaries, one per task definition the source workloads run."""
    weights = {t.revision: t for t in traffic}
    by_td: dict[str, list[Obj]] = {}
    for w in s.blue:
        by_td.setdefault(_template_td(w) or "unknown", []).append(w)
    out = []
    for td, ws in by_td.items():
        rev = _label(ws[0], constants.SERVICE_REVISION) or ""
        pods = [p for p in s.blue_pods if _template_pod_td(p) == td]
        t = weights.get(rev)
        requested = 0 if step.blue_count == 0 else sum((w.get("spec") or {}).get("replicas", 0) for w in ws)
        out.append(_summary(target.name, rev, td, pods, requested, t.production if t else 0, t.test if t else 0))
    return out


def _record_conditions(
    previous: Obj, target: Target, step: dep.Step, dc: DeploymentConfiguration, generation: int | None, now: str
) -> list[Obj]:
    st = step.state
    traffic_msg = (
        "an HTTPRoute weights production and test traffic per revision"
        if target.router
        else "no router (Gateway API HTTPRoute) in this cluster: the service's Kubernetes Service selects "
        "every task of both revisions, so traffic follows task counts"
    )
    alarms_msg = (
        "CloudWatch alarms cannot be read here: they never stop or roll back this deployment"
        if dc.alarms
        else "no alarms configured"
    )
    why = st.reason or step.waiting_for or st.status
    return merge_conditions(
        previous.get("conditions"),
        [
            condition("Ready", st.status == dep.SUCCESSFUL, st.status, why, generation, now),
            condition(
                "Traffic", target.router, "HTTPRoute" if target.router else "NoRouter", traffic_msg, generation, now
            ),
            condition("Alarms", False, "CloudWatchUnavailable", alarms_msg, generation, now),
        ],
    )


def _record_status(
    svc: CreateServiceRequest,
    target: Target,
    s: Sides,
    step: dep.Step,
    dc: DeploymentConfiguration,
    record: Obj | None,
    now: float,
    traffic: Sequence[Traffic],
    generation: int | None,
) -> Obj:
    st = step.state
    previous = (record or {}).get("status") or {}
    target_summary = _summary(
        target.name, target.revision, target.task_definition, s.green_pods, step.green_count, step.production, step.test
    )
    out: Obj = {
        "id": f"ecs-svc/{target.revision}",
        "serviceName": svc.serviceName or target.name,
        "clusterArn": svc_tr.cluster_name(svc.cluster),
        "strategy": dc.strategy or "BLUE_GREEN",
        "status": st.status,
        "statusReason": st.reason or step.waiting_for,
        "lifecycleStage": st.stage,
        "createdAt": previous.get("createdAt") or iso(now),
        "startedAt": iso(st.started_at),
        "finishedAt": iso(st.finished_at),
        "stoppedAt": iso(st.finished_at) if st.status == dep.STOPPED else None,
        "targetServiceRevision": target_summary,
        # once the source's workloads are gone (CLEAN_UP, ROLLBACK of a stop), the record still
        # names what the deployment replaced, as ECS's does
        "sourceServiceRevisions": _sources(target, s, step, traffic)
        or [
            {**x, "requestedTaskCount": 0, "runningTaskCount": 0, "pendingTaskCount": 0}
            for x in previous.get("sourceServiceRevisions") or []
        ],
        "lifecycleHookDetails": _hook_details(st, dc),
        "awaitingHookId": next((h.hook_id for h in st.hooks if h.status == "AWAITING_ACTION"), ""),
        "waitingFor": step.waiting_for,
        "deploymentConfiguration": dc.model_dump(exclude_none=True),
        "deploymentCircuitBreaker": _circuit_breaker(svc, s, step),
        "alarms": {"status": "DISABLED", "alarmNames": [], "triggeredAlarmNames": []},
        "machine": _machine(st),
        "observedGeneration": generation,
    }
    if st.rollback_started_at is not None:
        out["rollback"] = {"reason": st.reason, "startedAt": iso(st.rollback_started_at)}
    out = {k: v for k, v in out.items() if v is not None}
    out["conditions"] = _record_conditions(previous, target, step, dc, generation, iso(now) or "")
    return out


def _template_pod_td(pod: Obj) -> str | None:
    value = (pod["metadata"].get("annotations") or {}).get(constants.TASK_DEFINITION)
    return str(value) if value else None


def _circuit_breaker(svc: CreateServiceRequest, s: Sides, step: dep.Step) -> Obj:
    cb = svc_tr.circuit_breaker(svc)
    if cb is None:
        return {"status": "DISABLED", "failureCount": 0, "threshold": 0}
    tripped = "tasks failed to start" in step.state.reason
    return {
        "status": "TRIGGERED"
        if tripped
        else ("MONITORING_COMPLETE" if step.state.status in dep.FINAL else "MONITORING"),
        "failureCount": _failed(s.green_pods),
        "threshold": svc_tr.circuit_breaker_threshold(svc.desiredCount or 0),
    }


# ------------------------------------------------------------------------------------------
# ServiceRevision records, and the ServiceDeployment records of ROLLING deployments
# ------------------------------------------------------------------------------------------


def revision_record(
    svc: CreateServiceRequest,
    *,
    name: str,
    namespace: str,
    owner: Obj,
    revision: str,
    task_definition: str,
    containers: Sequence[Obj],
    now: str,
    images: Sequence[Obj] = (),
) -> Obj:
    """The ServiceRevision of ``revision`` (ECS's revisions never change: created once).
    ``images``: the deployment's resolved ``containerImages`` (versionConsistency), by container
    name; the other containers are listed with their image as named."""
    resolved = {str(i.get("containerName")): dict(i) for i in images}
    spec: Obj = {
        "service": name,
        "arn": f"ecs-svc/{revision}",
        "revision": revision,
        "clusterArn": svc_tr.cluster_name(svc.cluster),
        "taskDefinition": task_definition,
        "containerImages": [
            resolved.get(str(c.get("name", "")))
            or {"containerName": str(c.get("name", "")), "image": str(c.get("image", ""))}
            for c in containers[:64]
        ],
        "createdAt": now,
    }
    if svc.launchType:
        spec["launchType"] = svc.launchType
    if svc.capacityProviderStrategy:
        spec["capacityProviderStrategy"] = [i.model_dump(exclude_none=True) for i in svc.capacityProviderStrategy]
    if svc.loadBalancers:
        spec["loadBalancers"] = [lb.model_dump(exclude_none=True) for lb in svc.loadBalancers]
    if svc.serviceRegistries:
        spec["serviceRegistries"] = [r.model_dump(exclude_none=True) for r in svc.serviceRegistries]
    return {
        "apiVersion": API_VERSION,
        "kind": KIND_REVISION,
        "metadata": {
            "name": record_name(name, revision),
            "namespace": namespace,
            "labels": {constants.SERVICE: name, constants.SERVICE_REVISION: revision},
            "ownerReferences": [owner],
        },
        "spec": spec,
    }


_ROLLING_STATUS = {"COMPLETED": dep.SUCCESSFUL, "IN_PROGRESS": dep.IN_PROGRESS}


def rolling_records(name: str, namespace: str, owner: Obj, status: Obj, previous: Obj) -> list[tuple[Obj, Obj]]:
    """(ServiceDeployment, its status) to write for a ROLLING service whose status goes from
    ``previous`` to ``status``: the PRIMARY deployment's when it changed, and the former PRIMARY's
    when a new one replaced it before it completed (STOPPED, or ROLLBACK_SUCCESSFUL when the circuit
    breaker rolled it back)."""
    deployments = status.get("deployments") or []
    before = previous.get("deployments") or []
    if not deployments:
        return []
    primary = deployments[0]
    out = []
    was = next((d for d in before if d.get("id") == primary["id"]), None)
    # written when the deployment changes state, not on every task (its counts are those of then)
    keys = ("status", "rolloutState", "desiredCount", "taskDefinition")
    if was is None or any(was.get(k) != primary.get(k) for k in keys):
        out.append(_rolling_record(name, namespace, owner, primary, deployments[1:], status))
    old = before[0] if before else None
    if old and old.get("id") != primary["id"] and old.get("rolloutState") != "COMPLETED":
        final = (
            dep.ROLLBACK_SUCCESSFUL
            if status.get("rolledBackTaskDefinition") == old.get("taskDefinition")
            else dep.STOPPED
        )
        rec, st = _rolling_record(name, namespace, owner, old, [], status)
        st.update(status=final, statusReason="superseded by a newer deployment", finishedAt=primary.get("createdAt"))
        out.append((rec, st))
    return out


def _rolling_record(
    name: str, namespace: str, owner: Obj, d: Obj, sources: Sequence[Obj], status: Obj
) -> tuple[Obj, Obj]:
    number = str(d["id"]).split("/", 1)[-1]
    state = d.get("rolloutState") or "IN_PROGRESS"
    record_status = _ROLLING_STATUS.get(
        state, dep.ROLLBACK_IN_PROGRESS if status.get("rolledBackGeneration") else dep.STOPPED
    )

    def summary(x: Obj) -> Obj:
        n = str(x["id"]).split("/", 1)[-1]
        return {
            "serviceRevision": record_name(name, n),
            "arn": x["id"],
            "taskDefinition": x.get("taskDefinition") or "",
            "requestedTaskCount": x.get("desiredCount") or 0,
            "runningTaskCount": x.get("runningCount") or 0,
            "pendingTaskCount": x.get("pendingCount") or 0,
        }

    rec = {
        "apiVersion": API_VERSION,
        "kind": KIND_DEPLOYMENT,
        "metadata": {
            "name": record_name(name, number),
            "namespace": namespace,
            "labels": {constants.SERVICE: name, constants.SERVICE_REVISION: number},
            "ownerReferences": [owner],
        },
        "spec": {"service": name},
    }
    st: Obj = {
        "id": d["id"],
        "serviceName": status.get("serviceName") or name,
        "clusterArn": status.get("clusterArn") or "default",
        "strategy": "ROLLING",
        "status": record_status,
        "statusReason": d.get("rolloutStateReason") or "",
        "lifecycleStage": "CLEAN_UP" if record_status == dep.SUCCESSFUL else "SCALE_UP",
        "createdAt": d.get("createdAt"),
        "startedAt": d.get("createdAt"),
        "updatedAt": d.get("updatedAt"),
        "targetServiceRevision": summary(d),
        "sourceServiceRevisions": [summary(x) for x in sources],
    }
    if record_status == dep.SUCCESSFUL:
        st["finishedAt"] = d.get("updatedAt")
    return rec, {k: v for k, v in st.items() if v is not None}
