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
  and stopped reasons are worded as ECS's DescribeTasks reports them; see docs/ecstask.md.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from .. import GROUP, constants
from ..domain.membership import restrict_to_cluster
from ..domain.revisions import family_label
from ..models.generated import ContainerOverride, RegisterTaskDefinitionRequest, RunTaskRequest, TaskOverride
from ..status import condition
from .service import LABEL_CLUSTER, ServiceError, apply_placement, cluster_label, cluster_name
from .taskdef import ANN_CONTAINER_NAMES, ANN_ESSENTIAL, ANN_TASK_DEFINITION, TranslationWarning

LABEL_TASK = constants.TASK
LABEL_TASK_INDEX = f"{GROUP}/task-index"
ANN_GROUP = constants.TASK_GROUP
ANN_STARTED_BY = f"{GROUP}/started-by"
ANN_TASK_ARN = f"{GROUP}/task-arn"
# StopTask: annotations on the ECSTask (see docs/ecstask.md for why an annotation).
ANN_DESIRED_STATUS = f"{GROUP}/desired-status"
ANN_STOP_REASON = f"{GROUP}/stop-reason"

MAX_COUNT = 10  # RunTask starts up to 10 tasks per call
DEFAULT_STOP_REASON = "Task stopped by user"
ESSENTIAL_EXITED = "Essential container in task exited"

# ECS task states, in lifecycle order.
PROVISIONING, PENDING, RUNNING, DEPROVISIONING, STOPPED = (
    "PROVISIONING",
    "PENDING",
    "RUNNING",
    "DEPROVISIONING",
    "STOPPED",
)
_RANK = {PROVISIONING: 0, PENDING: 1, RUNNING: 2, DEPROVISIONING: 3, STOPPED: 4}

# ECS stop codes.
TASK_FAILED_TO_START = "TaskFailedToStart"
ESSENTIAL_CONTAINER_EXITED = "EssentialContainerExited"
USER_INITIATED = "UserInitiated"
TERMINATION_NOTICE = "TerminationNotice"

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
_PULL_ERRORS = {
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "RegistryUnavailable",
    "ErrImageInspect",
    "SignatureValidationFailed",
}
_CONFIG_ERRORS = {"CreateContainerConfigError"}
_CREATE_ERRORS = {
    "CreateContainerError",
    "RunContainerError",
    "ContainerCannotRun",
    "StartError",
    "PreStartHookError",
    "PostStartHookError",
}


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


def _override_container(by_name: dict[str, dict], i: int, co: ContainerOverride) -> None:
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


def translation_warnings(warnings) -> list[TranslationWarning]:
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
    template: dict,
    *,
    name: str,
    namespace: str,
    index: int,
    owner: dict,
    req: RunTaskRequest,
    family: str,
    task_definition: str,
    placement: tuple[dict, list] = ({}, []),
    scheduler_name: str | None = None,
    cluster_pools: list[dict[str, str]] | None = None,
) -> dict:
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
    placed = {"metadata": {"labels": labels, "annotations": annotations}, "spec": spec}
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


def pod_index(pod: dict) -> int | None:
    value = (pod.get("metadata", {}).get("labels") or {}).get(LABEL_TASK_INDEX, "")
    return int(value) if value.isdigit() else None


# ------------------------------------------------------------------------------------------
# StopTask
# ------------------------------------------------------------------------------------------


def stop_request(annotations: dict | None) -> str | None:
    """The stop reason when the ECSTask asks for its tasks to stop, else None."""
    annotations = annotations or {}
    if str(annotations.get(ANN_DESIRED_STATUS, "")).strip().upper() != STOPPED:
        return None
    return (annotations.get(ANN_STOP_REASON) or "").strip() or DEFAULT_STOP_REASON


# ------------------------------------------------------------------------------------------
# Lifecycle: the ECS view of each task, computed from its Pod and what was recorded before
# ------------------------------------------------------------------------------------------


def launched(entry: dict | None) -> bool:
    """A task whose pod was created (or that was stopped before it started): never started again."""
    return bool(entry) and (bool(entry.get("createdAt")) or entry.get("lastStatus") == STOPPED)


def _later(a: str, b: str) -> str:
    return a if _RANK.get(a, 0) >= _RANK.get(b, 0) else b


def _ecs_names(pod: dict) -> dict[str, str]:
    raw = (pod["metadata"].get("annotations") or {}).get(ANN_CONTAINER_NAMES)
    try:
        return dict(json.loads(raw)) if raw else {}
    except (TypeError, ValueError):
        return {}


def _essential(pod: dict) -> set[str]:
    raw = (pod["metadata"].get("annotations") or {}).get(ANN_ESSENTIAL)
    try:
        return set(json.loads(raw)) if raw else {c["name"] for c in pod["spec"].get("containers", [])}
    except (TypeError, ValueError):
        return {c["name"] for c in pod["spec"].get("containers", [])}


def _terminated(cs: dict | None) -> dict | None:
    """The container's exit: ``state.terminated``, or the last one of a restarted (sidecar) container."""
    if not cs:
        return None
    state = cs.get("state") or {}
    if state.get("terminated"):
        return state["terminated"]
    if (cs.get("restartCount") or 0) > 0 and (cs.get("lastState") or {}).get("terminated"):
        return cs["lastState"]["terminated"]
    return None


def _waiting(cs: dict | None) -> dict | None:
    return ((cs or {}).get("state") or {}).get("waiting")


def _started(cs: dict | None) -> bool:
    state = (cs or {}).get("state") or {}
    return bool(state.get("running") or state.get("terminated"))


def container_reason(cs: dict | None) -> str | None:
    """ECS's wording of why a container stopped or cannot start."""
    term = _terminated(cs)
    if term:
        r, msg = term.get("reason") or "", term.get("message") or ""
        if r == "OOMKilled":
            return "OutOfMemoryError: Container killed due to memory usage"
        if r in _CREATE_ERRORS:
            return f"CannotStartContainerError: {msg or r}"
        return None
    w = _waiting(cs)
    if w:
        r, msg = w.get("reason") or "", w.get("message") or ""
        if r in _PULL_ERRORS:
            detail = msg or f"failed to pull image {cs.get('image', '')!r}"
            return f"CannotPullContainerError: {detail}"
        if r in _CONFIG_ERRORS:
            # ECS: "ResourceInitializationError: unable to pull secrets or registry auth: ..."
            if "secret" in msg.lower() or "configmap" in msg.lower():
                return f"ResourceInitializationError: unable to pull secrets or registry auth: {msg}"
            return f"ResourceInitializationError: {msg or r}"
        if r in _CREATE_ERRORS:
            return f"CannotStartContainerError: {msg or r}"
    return None


def _start_failure(cs: dict | None) -> bool:
    w = _waiting(cs)
    return bool(w) and (w.get("reason") in _PULL_ERRORS | _CONFIG_ERRORS | _CREATE_ERRORS)


def _unschedulable(pod: dict) -> dict | None:
    if pod["spec"].get("nodeName"):
        return None
    for c in pod.get("status", {}).get("conditions") or []:
        if c.get("type") == "PodScheduled" and c.get("status") == "False" and c.get("reason") == "Unschedulable":
            return c
    return None


def placement_failure_reason(message: str) -> str:
    """ECS's RunTask failure reason for a scheduler message ("0/6 nodes are available: 6 Insufficient memory")."""
    m = message.lower()
    for needle, reason in (
        ("insufficient memory", "RESOURCE:MEMORY"),
        ("insufficient cpu", "RESOURCE:CPU"),
        ("free ports", "RESOURCE:PORTS_TCP"),
        ("insufficient nvidia.com/gpu", "RESOURCE:GPU"),
        ("insufficient ephemeral-storage", "RESOURCE:EPHEMERAL_STORAGE"),
        ("too many pods", "RESOURCE:TASKS"),
    ):
        if needle in m:
            return reason
    return "ATTRIBUTE"


@dataclass(frozen=True)
class TaskView:
    entry: dict  # the ECS Task object for status.tasks[]
    delete_pod: bool = False  # the task must stop: delete its pod (after the status is written)
    stopped_now: bool = False  # the stop was decided in this computation (for an event)
    failure: dict | None = None  # a RunTask-style placement failure {arn, reason, detail}


def task_view(
    *, index: int, base: dict, pod: dict | None, previous: dict | None, stop_reason: str | None, now: str
) -> TaskView:
    """The ECS Task object of one task (see the module docstring and docs/ecstask.md).

    ``base``: the fields fixed at launch (taskArn, clusterArn, taskDefinitionArn, group, ...).
    ``previous``: what status.tasks[index] held; what it recorded (exit codes, stop code) is kept.
    """
    prev = dict(previous or {})
    entry: dict[str, Any] = {**prev, **{k: v for k, v in base.items() if v is not None}}
    prev_last = prev.get("lastStatus", PROVISIONING)
    desired = prev.get("desiredStatus", RUNNING)
    decided_before = desired == STOPPED
    prev_containers = {c.get("name"): c for c in prev.get("containers") or []}

    if pod is None:
        containers = [_stopped_container(c) for c in prev_containers.values()]
        if launched(prev):
            if not decided_before:  # the pod went away without the operator stopping the task
                entry.update(
                    stopCode=USER_INITIATED,
                    stoppedReason="Task stopped: its pod was deleted",
                    stoppingAt=now,
                    succeeded=False,
                )
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

    md, spec, st = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    names = _ecs_names(pod)
    essential = _essential(pod)
    statuses = {cs["name"]: cs for cs in (st.get("containerStatuses") or []) + (st.get("initContainerStatuses") or [])}
    mains = [c["name"] for c in spec.get("containers", [])]
    all_k8s = mains + [c["name"] for c in spec.get("initContainers") or []]
    images = {c["name"]: c.get("image") for c in spec.get("containers", []) + (spec.get("initContainers") or [])}
    phase = st.get("phase")
    terminal = phase in ("Succeeded", "Failed")
    deleting = bool(md.get("deletionTimestamp"))

    exited = {n: _terminated(statuses.get(n)) for n in all_k8s}
    essential_exited = [n for n in all_k8s if n in essential and exited[n] is not None]
    start_failures = [n for n in all_k8s if _start_failure(statuses.get(n))]
    mains_done = all(exited[n] is not None for n in mains)
    any_main_started = any(_started(statuses.get(n)) for n in mains)

    ann = md.get("annotations") or {}
    for key, ann_key in (
        ("taskArn", ANN_TASK_ARN),
        ("taskDefinitionArn", ANN_TASK_DEFINITION),
        ("group", ANN_GROUP),
        ("startedBy", ANN_STARTED_BY),
    ):
        if ann.get(ann_key):  # what the task was launched with (the spec may have changed since)
            entry[key] = ann[ann_key]
    if str(entry.get("taskArn", "")).count("/") == 2:
        entry["clusterArn"] = entry["taskArn"].split("/")[1]
    entry["createdAt"] = prev.get("createdAt") or md.get("creationTimestamp") or now
    entry["podName"] = md.get("name")
    if spec.get("nodeName"):
        entry["containerInstanceArn"] = spec["nodeName"]

    # -- the stop decision (taken once; what it recorded is kept) ------------------------------
    stopped_now = False
    if not decided_before:
        code = reason = None
        if terminal:
            if st.get("reason") and not any_main_started:
                code, reason = TASK_FAILED_TO_START, f"{st['reason']}: {st.get('message', '')}".rstrip(": ")
            elif st.get("reason"):
                code, reason = TERMINATION_NOTICE, f"Task stopped: {st['reason']}: {st.get('message', '')}".rstrip(": ")
            elif not any_main_started:
                code, reason = TASK_FAILED_TO_START, _dependency_failure(pod, statuses, names)
            else:
                code, reason = ESSENTIAL_CONTAINER_EXITED, ESSENTIAL_EXITED
        elif start_failures:
            code = TASK_FAILED_TO_START
            reason = container_reason(statuses.get(start_failures[0]))
        elif essential_exited:
            code, reason = ESSENTIAL_CONTAINER_EXITED, ESSENTIAL_EXITED
        elif stop_reason is not None:
            code, reason = USER_INITIATED, stop_reason
        elif deleting:
            disruption = next(
                (
                    c
                    for c in st.get("conditions") or []
                    if c.get("type") == "DisruptionTarget" and c.get("status") == "True"
                ),
                None,
            )
            if disruption:
                code = TERMINATION_NOTICE
                reason = f"Task stopped: {disruption.get('message') or disruption.get('reason')}"
            else:
                code, reason = USER_INITIATED, "Task stopped: its pod was deleted"
        if code is not None:
            stopped_now = True
            desired = STOPPED
            codes = [exited[n].get("exitCode") for n in essential_exited]
            entry.update(
                stopCode=code,
                stoppedReason=reason,
                stoppingAt=now,
                succeeded=(code == ESSENTIAL_CONTAINER_EXITED and bool(codes) and all(c == 0 for c in codes)),
            )
            if essential_exited:
                finished = [exited[n].get("finishedAt") for n in essential_exited if exited[n].get("finishedAt")]
                if finished:
                    entry["executionStoppedAt"] = min(finished)

    # -- lastStatus -------------------------------------------------------------------------------
    if terminal:
        last = STOPPED
    elif desired == STOPPED or deleting:
        last = DEPROVISIONING
    elif not spec.get("nodeName"):
        last = PROVISIONING
    elif phase == "Running" and all(_started(statuses.get(n)) for n in mains):
        last = RUNNING
    else:
        last = PENDING
    last = _later(prev_last, last)
    entry["lastStatus"] = last
    entry["desiredStatus"] = desired

    # -- containers ---------------------------------------------------------------------------
    containers = []
    for n in all_k8s:
        ecs_name = names.get(n, n)
        cs = statuses.get(n)
        c: dict[str, Any] = dict(prev_containers.get(ecs_name) or {})
        c.update(name=ecs_name, essential=n in essential)
        if images.get(n):
            c["image"] = images[n]
        if cs and cs.get("containerID"):
            c["runtimeId"] = cs["containerID"].split("://", 1)[-1]
        term = exited[n]
        if term is not None:
            c["lastStatus"] = STOPPED
            if term.get("exitCode") is not None:
                c["exitCode"] = term["exitCode"]
        elif last == STOPPED:
            c["lastStatus"] = STOPPED
        elif (cs or {}).get("state", {}).get("running"):
            c["lastStatus"] = _later(c.get("lastStatus", PENDING), RUNNING)
        else:
            c.setdefault("lastStatus", PENDING)
        reason = container_reason(cs)
        if reason:
            c["reason"] = reason
        if (cs or {}).get("state", {}).get("running") and _has_probe(spec, n):
            c["healthStatus"] = "HEALTHY" if cs.get("ready") else "UNHEALTHY"
        containers.append(c)
    entry["containers"] = containers

    # -- timestamps -----------------------------------------------------------------------------
    started = [_started_at(statuses.get(n)) for n in mains]
    if not entry.get("startedAt") and started and all(started):
        entry["startedAt"] = max(started)
    if last == STOPPED:
        finished = [t.get("finishedAt") for t in exited.values() if t and t.get("finishedAt")]
        entry["stoppedAt"] = prev.get("stoppedAt") or (max(finished) if finished else now)
        entry.setdefault("stoppingAt", entry["stoppedAt"])

    failure = None
    unsched = _unschedulable(pod) if last == PROVISIONING else None
    if unsched is not None:
        detail = unsched.get("message") or "no node is available"
        failure = {"arn": entry.get("taskArn"), "reason": placement_failure_reason(detail), "detail": detail}

    delete = desired == STOPPED and not terminal and not deleting and not mains_done
    return TaskView(entry, delete_pod=delete, stopped_now=stopped_now, failure=failure)


def _stopped_container(c: dict) -> dict:
    return {**c, "lastStatus": STOPPED}


def _started_at(cs: dict | None) -> str | None:
    state = (cs or {}).get("state") or {}
    for key in ("running", "terminated"):
        if state.get(key) and state[key].get("startedAt"):
            return state[key]["startedAt"]
    return None


def _has_probe(spec: dict, name: str) -> bool:
    for c in spec.get("containers", []) + (spec.get("initContainers") or []):
        if c["name"] == name:  # a HEALTHY dependency target may have only its startupProbe
            return "readinessProbe" in c or "startupProbe" in c
    return False


def _dependency_failure(pod: dict, statuses: dict, names: dict) -> str:
    for c in pod["spec"].get("initContainers") or []:
        term = _terminated(statuses.get(c["name"]))
        if term is not None and term.get("exitCode") not in (0, None):
            return (
                f"CannotStartContainerError: dependency container {names.get(c['name'], c['name'])} exited "
                f"with code {term['exitCode']}"
            )
    return "CannotStartContainerError: the task's containers did not start"


# ------------------------------------------------------------------------------------------
# The ECSTask's status
# ------------------------------------------------------------------------------------------


@dataclass
class TaskSetStatus:
    status: dict  # ECS fields of the ECSTask status (without conditions / observedGeneration)
    delete_pods: list[str] = field(default_factory=list)
    stopped: list[dict] = field(default_factory=list)  # tasks whose stop was decided now
    new_failures: list[dict] = field(default_factory=list)  # placement failures not reported before


def ecs_status(
    *,
    bases: list[dict],
    pods: dict[int, dict],
    previous: dict,
    stop_reason: str | None,
    now: str,
    task_definition: str | None,
) -> TaskSetStatus:
    """status.tasks[] and the ECSTask-level summary, from the pods (by task index)."""
    prev_tasks = list(previous.get("tasks") or [])
    views = []
    for i, base in enumerate(bases):
        prev = prev_tasks[i] if i < len(prev_tasks) else None
        views.append(task_view(index=i, base=base, pod=pods.get(i), previous=prev, stop_reason=stop_reason, now=now))
    tasks = [v.entry for v in views]
    out: dict[str, Any] = {"tasks": tasks}
    if task_definition:
        out["taskDefinitionArn"] = task_definition
    if tasks:
        last = min((t["lastStatus"] for t in tasks), key=lambda s: _RANK.get(s, 0))
        out["lastStatus"] = last
        out["desiredStatus"] = STOPPED if all(t["desiredStatus"] == STOPPED for t in tasks) else RUNNING
        out["taskArn"] = tasks[0].get("taskArn")
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
    failures = [v.failure for v in views if v.failure]
    out["failures"] = failures or None
    prev_failures = {(f.get("arn"), f.get("reason")) for f in previous.get("failures") or []}
    return TaskSetStatus(
        status=out,
        delete_pods=[v.entry["podName"] for v in views if v.delete_pod and v.entry.get("podName")],
        stopped=[v.entry for v in views if v.stopped_now],
        new_failures=[f for f in failures if (f.get("arn"), f.get("reason")) not in prev_failures],
    )


def stopped_message(task: dict) -> str:
    codes = ", ".join(f"{c['name']}={c['exitCode']}" for c in task.get("containers", []) if "exitCode" in c)
    return f"Task {task.get('taskArn')} stopped ({task.get('stopCode')}): {task.get('stoppedReason')}" + (
        f"; exit codes: {codes}" if codes else ""
    )


def placement_message(name: str, failure: dict) -> str:
    return (
        f"(task {name}) was unable to place a task because no container instance met all of its "
        f"requirements. Reason: {failure['reason']}. {failure['detail']}"
    )


def conditions(status: dict, *, name: str, generation: int | None, now: str) -> list[dict]:
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
            last, "TasksStopping"
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


def expired(status: dict | None, now: datetime, ttl_seconds: float) -> bool:
    """Whether a stopped ECSTask has been kept for ``ttl_seconds`` (ECS shows stopped tasks for
    a while, then they are gone)."""
    status = status or {}
    if status.get("lastStatus") != STOPPED or ttl_seconds < 0:
        return False
    stopped_at = _parse_time(status.get("stoppedAt") or "")
    if stopped_at is None:
        return False
    return (now - stopped_at).total_seconds() >= ttl_seconds
