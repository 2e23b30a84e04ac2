"""Tasks: RunTask, StopTask, DescribeTasks and ListTasks, on ECSTask objects and the pods of
services.

A standalone task is an ECSTask whose ``spec`` is RunTask's input (docs/ecstask.md). RunTask
makes one ECSTask per task (``count`` 3 makes three objects of count 1), so StopTask stops
exactly the task it names through the ECSTask's StopTask annotation
(``ecs.seed.dev/desired-status=STOPPED``, ``ecs.seed.dev/stop-reason``); an ECSTask of several
tasks (made with kubectl) has the named task's pod deleted instead. Its tasks are answered from
the status the operator writes (``status.tasks[]``); a task the operator has not reported yet is
shown PROVISIONING with the ARN the operator will give it (``task/<cluster>/<id>``, the id derived
from the ECSTask's uid and the task's index), so DescribeTasks finds it at once.

A service's tasks are its pods (label ``ecs.seed.dev/service``): the task id is the pod's uid
without dashes (the id the service's events name), its state is read from the pod by the
operator's own lifecycle rules (:mod:`ecs_operator.translate.task_lifecycle`), ``startedBy`` is
the service deployment's id (``ecs-svc/...``), as ECS sets it. StopTask deletes the pod (the
service starts a replacement, as ECS's does). A service task whose pod is gone is not listed
(ECS shows stopped service tasks for about an hour).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ... import API_VERSION, constants
from ...domain import revisions
from ...models.generated import RunTaskRequest
from ...status import now_iso
from ...translate import task as task_tr
from ...translate import task_lifecycle as lc
from ...translate.names import dns_label
from ...translate.service import cluster_name
from ...translate.service_status import deployment_id
from .. import arns, model, tagging
from ..context import RequestContext
from ..errors import client_error, invalid_parameter
from . import clusters, operation, paginate, services, taskdefinitions, validated

KIND = "ECSTask"
#: Task members copied from a status.tasks[] entry as they are
_TASK_FIELDS = (
    "lastStatus",
    "desiredStatus",
    "group",
    "startedBy",
    "createdAt",
    "startedAt",
    "stoppingAt",
    "stoppedAt",
    "executionStoppedAt",
    "stopCode",
    "stoppedReason",
)
_CONTAINER_FIELDS = ("name", "image", "lastStatus", "exitCode", "reason", "runtimeId", "healthStatus")


def run_fields() -> tuple[str, ...]:
    op = model.operation("RunTask")
    assert op is not None and op.input_shape is not None
    return tuple(op.input_shape.members)


@dataclass
class Found:
    """One task: its ECS view (``task``) and where it lives."""

    task: dict[str, Any]
    task_id: str
    cluster: str
    obj: dict[str, Any] | None = None  # the ECSTask of a standalone task
    index: int = 0
    pod: str | None = None  # the pod's name
    service: str | None = None  # the service's ECS name (service tasks)
    family: str | None = None
    spec: dict[str, Any] | None = None


# --- views ------------------------------------------------------------------------------------


def _family(td: str | None) -> str | None:
    try:
        return revisions.parse_reference(td).family if td else None
    except revisions.ReferenceError_:
        return None


def _health(containers: list[dict[str, Any]]) -> str:
    states = {c.get("healthStatus") for c in containers}
    return "UNHEALTHY" if "UNHEALTHY" in states else "HEALTHY" if "HEALTHY" in states else "UNKNOWN"


def _launch(spec: dict[str, Any]) -> dict[str, Any]:
    strategy = spec.get("capacityProviderStrategy") or []
    if len(strategy) == 1:
        return {"capacityProviderName": strategy[0].get("capacityProvider")}
    return {} if strategy else {"launchType": spec.get("launchType") or "EC2"}


def task_view(
    ctx: RequestContext,
    entry: dict[str, Any],
    cluster: str,
    spec: dict[str, Any],
    include: frozenset[str],
    tags: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The ECS Task of a status.tasks[] entry (or of a pod read the same way)."""
    resource = str(entry.get("taskArn") or "")
    task_id = resource.rsplit("/", 1)[-1]
    arn = arns.task(ctx.region, ctx.account, cluster, task_id)
    containers = [{**{k: c.get(k) for k in _CONTAINER_FIELDS}, "taskArn": arn} for c in entry.get("containers") or []]
    td = entry.get("taskDefinitionArn")
    out: dict[str, Any] = {
        **{k: entry.get(k) for k in _TASK_FIELDS},
        "taskArn": arn,
        "clusterArn": arns.cluster(ctx.region, ctx.account, cluster),
        "taskDefinitionArn": services._td_arn(ctx, td) if td else None,
        "containers": containers,
        "healthStatus": _health(containers),
        "overrides": spec.get("overrides") or {"containerOverrides": []},
        "enableExecuteCommand": bool(spec.get("enableExecuteCommand")),
        "version": 1,
        **_launch(spec),
    }
    node = entry.get("containerInstanceArn")
    if node:
        out["containerInstanceArn"] = arns.build(ctx.region, ctx.account, "container-instance", cluster, node)
    if "TAGS" in include:
        out["tags"] = tags if tags is not None else spec.get("tags") or []
    return out


def _standalone(ctx: RequestContext, obj: dict[str, Any], include: frozenset[str]) -> list[Found]:
    """The tasks of an ECSTask: as the operator reports them, else as they will start."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    md = obj["metadata"]
    cluster = cluster_name(spec.get("cluster"))
    reported = list(status.get("tasks") or [])
    out = []
    for i in range(max(1, int(spec.get("count") or 1))):
        entry = reported[i] if i < len(reported) else {}
        if not entry.get("taskArn"):
            td = status.get("taskDefinitionArn") or spec.get("taskDefinition")
            family = _family(td)
            entry = {
                "taskArn": task_tr.task_arn(spec.get("cluster"), md.get("uid", ""), i),
                "taskDefinitionArn": td,
                "group": spec.get("group") or (f"family:{family}" if family else None),
                "startedBy": spec.get("startedBy"),
                "lastStatus": lc.PROVISIONING,
                "desiredStatus": lc.RUNNING,
                "createdAt": md.get("creationTimestamp") or now_iso(ctx.now),
            }
        task_id = str(entry["taskArn"]).rsplit("/", 1)[-1]
        view = task_view(ctx, entry, cluster, spec, include, tagging.task_tags(obj, task_id))
        out.append(
            Found(
                task=view,
                task_id=view["taskArn"].rsplit("/", 1)[-1],
                cluster=cluster,
                obj=obj,
                index=i,
                pod=entry.get("podName") or task_tr.pod_name(md["name"], i),
                family=_family(entry.get("taskDefinitionArn")),
                spec=spec,
            )
        )
    return out


def pod_entry(pod: dict[str, Any], cluster: str, service_object: str) -> dict[str, Any]:
    """A service task as status.tasks[] would hold it, read from its pod."""
    md = pod["metadata"]
    ann = md.get("annotations") or {}
    facts = lc.pod_facts(pod)
    desired = lc.STOPPED if facts.deleting or facts.terminal else lc.RUNNING
    last = lc.last_status(facts, desired, lc.PROVISIONING)
    td = ann.get(constants.TASK_DEFINITION)
    entry: dict[str, Any] = {
        "taskArn": f"task/{cluster}/{md.get('uid', '').replace('-', '')}",
        "taskDefinitionArn": td,
        "group": ann.get(constants.TASK_GROUP),
        "startedBy": deployment_id(f"{service_object}/{td}") if td else None,
        "lastStatus": last,
        "desiredStatus": desired,
        "createdAt": md.get("creationTimestamp"),
        "startedAt": lc.started_at(facts),
        "containers": lc.containers(facts, {}, last),
        "containerInstanceArn": facts.spec.get("nodeName"),
    }
    if last == lc.STOPPED:
        entry["stoppedAt"] = lc.stopped_at(facts, None, md.get("deletionTimestamp") or "")
    return entry


def _service_tasks(ctx: RequestContext, include: frozenset[str]) -> list[Found]:
    by_object = {
        o["metadata"]["name"]: o for o in ctx.kube.list_(API_VERSION, services.KIND, ctx.namespace) if o.get("spec")
    }
    out = []
    for pod in ctx.kube.list_("v1", "Pod", ctx.namespace, label_selector=constants.SERVICE):
        owner = by_object.get((pod["metadata"].get("labels") or {}).get(constants.SERVICE, ""))
        if owner is None:
            continue
        cluster, spec = services.cluster_of(owner), owner.get("spec") or {}
        entry = pod_entry(pod, cluster, owner["metadata"]["name"])
        view = task_view(ctx, entry, cluster, spec, include)
        view.pop("overrides", None)
        out.append(
            Found(
                task=view,
                task_id=view["taskArn"].rsplit("/", 1)[-1],
                cluster=cluster,
                pod=pod["metadata"]["name"],
                service=services.service_name(owner),
                family=_family(entry.get("taskDefinitionArn")),
                spec=spec,
            )
        )
    return out


def all_tasks(ctx: RequestContext, cluster: str, include: frozenset[str] = frozenset()) -> list[Found]:
    """Every task of ``cluster``: standalone ones, then the services'."""
    found = [f for obj in ctx.kube.list_(API_VERSION, KIND, ctx.namespace) for f in _standalone(ctx, obj, include)]
    found += _service_tasks(ctx, include)
    return [f for f in found if f.cluster == cluster]


def _task_id(ref: str) -> str:
    """A task's id from its ARN (``task/<cluster>/<id>``, or the old ``task/<id>``) or the id itself."""
    return ref.rsplit("/", 1)[-1]


def find(ctx: RequestContext, cluster: str, refs: Iterable[str], include: frozenset[str] = frozenset()) -> dict:
    ids = {_task_id(r) for r in refs}
    return {f.task_id: f for f in all_tasks(ctx, cluster, include) if f.task_id in ids}


# --- RunTask ----------------------------------------------------------------------------------


def check_run(spec: dict[str, Any]) -> RunTaskRequest:
    return validated(RunTaskRequest, spec, task_tr.validate, task_tr.TaskError)


def _revision(ctx: RequestContext, ref: str) -> revisions.Revision:
    try:
        rev = taskdefinitions.find_revision(ctx, revisions.parse_reference(ref))
    except revisions.ReferenceError_ as e:
        raise client_error(str(e)) from e
    if rev is None:
        raise client_error("TaskDefinition not found.")
    if rev.status != revisions.ACTIVE:
        raise client_error(f"TaskDefinition is inactive: {rev.arn}")
    return rev


@operation("RunTask")
def run_task(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    cluster = clusters.ecs_name(clusters.require(ctx, params.get("cluster")))
    spec = {k: params[k] for k in run_fields() if params.get(k) is not None and k != "count"}
    spec["cluster"] = cluster
    count = params.get("count") or 1
    check_run({**spec, "count": count})
    rev = _revision(ctx, spec["taskDefinition"])
    base = dns_label(rev.family, limit=40, fallback="task")
    tasks = []
    for _ in range(count):
        obj = {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {"name": f"{base}-{uuid.uuid4().hex[:12]}", "namespace": ctx.namespace},
            "spec": spec,
        }
        created = ctx.kube.create(obj)
        for found in _standalone(ctx, created, frozenset({"TAGS"})):
            found.task["taskDefinitionArn"] = arns.task_definition(ctx.region, ctx.account, rev.family, rev.revision)
            found.task["group"] = spec.get("group") or f"family:{rev.family}"
            found.task["containers"] = [
                {
                    "name": c.get("name"),
                    "image": c.get("image"),
                    "lastStatus": "PENDING",
                    "taskArn": found.task["taskArn"],
                }
                for c in rev.spec.get("containerDefinitions") or []
            ]
            tasks.append(found.task)
    return {"tasks": tasks, "failures": []}


# --- DescribeTasks / ListTasks ----------------------------------------------------------------


@operation("DescribeTasks")
def describe_tasks(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    cluster = clusters.ecs_name(clusters.require(ctx, params.get("cluster")))
    include = frozenset(params.get("include") or ())
    by_id = find(ctx, cluster, params["tasks"], include)
    tasks, failures = [], []
    for ref in params["tasks"]:
        hit = by_id.get(_task_id(ref))
        if hit is None:
            failures.append({"arn": arns.task(ctx.region, ctx.account, cluster, _task_id(ref)), "reason": "MISSING"})
        else:
            tasks.append(hit.task)
    return {"tasks": tasks, "failures": failures}


def _matches(f: Found, params: dict[str, Any]) -> bool:
    t = f.task
    checks = (
        ("family", f.family),
        ("startedBy", t.get("startedBy")),
        ("serviceName", f.service),
        ("launchType", t.get("launchType")),
    )
    if any(params.get(k) and params[k] != have for k, have in checks):
        return False
    instance = params.get("containerInstance")
    if instance and _task_id(instance) != _task_id(t.get("containerInstanceArn") or ""):
        return False
    wanted = params.get("desiredStatus") or lc.RUNNING
    return bool(t.get("desiredStatus") == wanted)


@operation("ListTasks")
def list_tasks(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    cluster = clusters.ecs_name(clusters.require(ctx, params.get("cluster")))
    if params.get("family") and params.get("serviceName"):
        raise invalid_parameter("family and serviceName cannot both be specified.")
    wanted = sorted(f.task["taskArn"] for f in all_tasks(ctx, cluster) if _matches(f, params))
    page, token = paginate(wanted, lambda a: a, params)
    return {"taskArns": page, "nextToken": token}


# --- StopTask ---------------------------------------------------------------------------------


def _stop(ctx: RequestContext, f: Found, reason: str) -> None:
    if f.obj is not None and int((f.spec or {}).get("count") or 1) == 1:
        patch = {"metadata": {"annotations": {task_tr.ANN_DESIRED_STATUS: lc.STOPPED, task_tr.ANN_STOP_REASON: reason}}}
        ctx.kube.merge_patch(API_VERSION, KIND, ctx.namespace, f.obj["metadata"]["name"], patch)
    elif f.pod:
        ctx.kube.delete("v1", "Pod", ctx.namespace, f.pod)


@operation("StopTask")
def stop_task(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    cluster = clusters.ecs_name(clusters.require(ctx, params.get("cluster")))
    ref = params["task"]
    hit = find(ctx, cluster, [ref]).get(_task_id(ref))
    if hit is None:
        raise invalid_parameter("The referenced task was not found.")
    task = dict(hit.task)
    if task.get("lastStatus") != lc.STOPPED and task.get("desiredStatus") != lc.STOPPED:
        reason = params.get("reason") or task_tr.DEFAULT_STOP_REASON
        _stop(ctx, hit, reason)
        task.update(desiredStatus=lc.STOPPED, stopCode=lc.USER_INITIATED, stoppedReason=reason)
        task["stoppingAt"] = now_iso(ctx.now)
    return {"task": task}
