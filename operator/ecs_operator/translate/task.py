"""ECSTask (RunTask / StopTask) -> Pods, and ECS's task lifecycle computed from those Pods.

Pure: no client, no clock (``now`` is passed in), no randomness. The handler
(``handlers/ecstask.py``) resolves the task definition, creates what :func:`task_pod` returns,
and writes what :func:`ecs_status` computes.

* Each of the ``count`` tasks is one Pod ``<ecstask>-<index>`` with ``restartPolicy: Never``:
  a stopped ECS task stays stopped.
* ``overrides`` are applied to the task definition *before* it is translated
  (:func:`apply_overrides`), so they get exactly the translation (escaping, resource rules,
  validation) a task definition gets.
* The lifecycle (PROVISIONING -> PENDING -> RUNNING -> DEPROVISIONING -> STOPPED), stop codes
  and stopped reasons are worded as ECS's DescribeTasks reports them (the rules:
  :mod:`.task_lifecycle`, reading the pod's containers: :mod:`.container_status`); see
  docs/ecstask.md.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from .. import constants
from ..domain.membership import restrict_to_cluster
from ..domain.revisions import family_label
from ..models.generated import ContainerOverride, RegisterTaskDefinitionRequest, RunTaskRequest, TaskOverride
from ..status import condition
from . import task_lifecycle as lc
from .service import LABEL_CLUSTER, ServiceError, apply_placement, cluster_label, cluster_name
from .task_lifecycle import (
    DEPROVISIONING,
    ESSENTIAL_CONTAINER_EXITED,
    PENDING,
    PROVISIONING,
    RUNNING,
    STOPPED,
    USER_INITIATED,
)
from .taskdef import TranslationWarning

LABEL_TASK = constants.TASK
LABEL_TASK_INDEX = constants.TASK_INDEX
ANN_GROUP = constants.TASK_GROUP
ANN_TASK_DEFINITION = constants.TASK_DEFINITION
ANN_STARTED_BY = constants.STARTED_BY
ANN_TASK_ARN = constants.TASK_ARN
# StopTask: annotations on the ECSTask (see docs/ecstask.md for why an annotation).
ANN_DESIRED_STATUS = constants.DESIRED_STATUS
ANN_STOP_REASON = constants.STOP_REASON

MAX_COUNT = 10  # RunTask starts up to 10 tasks per call
DEFAULT_STOP_REASON = "Task stopped by user"

# Every RunTask field: translated, reported (warned when set), or ignored with a reason.
TRANSLATED = {
    "cluster": "label ecs.seed.dev/cluster on the task's pods ('default' when unset)",
    "taskDefinition": "the pod template of the resolved revision (family, family:revision or ARN)",
    "count": "one Pod per task, <ecstask>-<index> (1-10)",
    "group": "annotation ecs.seed.dev/group (default family:<family>)",
    "startedBy": "annotation ecs.seed.dev/started-by and tasks[].startedBy",
    "overrides": "applied to the task definition before translation (see OVERRIDES_*)",
    "enableExecuteCommand": "kubectl exec works on every task; nothing to translate",
    "launchType": "FARGATE -> the FARGATE virtual nodes (nodeSelector + toleration); EC2 -> ordinary nodes",
    "placementConstraints": "validated; memberOf on node attributes -> nodeAffinity, distinctInstance -> "
    "podAntiAffinity; all of them in an annotation for the ecs-scheduler extender",
    "placementStrategy": "an annotation the ecs-scheduler extender scores by (spread, binpack, random)",
    "capacityProviderStrategy": "FARGATE/FARGATE_SPOT -> their virtual nodes; an EC2 capacity provider -> its node "
    "pool; a split across several providers is reported",
}
WARNED = {
    "networkConfiguration": "subnets, security groups and public IPs have no Kubernetes equivalent; tasks use the pod network",
    "volumeConfigurations": "volumes configured at launch are not provisioned yet",
}
IGNORED = {
    "clientToken": "idempotency of the RunTask call; an ECSTask is created once by name",
    "platformVersion": "Fargate platform version; virtual nodes have none",
    "referenceId": "kept on the ECSTask object",
    "tags": "AWS resource tags; kept on the ECSTask object",
    "enableECSManagedTags": "AWS resource tags",
    "propagateTags": "AWS resource tags",
}
OVERRIDES_TRANSLATED = {
    "containerOverrides": "per container, see CONTAINER_OVERRIDES_TRANSLATED",
    "cpu": "task-level cpu of the task definition",
    "memory": "task-level memory of the task definition",
    "ephemeralStorage": "ephemeralStorage of the task definition",
}
OVERRIDES_WARNED = {
    "taskRoleArn": "the task runs with the task definition's role (ServiceAccount); the override is not applied",
    "executionRoleArn": "the execution role is not used on Kubernetes; the override is not applied",
    "inferenceAcceleratorOverrides": "Elastic Inference has no Kubernetes equivalent",
}
CONTAINER_OVERRIDES_TRANSLATED = {
    "name": "selects the container (an unknown name is refused as ECS does)",
    "command": "replaces the container's command (args)",
    "environment": "added to / replaces the container's environment by name",
    "environmentFiles": "replaces the container's environmentFiles",
    "cpu": "replaces the container's cpu",
    "memory": "replaces the container's memory",
    "memoryReservation": "replaces the container's memoryReservation",
    "resourceRequirements": "replaces the container's resourceRequirements",
}

_START_BY_RE = re.compile(r"^[A-Za-z0-9_/-]{1,128}$")


class TaskError(ValueError):
    """RunTask input ECS itself would refuse (InvalidParameterException); ``str()`` names the field."""

    def __init__(self, field_: str, message: str):
        super().__init__(f"{field_}: {message}")
        self.field = field_
        self.message = message


# ------------------------------------------------------------------------------------------
# RunTask input
# ------------------------------------------------------------------------------------------


def task_count(req: RunTaskRequest) -> int:
    return 1 if req.count is None else req.count


def validate(req: RunTaskRequest) -> None:
    """The RunTask rules ECS enforces that the CRD schema does not."""
    if not req.taskDefinition or not req.taskDefinition.strip():
        raise TaskError("taskDefinition", "a task definition must be specified")
    n = task_count(req)
    if not 1 <= n <= MAX_COUNT:
        raise TaskError("count", f"{n} is out of range: RunTask starts 1 to {MAX_COUNT} tasks per call")
    if not re.match(r"^[A-Za-z0-9_-]{1,255}$", cluster_name(req.cluster)):
        raise TaskError(
            "cluster",
            f"{req.cluster!r} is not a valid cluster name or ARN. Up to 255 letters "
            "(uppercase and lowercase), numbers, underscores, and hyphens are allowed.",
        )
    if req.launchType and req.capacityProviderStrategy:
        raise TaskError(
            "launchType",
            "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.",
        )
    if req.startedBy is not None and not _START_BY_RE.match(req.startedBy):
        raise TaskError(
            "startedBy",
            f"{req.startedBy!r}: up to 128 letters (uppercase and lowercase), numbers, "
            "hyphens (-), forward slash (/), and underscores (_) are allowed.",
        )
    if req.group is not None and not 1 <= len(req.group) <= 255:
        raise TaskError("group", "must be 1 to 255 characters")
    for i, co in enumerate((req.overrides.containerOverrides or []) if req.overrides else []):
        if not co.name:
            raise TaskError(f"overrides.containerOverrides[{i}].name", "a container override needs a name")


def task_warnings(req: RunTaskRequest) -> list[TranslationWarning]:
    out = [
        TranslationWarning(name, WARNED[name])
        for name in type(req).model_fields
        if name in WARNED and getattr(req, name) not in (None, [])
    ]
    if req.overrides is not None:
        for name, why in OVERRIDES_WARNED.items():
            if getattr(req.overrides, name) not in (None, []):
                out.append(TranslationWarning(f"overrides.{name}", why))
    return out


def group_of(req: RunTaskRequest, family: str) -> str:
    return req.group or f"family:{family}"


def apply_overrides(td: RegisterTaskDefinitionRequest, overrides: TaskOverride | None) -> RegisterTaskDefinitionRequest:
    """The task definition with RunTask's ``overrides`` applied (a new model; ``td`` is not
    changed). An override naming no container of the task definition is refused as ECS does."""
    if overrides is None:
        return td
    data = td.model_dump(mode="json", exclude_none=True)
    containers = data.get("containerDefinitions", [])
    by_name = {c.get("name"): c for c in containers}
    for i, co in enumerate(overrides.containerOverrides or []):
        _override_container(by_name, i, co)
    if overrides.cpu is not None:
        data["cpu"] = overrides.cpu
    if overrides.memory is not None:
        data["memory"] = overrides.memory
    if overrides.ephemeralStorage is not None:
        data["ephemeralStorage"] = overrides.ephemeralStorage.model_dump(mode="json", exclude_none=True)
    try:
        return RegisterTaskDefinitionRequest.model_validate(data)
    except ValidationError as e:  # e.g. a negative cpu that the container shape refuses
        err = e.errors()[0]
        raise TaskError("overrides", f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}") from e


def _override_container(by_name: dict[str, dict[str, Any]], i: int, co: ContainerOverride) -> None:
    where = f"overrides.containerOverrides[{i}]"
    if not co.name:
        raise TaskError(f"{where}.name", "a container override needs a name")
    c = by_name.get(co.name)
    if c is None:
        raise TaskError(
            f"{where}.name", f"Override for container named {co.name} is not a container in the TaskDefinition."
        )
    if co.command is not None:
        c["command"] = list(co.command)
    if co.environment is not None:
        env = {kv.get("name"): kv for kv in c.get("environment", [])}
        for kv in co.environment:
            env[kv.name] = kv.model_dump(mode="json", exclude_none=True)
        c["environment"] = list(env.values())
    if co.environmentFiles is not None:
        c["environmentFiles"] = [f.model_dump(mode="json", exclude_none=True) for f in co.environmentFiles]
    for name in ("cpu", "memory", "memoryReservation"):
        value = getattr(co, name)
        if value is not None:
            if value < 0:
                raise TaskError(f"{where}.{name}", f"{value} must not be negative")
            c[name] = value
    if co.resourceRequirements is not None:
        c["resourceRequirements"] = [r.model_dump(mode="json", exclude_none=True) for r in co.resourceRequirements]


def translation_warnings(warnings: Iterable[TranslationWarning]) -> list[TranslationWarning]:
    """A task definition's warnings as they apply to a standalone task: the non-essential
    warning is about services (restartPolicy Always); a task's pod never restarts a container,
    and the operator stops the task when an essential container exits, as ECS does."""
    return [w for w in warnings if not (w.field.endswith(".essential") and w.message.startswith("non-essential"))]


# ------------------------------------------------------------------------------------------
# Names and the Pod
# ------------------------------------------------------------------------------------------


def task_label(name: str) -> str:
    """Label value for an ECSTask name (names may be longer than a label's 63 characters)."""
    return family_label(name)


def pod_name(name: str, index: int) -> str:
    suffix = f"-{index}"
    if len(name) + len(suffix) <= 253:
        return name + suffix
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: 253 - len(suffix) - 9].rstrip('-.')}-{digest}{suffix}"


def task_id(owner_uid: str, index: int) -> str:
    """A 32-hex-digit task id, like ECS's, stable for (ECSTask, index)."""
    return hashlib.sha256(f"{owner_uid}/{index}".encode()).hexdigest()[:32]


def task_arn(cluster: str | None, owner_uid: str, index: int) -> str:
    """The resource part of an ECS task ARN: ``task/<cluster>/<id>``."""
    return f"task/{cluster_name(cluster)}/{task_id(owner_uid, index)}"


def task_pod(
    template: dict[str, Any],
    *,
    name: str,
    namespace: str,
    index: int,
    owner: dict[str, Any],
    req: RunTaskRequest,
    family: str,
    task_definition: str,
    placement: tuple[dict[str, Any], list[Any]] = ({}, []),
    scheduler_name: str | None = None,
    cluster_pools: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """The Pod of task ``index``: the revision's (overridden) pod template, restartPolicy Never.
    ``placement``: nodeSelector and tolerations of the launch type / capacity provider; without
    one, the task stays on its cluster's container instances (``cluster_pools``: see
    :func:`ecs_operator.clusters.restrict_to_cluster`).
    ``scheduler_name``: ``spec.schedulerName`` (e.g. ``ecs-scheduler``); None: the default scheduler."""
    t = copy.deepcopy(template)
    md = t.get("metadata") or {}
    labels = dict(md.get("labels") or {})
    labels.update(
        {LABEL_TASK: task_label(name), LABEL_TASK_INDEX: str(index), LABEL_CLUSTER: cluster_label(req.cluster)}
    )
    annotations = dict(md.get("annotations") or {})
    annotations[ANN_TASK_DEFINITION] = task_definition
    annotations[ANN_GROUP] = group_of(req, family)
    annotations[ANN_TASK_ARN] = task_arn(req.cluster, owner["uid"], index)
    if req.startedBy:
        annotations[ANN_STARTED_BY] = req.startedBy
    spec = t.get("spec") or {}
    spec["restartPolicy"] = "Never"
    # ECS reports an unhealthy standalone task (healthStatus UNHEALTHY) but never stops it for
    # that; only a service replaces unhealthy tasks. A liveness probe would kill the container,
    # and with restartPolicy Never that stops the task: the readiness probe alone reports health.
    for c in spec.get("containers", []) + spec.get("initContainers", []):
        c.pop("livenessProbe", None)
    node_selector, tolerations = placement
    if node_selector:
        spec["nodeSelector"] = {**spec.get("nodeSelector", {}), **node_selector}
    if tolerations:
        spec["tolerations"] = spec.get("tolerations", []) + list(tolerations)
    placed: dict[str, Any] = {"metadata": {"labels": labels, "annotations": annotations}, "spec": spec}
    try:
        apply_placement(placed, req.placementConstraints, req.placementStrategy, group_of(req, family))
    except ServiceError as e:
        raise TaskError(e.field, str(e).split(": ", 1)[1]) from e
    spec = placed["spec"]
    if not node_selector:
        spec = restrict_to_cluster(spec, cluster_name(req.cluster), cluster_pools)
    if scheduler_name:
        spec["schedulerName"] = scheduler_name
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name(name, index),
            "namespace": namespace,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [owner],
        },
        "spec": spec,
    }


def pod_index(pod: dict[str, Any]) -> int | None:
    value = (pod.get("metadata", {}).get("labels") or {}).get(LABEL_TASK_INDEX, "")
    return int(value) if value.isdigit() else None


# ------------------------------------------------------------------------------------------
# StopTask
# ------------------------------------------------------------------------------------------


def stop_request(annotations: dict[str, Any] | None) -> str | None:
    """The stop reason when the ECSTask asks for its tasks to stop, else None."""
    annotations = annotations or {}
    if str(annotations.get(ANN_DESIRED_STATUS, "")).strip().upper() != STOPPED:
        return None
    return (annotations.get(ANN_STOP_REASON) or "").strip() or DEFAULT_STOP_REASON


# ------------------------------------------------------------------------------------------
# Lifecycle: the ECS view of each task, computed from its Pod and what was recorded before
# ------------------------------------------------------------------------------------------


def launched(entry: dict[str, Any] | None) -> bool:
    """A task whose pod was created (or that was stopped before it started): never started again."""
    return bool(entry) and (bool((entry or {}).get("createdAt")) or (entry or {}).get("lastStatus") == STOPPED)


@dataclass(frozen=True)
class TaskView:
    entry: dict[str, Any]  # the ECS Task object for status.tasks[]
    delete_pod: bool = False  # the task must stop: delete its pod (after the status is written)
    stopped_now: bool = False  # the stop was decided in this computation (for an event)
    failure: dict[str, Any] | None = None  # a RunTask-style placement failure {arn, reason, detail}


def task_view(
    *,
    index: int,
    base: dict[str, Any],
    pod: dict[str, Any] | None,
    previous: dict[str, Any] | None,
    stop_reason: str | None,
    now: str,
) -> TaskView:
    """The ECS Task object of one task (see the module docstring and docs/ecstask.md).

    ``base``: the fields fixed at launch (taskArn, clusterArn, taskDefinitionArn, group, ...).
    ``previous``: what status.tasks[index] held; what it recorded (exit codes, stop code) is kept.
    """
    prev = dict(previous or {})
    entry: dict[str, Any] = {**prev, **{k: v for k, v in base.items() if v is not None}}
    if pod is None:
        return _view_without_pod(entry, prev, stop_reason, now)
    return _view_of_pod(entry, prev, lc.pod_facts(pod), stop_reason, now)


def _view_without_pod(entry: dict[str, Any], prev: dict[str, Any], stop_reason: str | None, now: str) -> TaskView:
    """A task with no pod: never started (PROVISIONING, or STOPPED if a stop came first), or
    started and its pod is gone (STOPPED, with what it recorded)."""
    decided_before = prev.get("desiredStatus", RUNNING) == STOPPED
    previous = {c.get("name"): c for c in prev.get("containers") or []}
    containers = [{**c, "lastStatus": STOPPED} for c in previous.values()]
    if launched(prev):
        if not decided_before:  # the pod went away without the operator stopping the task
            entry.update(stopCode=USER_INITIATED, stoppedReason=lc.POD_DELETED, stoppingAt=now, succeeded=False)
        entry.update(
            lastStatus=STOPPED, desiredStatus=STOPPED, stoppedAt=prev.get("stoppedAt") or now, containers=containers
        )
        return TaskView(entry, stopped_now=not decided_before)
    if stop_reason is not None:  # stopped before it was ever started
        entry.update(
            lastStatus=STOPPED,
            desiredStatus=STOPPED,
            stopCode=USER_INITIATED,
            stoppedReason=stop_reason,
            stoppingAt=now,
            stoppedAt=now,
            containers=containers,
            succeeded=False,
        )
        return TaskView(entry, stopped_now=True)
    entry.update(lastStatus=PROVISIONING, desiredStatus=RUNNING, containers=containers)
    return TaskView(entry)


def _view_of_pod(
    entry: dict[str, Any], prev: dict[str, Any], facts: lc.PodFacts, stop_reason: str | None, now: str
) -> TaskView:
    desired = prev.get("desiredStatus", RUNNING)
    _record_launch(entry, facts, prev, now)

    # The stop decision is taken once; what it recorded is kept.
    cause = lc.stop_cause(facts, stop_reason) if desired != STOPPED else None
    if cause is not None:
        desired = STOPPED
        entry.update(lc.stop_fields(facts, cause[0], cause[1], now))

    last = lc.last_status(facts, desired, prev.get("lastStatus", PROVISIONING))
    entry["lastStatus"] = last
    entry["desiredStatus"] = desired
    prev_containers = {c.get("name"): c for c in prev.get("containers") or []}
    entry["containers"] = lc.containers(facts, prev_containers, last)

    started = lc.started_at(facts)
    if not entry.get("startedAt") and started:
        entry["startedAt"] = started
    if last == STOPPED:
        entry["stoppedAt"] = lc.stopped_at(facts, prev.get("stoppedAt"), now)
        entry.setdefault("stoppingAt", entry["stoppedAt"])

    failure = lc.placement_failure(facts, entry.get("taskArn")) if last == PROVISIONING else None
    delete = desired == STOPPED and not facts.terminal and not facts.deleting and not facts.mains_done
    return TaskView(entry, delete_pod=delete, stopped_now=cause is not None, failure=failure)


def _record_launch(entry: dict[str, Any], facts: lc.PodFacts, prev: dict[str, Any], now: str) -> None:
    """What the task was launched with, from its pod (the spec may have changed since)."""
    md = facts.pod["metadata"]
    ann = md.get("annotations") or {}
    for key, ann_key in (
        ("taskArn", ANN_TASK_ARN),
        ("taskDefinitionArn", ANN_TASK_DEFINITION),
        ("group", ANN_GROUP),
        ("startedBy", ANN_STARTED_BY),
    ):
        if ann.get(ann_key):
            entry[key] = ann[ann_key]
    if str(entry.get("taskArn", "")).count("/") == 2:
        entry["clusterArn"] = entry["taskArn"].split("/")[1]
    entry["createdAt"] = prev.get("createdAt") or md.get("creationTimestamp") or now
    entry["podName"] = md.get("name")
    if facts.spec.get("nodeName"):
        entry["containerInstanceArn"] = facts.spec["nodeName"]


# ------------------------------------------------------------------------------------------
# The ECSTask's status
# ------------------------------------------------------------------------------------------


@dataclass
class TaskSetStatus:
    status: dict[str, Any]  # ECS fields of the ECSTask status (without conditions / observedGeneration)
    delete_pods: list[str] = field(default_factory=list)
    stopped: list[dict[str, Any]] = field(default_factory=list)  # tasks whose stop was decided now
    new_failures: list[dict[str, Any]] = field(default_factory=list)  # placement failures not reported before


def ecs_status(
    *,
    bases: list[dict[str, Any]],
    pods: Mapping[int, dict[str, Any]],
    previous: dict[str, Any],
    stop_reason: str | None,
    now: str,
    task_definition: str | None,
) -> TaskSetStatus:
    """status.tasks[] and the ECSTask-level summary, from the pods (by task index)."""
    prev_tasks = list(previous.get("tasks") or [])
    views = [
        task_view(
            index=i,
            base=base,
            pod=pods.get(i),
            previous=prev_tasks[i] if i < len(prev_tasks) else None,
            stop_reason=stop_reason,
            now=now,
        )
        for i, base in enumerate(bases)
    ]
    tasks = [v.entry for v in views]
    out: dict[str, Any] = {"tasks": tasks}
    if task_definition:
        out["taskDefinitionArn"] = task_definition
    if tasks:
        out.update(_summary(tasks))
    failures = [v.failure for v in views if v.failure]
    out["failures"] = failures or None
    prev_failures = {(f.get("arn"), f.get("reason")) for f in previous.get("failures") or []}
    return TaskSetStatus(
        status=out,
        delete_pods=[v.entry["podName"] for v in views if v.delete_pod and v.entry.get("podName")],
        stopped=[v.entry for v in views if v.stopped_now],
        new_failures=[f for f in failures if (f.get("arn"), f.get("reason")) not in prev_failures],
    )


def _summary(tasks: list[dict[str, Any]]) -> dict[str, Any]:
    """The ECSTask-level fields: the task's for count 1; for more, the least advanced
    lastStatus, the first unsucceeded task's stop, the earliest start and the latest stop."""
    last = min((t["lastStatus"] for t in tasks), key=lambda s: lc.RANK.get(s, 0))
    out: dict[str, Any] = {
        "lastStatus": last,
        "desiredStatus": STOPPED if all(t["desiredStatus"] == STOPPED for t in tasks) else RUNNING,
        "taskArn": tasks[0].get("taskArn"),
    }
    started = [t["startedAt"] for t in tasks if t.get("startedAt")]
    out["startedAt"] = min(started) if started else None
    stopped = [t for t in tasks if t.get("desiredStatus") == STOPPED]
    if last == STOPPED or (len(tasks) == 1 and stopped):
        pick = next((t for t in stopped if not t.get("succeeded")), stopped[0])
        out["stopCode"] = pick.get("stopCode")
        out["stoppedReason"] = pick.get("stoppedReason")
    else:
        out["stopCode"] = out["stoppedReason"] = None
    out["stoppedAt"] = max(t.get("stoppedAt") or "" for t in tasks) if last == STOPPED else None
    return out


def stopped_message(task: dict[str, Any]) -> str:
    codes = ", ".join(f"{c['name']}={c['exitCode']}" for c in task.get("containers", []) if "exitCode" in c)
    return f"Task {task.get('taskArn')} stopped ({task.get('stopCode')}): {task.get('stoppedReason')}" + (
        f"; exit codes: {codes}" if codes else ""
    )


def placement_message(name: str, failure: dict[str, Any]) -> str:
    return (
        f"(task {name}) was unable to place a task because no container instance met all of its "
        f"requirements. Reason: {failure['reason']}. {failure['detail']}"
    )


def conditions(status: dict[str, Any], *, name: str, generation: int | None, now: str) -> list[dict[str, Any]]:
    """Ready (True while every task is RUNNING), and once every task has stopped, Complete or
    Failed as Jobs have them (see docs/ecstask.md for the choice)."""
    tasks = status.get("tasks") or []
    last = status.get("lastStatus")
    running = sum(1 for t in tasks if t.get("lastStatus") == RUNNING)
    summary = f"{running}/{len(tasks)} tasks RUNNING; lastStatus {last}, desiredStatus {status.get('desiredStatus')}"
    out = []
    if tasks and last == STOPPED:
        ok = all(t.get("succeeded") for t in tasks)
        failed = next((t for t in tasks if not t.get("succeeded")), tasks[0])
        out.append(
            condition("Ready", False, status.get("stopCode") or "Stopped", stopped_message(failed), generation, now)
        )
        if ok:
            out.append(
                condition(
                    "Complete",
                    True,
                    ESSENTIAL_CONTAINER_EXITED,
                    "every task stopped after its essential containers exited with code 0",
                    generation,
                    now,
                )
            )
        else:
            out.append(
                condition("Failed", True, failed.get("stopCode") or "Stopped", stopped_message(failed), generation, now)
            )
    elif tasks and running == len(tasks):
        out.append(condition("Ready", True, "Running", summary, generation, now))
    elif status.get("failures"):
        f = status["failures"][0]
        out.append(condition("Ready", False, "Unschedulable", placement_message(name, f), generation, now))
    else:
        reason = {PROVISIONING: "Provisioning", PENDING: "Pending", DEPROVISIONING: "Deprovisioning"}.get(
            str(last), "TasksStopping"
        )
        out.append(condition("Ready", False, reason, summary, generation, now))
    return out


# ------------------------------------------------------------------------------------------
# Retention of stopped tasks
# ------------------------------------------------------------------------------------------


def _parse_time(value: str) -> datetime | None:
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except (TypeError, ValueError):
        try:
            return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None


def expired(status: dict[str, Any] | None, now: datetime, ttl_seconds: float) -> bool:
    """Whether a stopped ECSTask has been kept for ``ttl_seconds`` (ECS shows stopped tasks for
    a while, then they are gone)."""
    status = status or {}
    if status.get("lastStatus") != STOPPED or ttl_seconds < 0:
        return False
    stopped_at = _parse_time(status.get("stoppedAt") or "")
    if stopped_at is None:
        return False
    return (now - stopped_at).total_seconds() >= ttl_seconds
