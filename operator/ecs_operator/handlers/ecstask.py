"""ECSTask: standalone tasks (RunTask / StopTask) with ECS's task lifecycle.

Level-based: every run (spec created/changed, operator restart, a pod of the task changed, a
stop asked for) reads the ECSTask and its pods under a per-ECSTask lock
(:mod:`ecs_operator.state.tasks`), asks the pure plan (:mod:`ecs_operator.plans.task`) which
tasks to start, creates the pods of tasks that were never started, then writes the status the
plan computed, and only then deletes the pods of tasks that must stop, so that what a stopping
task reported (exit codes, reasons) is never lost. A task index that was started is never
started again. See docs/ecstask.md.
"""

from __future__ import annotations

from datetime import UTC, datetime

import kopf

from .. import API_VERSION, GROUP, VERSION, config, k8s, metrics
from ..domain import revisions
from ..errors import NotReady
from ..models.generated import RunTaskRequest
from ..plans import task as plan
from ..state import tasks as state
from ..status import now_iso
from ..translate import task as task_tr
from ..translate.task_lifecycle import STOPPED
from . import wakeups
from ._errors import enforce_policy, load_spec
from ._locks import KeyedLocks

API = API_VERSION

# One lock per ECSTask: status writes, pod creations and deletions of a task never interleave.
_locks = KeyedLocks()


def stopped_task_ttl() -> float:
    """How long a stopped ECSTask is kept before it is deleted (ECS_OPERATOR_STOPPED_TASK_TTL_SECONDS)."""
    return config.get().stopped_task_ttl


# The timer's period: fine enough for short TTLs (tests, demos), at most a minute.
TIMER_INTERVAL = max(1.0, min(60.0, stopped_task_ttl() / 4))


def _request(body: dict) -> RunTaskRequest | NotReady:
    """The spec as RunTask input, or why ECS would refuse it."""
    try:
        return load_spec(RunTaskRequest, body.get("spec"), task_tr.validate, task_tr.TaskError)
    except NotReady as e:
        return e


def _post(body: dict, events: list[plan.Event]) -> None:
    for e in events:
        (kopf.warn if e.warning else kopf.info)(body, reason=e.reason, message=e.message)


def _launch(snap: state.TaskSnapshot, req: RunTaskRequest, todo: list[int]) -> plan.Launched:
    """RunTask for the task indexes ``todo``: resolve the revision, translate it (with the
    overrides), read the cluster, compute every pod, and only then create them. Raises NotReady
    for what cannot start."""
    recorded = (snap.body.get("status") or {}).get("taskDefinitionArn")
    rev = state.read_revision(snap.namespace, req, recorded)
    td_model, translation = plan.translate(req, rev)
    target = state.read_target(snap.namespace, req)
    launch = plan.plan_launch(
        snap,
        req,
        todo,
        rev,
        td_model,
        translation,
        cluster=target.cluster,
        cluster_pools=target.cluster_pools,
        strategy=target.strategy,
        strategy_pools=target.strategy_pools,
        owner=snap.owner,
        scheduler_name=config.get().scheduler_name,
    )
    for pod in list(launch.pods.values())[:1]:  # every task of the call has the same spec
        enforce_policy(pod, target.cluster_obj, target.cluster)
    k8s.create_missing(launch.objects, snap.namespace)
    created: dict[int, dict] = {}
    errors: list[str] = []
    for i, pod in launch.pods.items():
        try:
            created[i] = k8s.create(pod)
        except k8s.ApiError as e:
            errors.append(f"task {i} (pod {pod['metadata']['name']}): {e.message}")
    return plan.Launched(launch.task_definition, launch.warnings, created, errors)


def sync(namespace: str, name: str, logger) -> None:
    """Bring the ECSTask's tasks and status up to date (idempotent; see the module docstring)."""
    with _locks.hold(f"{namespace}/{name}"):
        snap = state.read_task(namespace, name)
        if snap is None:
            return
        now = now_iso()
        start = plan.plan_start(snap, _request(snap.body))
        _post(snap.body, start.events)
        outcome: plan.Launched | NotReady | None = None
        if start.launch and start.req is not None:
            try:
                outcome = _launch(snap, start.req, start.todo)
            except NotReady as e:
                outcome = e
        todo = plan.plan_status(snap, start, outcome, now)
        _apply(snap, todo, logger)


def _apply(snap: state.TaskSnapshot, todo: plan.TaskPlan, logger) -> None:
    """Post the events, write the status, and only then delete the pods of the tasks that must
    stop (ECS sends SIGTERM, then SIGKILL after stopTimeout: the pod's terminationGracePeriodSeconds)."""
    _post(snap.body, todo.events)
    if todo.status is not None:
        k8s.merge_patch(API, "ECSTask", snap.namespace, snap.name, {"status": todo.status}, subresource="status")
    if todo.retry is not None:  # e.g. a ResourceQuota: try again later
        raise kopf.TemporaryError(todo.retry, delay=30)
    for message in todo.logs:
        logger.info(message)
    _post(snap.body, todo.after)
    for pod_name in todo.delete_pods:
        logger.info(f"stopping task pod {pod_name}")
        k8s.delete("v1", "Pod", snap.namespace, pod_name)


@kopf.on.resume(GROUP, VERSION, "ecstasks")
@kopf.on.create(GROUP, VERSION, "ecstasks")
@kopf.on.update(GROUP, VERSION, "ecstasks", field="spec")
@metrics.reconciled("ECSTask")
def ecstask_changed(body, logger, **_):
    md = body["metadata"]
    sync(md["namespace"], md["name"], logger)


@kopf.on.event(GROUP, VERSION, "ecstasks")
@metrics.reconciled("ECSTask")
def ecstask_event(body, type, logger, **_):
    """StopTask. kopf leaves annotations under its own storage prefix (ecs.seed.dev/) out of the
    diffs that on.update / on.field see, so ecs.seed.dev/desired-status is watched here, on the
    raw watch events; see docs/ecstask.md."""
    md = body["metadata"]
    if type == "DELETED":
        return
    if task_tr.stop_request(md.get("annotations")) is None or md.get("deletionTimestamp"):
        return
    tasks = (body.get("status") or {}).get("tasks") or []
    if tasks and all(t.get("desiredStatus") == STOPPED for t in tasks):
        return
    try:
        sync(md["namespace"], md["name"], logger)
    except (k8s.ApiError, kopf.TemporaryError) as e:
        logger.warning(f"stop will be retried on the next event: {e}")


@kopf.on.event("", "v1", "pods", labels={task_tr.LABEL_TASK: kopf.PRESENT})
@metrics.reconciled("ECSTask")
def task_pod_event(body, logger, **_):
    md = body["metadata"]
    owner = next((o for o in md.get("ownerReferences") or [] if o.get("kind") == "ECSTask"), None)
    if owner is None:
        return
    try:
        sync(md["namespace"], owner["name"], logger)
    except (k8s.ApiError, kopf.TemporaryError) as e:
        logger.debug(f"status refresh skipped: {e}")


@kopf.on.event("apps", "v1", "controllerrevisions", labels={revisions.LABEL_KIND: revisions.KIND_VALUE})
@metrics.reconciled("ECSTask")
def revision_registered(body, type, logger, **_):
    """ECSTasks waiting for their task definition start once it is registered."""
    if type == "DELETED":
        return
    md = body["metadata"]
    family = (md.get("annotations") or {}).get(revisions.ANNOTATION_FAMILY)
    if not family:
        return
    for name in state.waiting_for_family(md["namespace"], family):
        try:
            sync(md["namespace"], name, logger)
        except (k8s.ApiError, kopf.TemporaryError) as e:
            logger.warning(f"ECSTask {name} will start on its next event: {e}")


@kopf.timer(
    GROUP,
    VERSION,
    "ecstasks",
    interval=TIMER_INTERVAL,
    when=lambda status, **_: (status or {}).get("lastStatus") == STOPPED,
)
@metrics.reconciled("ECSTask")
def expire_stopped(body, status, logger, **_):
    """ECS shows a stopped task for a while, then it is gone: delete the ECSTask (and with it its
    pods) ECS_OPERATOR_STOPPED_TASK_TTL_SECONDS after it stopped."""
    ttl = stopped_task_ttl()
    if plan.plan_expiry(dict(status or {}), datetime.now(UTC), ttl):
        md = body["metadata"]
        logger.info(f"stopped for {ttl:g}s: deleting")
        k8s.delete(API, "ECSTask", md["namespace"], md["name"])


# What wakes a task up (see .wakeups): its cluster changed.
wakeups.depends(
    "ECSTask", on="ECSCluster", find=state.tasks_in_cluster, run=lambda key, logger: sync(key[0], key[1], logger)
)
