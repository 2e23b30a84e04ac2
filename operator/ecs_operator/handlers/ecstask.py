"""ECSTask: standalone tasks (RunTask / StopTask) with ECS's task lifecycle.

Level-based: every run (spec created/changed, operator restart, a pod of the task changed, a
stop asked for) re-reads the ECSTask and its pods under a per-ECSTask lock, creates the pods of
tasks that were never started, computes status with the pure ``translate.task`` functions,
writes it, and only then deletes the pods of tasks that must stop, so that what a stopping
task reported (exit codes, reasons) is never lost. A task index that was started is never
started again. See docs/ecstask.md.
"""

from __future__ import annotations

from datetime import UTC, datetime

import kopf
from pydantic import ValidationError

from .. import API_VERSION, GROUP, VERSION, config, k8s
from ..domain import revisions
from ..domain.capacity import LaunchError, assign_tasks, pod_placement, resolve_launch
from ..errors import NotReady, validation_message
from ..models.generated import RegisterTaskDefinitionRequest, RunTaskRequest
from ..state.clusters import cluster_name_of, existing_cluster, strategy_pools
from ..state.clusters import cluster_pools as read_cluster_pools
from ..state.clusters import default_strategy as cluster_default_strategy
from ..state.families import resolve_revision
from ..status import condition, format_warnings, merge_conditions, now_iso
from ..translate import task as task_tr
from ..translate.service import cluster_name
from ..translate.taskdef import TranslationError, translate_task_definition
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


def _request(body: dict) -> RunTaskRequest:
    return load_spec(RunTaskRequest, body.get("spec"), task_tr.validate, task_tr.TaskError)


def _resolve(req: RunTaskRequest, namespace: str, recorded: str | None) -> revisions.Revision:
    """The task's revision: the one it started with (``recorded``, kept although INACTIVE), else
    what spec.taskDefinition names."""
    return resolve_revision(namespace, recorded or req.taskDefinition, keep=recorded)


def _owned(obj: dict, uid: str) -> bool:
    return any(o.get("uid") == uid for o in obj["metadata"].get("ownerReferences") or [])


def _pods(namespace: str, name: str, uid: str) -> dict[int, dict]:
    out: dict[int, dict] = {}
    for pod in k8s.list_("v1", "Pod", namespace, labels={task_tr.LABEL_TASK: task_tr.task_label(name)}):
        index = task_tr.pod_index(pod)
        if index is not None and _owned(pod, uid):
            out[index] = pod
    return out


def _family(req: RunTaskRequest, td_arn: str | None) -> str | None:
    try:
        return revisions.parse_reference(td_arn or req.taskDefinition).family
    except revisions.ReferenceError_:
        return None


def _base(req: RunTaskRequest, uid: str, name: str, index: int, td_arn: str | None) -> dict:
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


def _launch(body: dict, req: RunTaskRequest, indexes: list[int], recorded_td: str | None):
    """RunTask for the given task indexes: resolve, translate (with overrides), create the pods.
    Returns (task definition, warnings, created pods by index, pod creation errors)."""
    md = body["metadata"]
    namespace, name = md["namespace"], md["name"]
    rev = _resolve(req, namespace, recorded_td)
    try:
        td_model = RegisterTaskDefinitionRequest.model_validate(rev.spec)
    except ValidationError as e:
        raise NotReady("InvalidTaskDefinition", f"taskDefinition {rev.arn}: {validation_message(e)}") from e
    try:
        overridden = task_tr.apply_overrides(td_model, req.overrides)
    except task_tr.TaskError as e:
        raise NotReady("InvalidParameterException", str(e)) from e
    try:
        translation = translate_task_definition(overridden, family=rev.family, revision=rev.revision)
    except TranslationError as e:
        if req.overrides is not None:
            try:
                translate_task_definition(td_model, family=rev.family, revision=rev.revision)
            except TranslationError:
                pass
            else:
                raise NotReady("InvalidParameterException", f"overrides: with the overrides applied, {e}") from e
        raise NotReady("InvalidTaskDefinition", f"taskDefinition {rev.arn}: {e}") from e
    # Everything is computed before anything is created: bad input never half-launches.
    cluster = cluster_name(req.cluster)
    cluster_obj = existing_cluster(namespace, cluster)
    cluster_pools = read_cluster_pools(namespace, cluster_obj)
    strategy = req.capacityProviderStrategy or (None if req.launchType else cluster_default_strategy(cluster_obj))
    pools = strategy_pools(namespace, strategy)
    try:
        launch = resolve_launch(req.launchType, strategy, td_model.requiresCompatibilities)
        # Several providers: the tasks are split by base then weight, as ECS splits them.
        providers = assign_tasks(task_tr.task_count(req), strategy) if len(launch.providers) > 1 else []
        placements = {
            i: pod_placement(launch.for_provider(providers[i]) if providers else launch, pools) for i in indexes
        }
    except LaunchError as e:
        field_ = (
            e.field
            if req.capacityProviderStrategy or not strategy
            else f"cluster {cluster} defaultCapacityProviderStrategy"
        )
        raise NotReady("InvalidParameterException", f"{field_}: {str(e).split(': ', 1)[-1]}") from e
    owner = k8s.owner_of(body).as_dict()
    try:
        pods = {
            i: task_tr.task_pod(
                translation.template,
                name=name,
                namespace=namespace,
                index=i,
                owner=owner,
                req=req,
                family=rev.family,
                task_definition=rev.arn,
                placement=placements[i],
                scheduler_name=config.get().scheduler_name,
                cluster_pools=cluster_pools,
            )
            for i in indexes
        }
    except task_tr.TaskError as e:
        raise NotReady("InvalidParameterException", str(e)) from e
    for pod in list(pods.values())[:1]:  # every task of the call has the same spec
        enforce_policy(pod, cluster_obj, cluster)
    k8s.create_missing(translation.objects, namespace)
    created: dict[int, dict] = {}
    errors: list[str] = []
    for i, pod in pods.items():
        try:
            created[i] = k8s.create(pod)
        except k8s.ApiError as e:
            errors.append(f"task {i} (pod {pod['metadata']['name']}): {e.message}")
    warnings = (
        format_warnings(task_tr.translation_warnings(translation.warnings))
        + format_warnings(task_tr.task_warnings(req))
        + [f"{f}: {m}" for f, m in launch.warnings]
    )
    return rev.arn, warnings, created, errors


def _differs(previous: dict, new: dict) -> bool:
    return any(previous.get(k) != v for k, v in new.items())


def sync(namespace: str, name: str, logger) -> None:
    """Bring the ECSTask's tasks and status up to date (idempotent; see the module docstring)."""
    with _locks.hold(f"{namespace}/{name}"):
        body = k8s.get(API, "ECSTask", namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return
        md = body["metadata"]
        generation, uid = md.get("generation"), md["uid"]
        previous = body.get("status") or {}
        prev_tasks = list(previous.get("tasks") or [])
        prev_ready = next((c for c in previous.get("conditions") or [] if c.get("type") == "Ready"), {})
        now = now_iso()
        stop = task_tr.stop_request(md.get("annotations"))
        pods = _pods(namespace, name, uid)
        td_arn = previous.get("taskDefinitionArn")
        extra_conditions: list[dict] = []
        not_ready: NotReady | None = None
        req: RunTaskRequest | None = None
        count = max(len(prev_tasks), max(pods) + 1 if pods else 0)

        if prev_tasks and previous.get("observedGeneration") not in (None, generation):
            kopf.warn(
                body,
                reason="SpecIgnored",
                message="the RunTask input of started tasks cannot change: "
                "this change is not applied (delete and re-create the ECSTask to run again)",
            )
        try:
            if not prev_tasks:
                req = _request(body)
                count = max(count, task_tr.task_count(req))
            todo = [
                i
                for i in range(count)
                if i not in pods and not task_tr.launched(prev_tasks[i] if i < len(prev_tasks) else None)
            ]
            if todo:
                req = req or _request(body)
            if todo and stop is None:
                td_arn, warnings, created, errors = _launch(body, req, todo, td_arn)
                pods.update(created)
                if created:
                    logger.info(f"started {len(created)} task(s) of {td_arn}")
                    kopf.info(
                        body,
                        reason="TasksStarted",
                        message=f"started {len(created)} task(s) of {td_arn}: "
                        + ", ".join(p["metadata"]["name"] for p in created.values()),
                    )
                extra_conditions.append(
                    condition(
                        "Translated",
                        True,
                        "TranslatedWithWarnings" if warnings else "Translated",
                        ("Kubernetes cannot express: " + "; ".join(warnings))
                        if warnings
                        else "every field is expressed",
                        generation,
                        now,
                    )
                )
                if warnings and created:
                    kopf.warn(body, reason="TranslationWarning", message="; ".join(warnings)[:900])
                if errors:
                    raise NotReady("TaskRejected", "the API server refused the task's pod: " + "; ".join(errors))
        except NotReady as e:
            not_ready = e
            if not prev_tasks and not pods:
                if (prev_ready.get("reason"), prev_ready.get("message")) != (e.reason, e.message):
                    kopf.warn(body, reason=e.reason, message=e.message)
                status = {
                    "observedGeneration": generation,
                    "conditions": merge_conditions(
                        previous.get("conditions"), [condition("Ready", False, e.reason, e.message, generation, now)]
                    ),
                }
                if _differs(previous, status):
                    k8s.merge_patch(API, "ECSTask", namespace, name, {"status": status}, subresource="status")
                if e.reason == "TaskRejected":  # e.g. a ResourceQuota: try again later
                    raise kopf.TemporaryError(e.message, delay=30) from e
                return

        bases = []
        for i in range(count):
            prev = prev_tasks[i] if i < len(prev_tasks) else None
            fresh = i not in pods and not task_tr.launched(prev)
            bases.append(_base(req, uid, name, i, td_arn) if fresh and req is not None else {})
        result = task_tr.ecs_status(
            bases=bases, pods=pods, previous=previous, stop_reason=stop, now=now, task_definition=td_arn
        )
        conds = task_tr.conditions(result.status, name=name, generation=generation, now=now)
        if not_ready is not None:
            conds = [condition("Ready", False, not_ready.reason, not_ready.message, generation, now)]
            if (prev_ready.get("reason"), prev_ready.get("message")) != (not_ready.reason, not_ready.message):
                kopf.warn(body, reason=not_ready.reason, message=not_ready.message)
        status = {
            **result.status,
            "observedGeneration": generation,
            "conditions": merge_conditions(previous.get("conditions"), conds + extra_conditions),
        }
        if _differs(previous, status):
            k8s.merge_patch(API, "ECSTask", namespace, name, {"status": status}, subresource="status")
        for task in result.stopped:
            message = task_tr.stopped_message(task)
            logger.info(message)
            if task.get("succeeded"):
                kopf.info(body, reason="TaskStopped", message=message)
            else:
                kopf.warn(body, reason="TaskStopped", message=message)
        for failure in result.new_failures:
            kopf.warn(body, reason="TaskPlacementFailed", message=task_tr.placement_message(name, failure))
        # Only now, with what the tasks reported recorded: stop the tasks that must stop (ECS sends
        # SIGTERM, then SIGKILL after stopTimeout: the pod's terminationGracePeriodSeconds).
        for pod_name in result.delete_pods:
            logger.info(f"stopping task pod {pod_name}")
            k8s.delete("v1", "Pod", namespace, pod_name)


@kopf.on.resume(GROUP, VERSION, "ecstasks")
@kopf.on.create(GROUP, VERSION, "ecstasks")
@kopf.on.update(GROUP, VERSION, "ecstasks", field="spec")
def ecstask_changed(body, logger, **_):
    md = body["metadata"]
    sync(md["namespace"], md["name"], logger)


@kopf.on.event(GROUP, VERSION, "ecstasks")
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
    if tasks and all(t.get("desiredStatus") == task_tr.STOPPED for t in tasks):
        return
    try:
        sync(md["namespace"], md["name"], logger)
    except (k8s.ApiError, kopf.TemporaryError) as e:
        logger.warning(f"stop will be retried on the next event: {e}")


@kopf.on.event("", "v1", "pods", labels={task_tr.LABEL_TASK: kopf.PRESENT})
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
def revision_registered(body, type, logger, **_):
    """ECSTasks waiting for their task definition start once it is registered."""
    if type == "DELETED":
        return
    md = body["metadata"]
    family = (md.get("annotations") or {}).get(revisions.ANNOTATION_FAMILY)
    if not family:
        return
    for task in k8s.list_(API, "ECSTask", md["namespace"]):
        st = task.get("status") or {}
        if st.get("tasks") or task["metadata"].get("deletionTimestamp"):
            continue
        try:
            if revisions.parse_reference((task.get("spec") or {}).get("taskDefinition") or "").family != family:
                continue
        except revisions.ReferenceError_:
            continue
        try:
            sync(md["namespace"], task["metadata"]["name"], logger)
        except (k8s.ApiError, kopf.TemporaryError) as e:
            logger.warning(f"ECSTask {task['metadata']['name']} will start on its next event: {e}")


@kopf.timer(
    GROUP,
    VERSION,
    "ecstasks",
    interval=TIMER_INTERVAL,
    when=lambda status, **_: (status or {}).get("lastStatus") == task_tr.STOPPED,
)
def expire_stopped(body, status, logger, **_):
    """ECS shows a stopped task for a while, then it is gone: delete the ECSTask (and with it its
    pods) ECS_OPERATOR_STOPPED_TASK_TTL_SECONDS after it stopped."""
    ttl = stopped_task_ttl()
    if task_tr.expired(dict(status or {}), datetime.now(UTC), ttl):
        md = body["metadata"]
        logger.info(f"stopped for {ttl:g}s: deleting")
        k8s.delete(API, "ECSTask", md["namespace"], md["name"])


# What wakes a task up (see .wakeups): its cluster changed.
def _cluster_tasks(cluster: dict) -> list[tuple[str, str]]:
    name = cluster_name_of(cluster)
    namespace = cluster["metadata"]["namespace"]
    return [
        (namespace, t["metadata"]["name"])
        for t in k8s.list_(API, "ECSTask", namespace)
        if cluster_name((t.get("spec") or {}).get("cluster")) == name
    ]


wakeups.depends("ECSTask", on="ECSCluster", find=_cluster_tasks, run=lambda key, logger: sync(*key, logger))
