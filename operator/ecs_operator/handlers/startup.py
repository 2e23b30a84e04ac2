"""The operator's start: kopf's settings and the environment's (ecs_operator.config)."""

from __future__ import annotations

import logging
from concurrent.futures import Executor

import kopf

from .. import GROUP, config, metrics
from . import ecsservice


def configure(settings: kopf.OperatorSettings) -> None:
    """Settings every ecs-operator process uses.

    The storage prefixes are set to our group from day one: changing them later makes every
    object look unhandled and duplicates children.
    """
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    # Watch streams can stall silently without these: the server closes each watch after
    # server_timeout, and the client gives up on a silent connection shortly after.
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300
    settings.watching.connect_timeout = 30
    settings.networking.request_timeout = 60
    # One operator replica; no kopf peering CRDs needed in the cluster.
    settings.peering.standalone = True
    settings.posting.level = logging.WARNING
    settings.execution.max_workers = 20
    settings.batching.error_delays = [1, 2, 5, 10, 30, 60]


@kopf.on.startup()
def _startup(settings: kopf.OperatorSettings, **kwargs):
    config.load()  # a bad environment variable stops the operator here, naming it
    configure(settings)
    ecsservice.remember_indexes(kwargs)  # kopf passes its (still empty) indexes to startup handlers
    executor = settings.execution.executor
    metrics.HANDLER_QUEUE_DEPTH.set_function(lambda: _queued(executor))


def _queued(executor: Executor) -> int:
    """Handler calls waiting for one of kopf's handler threads (kopf runs sync handlers in
    ``settings.execution.executor``, a ThreadPoolExecutor of ``max_workers`` threads)."""
    queue = getattr(executor, "_work_queue", None)
    return queue.qsize() if queue is not None else 0
