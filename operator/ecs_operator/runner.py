"""Starting the kopf operator with the project's settings (see handlers.startup)."""

from __future__ import annotations

import asyncio

import kopf

from . import config


def run_operator(
    namespaces: list[str], all_namespaces: bool, liveness: str | None = None, verbose: bool = False
) -> int:
    config.load()  # validated before anything starts: a bad value stops here, naming the variable
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
