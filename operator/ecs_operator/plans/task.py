"""ECSTask (pure): which tasks to start, the pods that start them, then the status to write, the
events to post and the pods to delete, from a snapshot of the ECSTask and its pods.

One reconcile is: :func:`plan_start` (which task indexes were never started; a started index is
never started again) -> for those, :func:`translate` and :func:`plan_launch` (the pods, computed
completely before the first is created: bad input never half-launches) -> :func:`plan_status`
(the ECS view of every task from its pod, what a stop decided, the conditions). The handler
writes the status **before** it deletes the pods of stopping tasks, so that what they reported
(exit codes, reasons) is never lost. See docs/ecstask.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pydantic import ValidationError

from ..domain import revisions
from ..domain.capacity import LaunchError, assign_tasks, pod_placement, resolve_launch
from ..errors import NotReady, validation_message
from ..models.generated import CapacityProviderStrategyItem, RegisterTaskDefinitionRequest, RunTaskRequest
from ..status import condition, format_warnings, merge_conditions
from ..translate import task as task_tr
from ..translate.service import cluster_name
from ..translate.taskdef import TaskTranslation, TranslationError, translate_task_definition

SPEC_IGNORED = (
    "the RunTask input of started tasks cannot change: "
    "this change is not applied (delete and re-create the ECSTask to run again)"
)


class Snapshot(Protocol):
    """What a plan reads (:class:`ecs_operator.state.tasks.TaskSnapshot`)."""

    @property
    def body(self) -> dict[str, Any]: ...

    @property
    def pods(self) -> Mapping[int, dict[str, Any]]: ...


@dataclass(frozen=True)
class Event:
    """An Event to post on the ECSTask (Warning when ``warning``, else Normal)."""

    reason: str
    message: str
    warning: bool = False


def _status(snap: Snapshot) -> dict[str, Any]:
    return dict(snap.body.get("status") or {})


def _previous(snap: Snapshot, i: int) -> dict[str, Any] | None:
    tasks = _status(snap).get("tasks") or []
    return dict(tasks[i]) if i < len(tasks) else None


# ------------------------------------------------------------------------------------------
# Which tasks start
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Start:
    """The tasks of the ECSTask and which of them start now (``events``: posted before anything
    starts)."""

    count: int  # how many tasks the ECSTask has
    todo: list[int]  # task indexes never started
    req: RunTaskRequest | None  # the RunTask input, when it is used (no task recorded yet, or some to start)
    error: NotReady | None = None  # the RunTask input is needed and refused
    stop: str | None = None  # StopTask's reason, when asked for
    events: list[Event] = field(default_factory=list)

    @property
    def launch(self) -> bool:
        """Start the ``todo`` tasks now (a stop before a task started means it never starts)."""
        return bool(self.todo) and self.stop is None and self.error is None and self.req is not None


def plan_start(snap: Snapshot, req: RunTaskRequest | NotReady) -> Start:
    """Which task indexes start: those neither recorded as started (``status.tasks[i]``) nor
    with a pod. ``req``: the spec read as RunTask input, or why it is refused (used only when no
    task was recorded yet or some must start; the input of started tasks cannot change)."""
    md = snap.body["metadata"]
    previous = _status(snap)
    prev_tasks = list(previous.get("tasks") or [])
    pods = snap.pods
    stop = task_tr.stop_request(md.get("annotations"))
    count = max(len(prev_tasks), max(pods) + 1 if pods else 0)
    events = []
    if prev_tasks and previous.get("observedGeneration") not in (None, md.get("generation")):
        events.append(Event("SpecIgnored", SPEC_IGNORED, warning=True))
    if not prev_tasks:
        if isinstance(req, NotReady):
            return Start(count, [], None, req, stop, events)
        count = max(count, task_tr.task_count(req))
    todo = [i for i in range(count) if i not in pods and not task_tr.launched(_previous(snap, i))]
    if todo and isinstance(req, NotReady):
        return Start(count, todo, None, req, stop, events)
    used = req if isinstance(req, RunTaskRequest) and (todo or not prev_tasks) else None
    return Start(count, todo, used, None, stop, events)


# ------------------------------------------------------------------------------------------
# The pods that start them
# ------------------------------------------------------------------------------------------


def translate(req: RunTaskRequest, rev: revisions.Revision) -> tuple[RegisterTaskDefinitionRequest, TaskTranslation]:
    """The revision's task definition and its translation with RunTask's ``overrides`` applied
    first. Raises NotReady: InvalidTaskDefinition for a revision that does not translate,
    InvalidParameterException for overrides that make it fail."""
    try:
        td_model = RegisterTaskDefinitionRequest.model_validate(rev.spec)
    except ValidationError as e:
        raise NotReady("InvalidTaskDefinition", f"taskDefinition {rev.arn}: {validation_message(e)}") from e
    try:
        overridden = task_tr.apply_overrides(td_model, req.overrides)
    except task_tr.TaskError as e:
        raise NotReady("InvalidParameterException", str(e)) from e
    try:
        return td_model, translate_task_definition(overridden, family=rev.family, revision=rev.revision)
    except TranslationError as e:
        if req.overrides is not None and _translates(td_model, rev):
            raise NotReady("InvalidParameterException", f"overrides: with the overrides applied, {e}") from e
        raise NotReady("InvalidTaskDefinition", f"taskDefinition {rev.arn}: {e}") from e


def _translates(td_model: RegisterTaskDefinitionRequest, rev: revisions.Revision) -> bool:
    try:
        translate_task_definition(td_model, family=rev.family, revision=rev.revision)
    except TranslationError:
        return False
    return True


@dataclass(frozen=True)
class Launch:
    """The pods to create, by task index, and what the launch reports."""

    task_definition: str  # the revision's ARN (family:revision)
    pods: dict[int, dict[str, Any]]
    objects: tuple[dict[str, Any], ...]  # companion objects of the template (created when missing)
    warnings: list[str]


def plan_launch(
    snap: Snapshot,
    req: RunTaskRequest,
    todo: list[int],
    rev: revisions.Revision,
    td_model: RegisterTaskDefinitionRequest,
    translation: TaskTranslation,
    *,
    cluster: str,
    cluster_pools: list[dict[str, str]],
    strategy: list[CapacityProviderStrategyItem] | None,
    strategy_pools: dict[str, tuple[dict[str, Any], list[Any]]],
    owner: dict[str, Any],
    scheduler_name: str | None,
) -> Launch:
    """The pods of the ``todo`` tasks (``req``: the RunTask input): the translated template, placed by the launch type
    or capacity provider strategy (several providers: the tasks are split by base then weight,
    as ECS splits them). Raises NotReady InvalidParameterException for what ECS would refuse."""
    md = snap.body["metadata"]
    try:
        compat = td_model.requiresCompatibilities
        launch = resolve_launch(req.launchType, strategy, None if compat is None else [str(c) for c in compat])
        providers = assign_tasks(task_tr.task_count(req), strategy or []) if len(launch.providers) > 1 else []
        placements = {
            i: pod_placement(launch.for_provider(providers[i]) if providers else launch, strategy_pools) for i in todo
        }
    except LaunchError as e:
        where = (
            e.field
            if req.capacityProviderStrategy or not strategy
            else f"cluster {cluster} defaultCapacityProviderStrategy"
        )
        raise NotReady("InvalidParameterException", f"{where}: {str(e).split(': ', 1)[-1]}") from e
    try:
        pods = {
            i: task_tr.task_pod(
                translation.template,
                name=md["name"],
                namespace=md["namespace"],
                index=i,
                owner=owner,
                req=req,
                family=rev.family,
                task_definition=rev.arn,
                placement=placements[i],
                scheduler_name=scheduler_name,
                cluster_pools=cluster_pools,
            )
            for i in todo
        }
    except task_tr.TaskError as e:
        raise NotReady("InvalidParameterException", str(e)) from e
    warnings = (
        format_warnings(task_tr.translation_warnings(translation.warnings))
        + format_warnings(task_tr.task_warnings(req))
        + [f"{f}: {m}" for f, m in launch.warnings]
    )
    return Launch(rev.arn, pods, translation.objects, warnings)


@dataclass(frozen=True)
class Launched:
    """What creating a launch's pods gave."""

    task_definition: str
    warnings: list[str]
    created: dict[int, dict[str, Any]]  # the pods created, by task index
    errors: list[str] = field(default_factory=list)  # the pods the API server refused


# ------------------------------------------------------------------------------------------
# The status, the events, the pods to delete
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskPlan:
    """What a reconcile does, in this order: post ``events``, write ``status`` (None: unchanged),
    post ``after`` (what the status records), delete ``delete_pods``; ``retry``: fail the run so
    that it is retried later (the pods were refused before any task started)."""

    events: list[Event]
    status: dict[str, Any] | None
    after: list[Event] = field(default_factory=list)
    delete_pods: list[str] = field(default_factory=list)
    retry: str | None = None
    logs: list[str] = field(default_factory=list)


def _family(req: RunTaskRequest, td_arn: str | None) -> str | None:
    try:
        return revisions.parse_reference(td_arn or req.taskDefinition).family
    except revisions.ReferenceError_:
        return None


def base(req: RunTaskRequest, uid: str, name: str, index: int, td_arn: str | None) -> dict[str, Any]:
    """What a task not started yet shows (a started one shows what its pod was created with)."""
    family = _family(req, td_arn)
    return {
        "taskArn": task_tr.task_arn(req.cluster, uid, index),
        "clusterArn": cluster_name(req.cluster),
        "taskDefinitionArn": td_arn,
        "group": task_tr.group_of(req, family) if family else req.group,
        "startedBy": req.startedBy,
        "podName": task_tr.pod_name(name, index),
    }


def _translated(warnings: list[str], generation: int | None, now: str) -> dict[str, Any]:
    return condition(
        "Translated",
        True,
        "TranslatedWithWarnings" if warnings else "Translated",
        ("Kubernetes cannot express: " + "; ".join(warnings)) if warnings else "every field is expressed",
        generation,
        now,
    )


def _launched_events(launched: Launched) -> list[Event]:
    created, td_arn = launched.created, launched.task_definition
    out = []
    if created:
        names = ", ".join(p["metadata"]["name"] for p in created.values())
        out.append(Event("TasksStarted", f"started {len(created)} task(s) of {td_arn}: {names}"))
    if launched.warnings and created:
        out.append(Event("TranslationWarning", "; ".join(launched.warnings)[:900], warning=True))
    return out


def _differs(previous: dict[str, Any], new: dict[str, Any]) -> bool:
    return any(previous.get(k) != v for k, v in new.items())


def _refusal_event(previous: dict[str, Any], error: NotReady) -> list[Event]:
    """A Warning for a refusal, once (not again while Ready says the same)."""
    ready: dict[str, Any] = next((c for c in previous.get("conditions") or [] if c.get("type") == "Ready"), {})
    if (ready.get("reason"), ready.get("message")) != (error.reason, error.message):
        return [Event(error.reason, error.message, warning=True)]
    return []


def plan_status(snap: Snapshot, start: Start, outcome: Launched | NotReady | None, now: str) -> TaskPlan:
    """The status of the ECSTask after ``outcome`` (what starting ``start.todo`` gave: the pods
    created, or why nothing could be created; None: nothing was to start), the events, and the
    pods of the tasks that must stop."""
    md = snap.body["metadata"]
    generation = md.get("generation")
    previous = _status(snap)
    pods = dict(snap.pods)
    td_arn = previous.get("taskDefinitionArn")
    events: list[Event] = []
    extra: list[dict[str, Any]] = []
    logs: list[str] = []
    error = start.error
    if isinstance(outcome, NotReady):
        error = outcome
    elif outcome is not None:
        td_arn = outcome.task_definition
        pods.update(outcome.created)
        if outcome.created:
            logs.append(f"started {len(outcome.created)} task(s) of {td_arn}")
        events += _launched_events(outcome)
        extra.append(_translated(outcome.warnings, generation, now))
        if outcome.errors:
            error = NotReady("TaskRejected", "the API server refused the task's pod: " + "; ".join(outcome.errors))
    if error is not None and not previous.get("tasks") and not pods:
        return _refused(previous, generation, error, events, now)

    bases = [
        base(start.req, md["uid"], md["name"], i, td_arn)
        if start.req is not None and i not in pods and not task_tr.launched(_previous(snap, i))
        else {}
        for i in range(start.count)
    ]
    result = task_tr.ecs_status(
        bases=bases, pods=pods, previous=previous, stop_reason=start.stop, now=now, task_definition=td_arn
    )
    conds = task_tr.conditions(result.status, name=md["name"], generation=generation, now=now)
    if error is not None:
        conds = [condition("Ready", False, error.reason, error.message, generation, now)]
        events += _refusal_event(previous, error)
    status = {
        **result.status,
        "observedGeneration": generation,
        "conditions": merge_conditions(previous.get("conditions"), conds + extra),
    }
    after = [
        Event("TaskStopped", task_tr.stopped_message(task), warning=not task.get("succeeded"))
        for task in result.stopped
    ] + [
        Event("TaskPlacementFailed", task_tr.placement_message(md["name"], failure), warning=True)
        for failure in result.new_failures
    ]
    return TaskPlan(
        events,
        status if _differs(previous, status) else None,
        after,
        result.delete_pods,
        logs=logs + [task_tr.stopped_message(task) for task in result.stopped],
    )


def _refused(
    previous: dict[str, Any], generation: int | None, error: NotReady, events: list[Event], now: str
) -> TaskPlan:
    """No task started and none can: Ready=False with the reason (a refused pod, e.g. by a
    ResourceQuota, is tried again later)."""
    status = {
        "observedGeneration": generation,
        "conditions": merge_conditions(
            previous.get("conditions"), [condition("Ready", False, error.reason, error.message, generation, now)]
        ),
    }
    return TaskPlan(
        events + _refusal_event(previous, error),
        status if _differs(previous, status) else None,
        retry=error.message if error.reason == "TaskRejected" else None,
    )


# ------------------------------------------------------------------------------------------
# Retention of stopped tasks
# ------------------------------------------------------------------------------------------


def plan_expiry(status: dict[str, Any] | None, now: datetime, ttl_seconds: float) -> bool:
    """Delete the ECSTask (and with it its pods): it stopped ``ttl_seconds`` ago (ECS shows a
    stopped task for a while, then it is gone; a negative TTL keeps it)."""
    return task_tr.expired(dict(status or {}), now, ttl_seconds)
