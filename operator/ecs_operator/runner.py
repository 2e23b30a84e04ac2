"""Starting the kopf operator with the project's settings."""

from __future__ import annotations

import asyncio
import logging

import kopf

from . import GROUP


def configure(settings: kopf.OperatorSettings) -> None:
    """Settings every ecs-operator process uses (also applied by tests' in-process runs).

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


def run_operator(
    namespaces: list[str], all_namespaces: bool, liveness: str | None = None, verbose: bool = False
) -> int:
    # kopf's own logging setup prefixes each object's messages with [namespace/name].
    kopf.configure(verbose=verbose, log_prefix=True)
    from . import handlers  # noqa: F401  (registers the handlers)

    asyncio.run(
        kopf.operator(
            clusterwide=all_namespaces,
            namespaces=namespaces,
            liveness_endpoint=liveness,
            standalone=True,
        )
    )
    return 0
