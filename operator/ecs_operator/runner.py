"""Starting the kopf operator with the project's settings (see handlers.startup)."""

from __future__ import annotations

import asyncio
import contextlib

import kopf

from . import config, metrics


def run_operator(
    namespaces: list[str],
    all_namespaces: bool,
    liveness: str | None = None,
    verbose: bool = False,
    metrics_port: int | None = None,
    metrics_address: str = "0.0.0.0",
) -> int:
    """``metrics_port``: serve ``/metrics`` (Prometheus text, docs/metrics.md) on that port for the
    operator's life (None: no metrics endpoint; 0: any free port)."""
    config.load()  # validated before anything starts: a bad value stops here, naming the variable
    # kopf's own logging setup prefixes each object's messages with [namespace/name].
    kopf.configure(verbose=verbose, log_prefix=True)
    from . import handlers  # noqa: F401  (registers the handlers)

    with contextlib.ExitStack() as stack:
        if metrics_port is not None:
            # Bound before kopf starts (a port in use stops the operator here), closed when it ends.
            stack.enter_context(metrics.MetricsServer(metrics_port, metrics_address))
        asyncio.run(
            kopf.operator(
                clusterwide=all_namespaces,
                namespaces=namespaces,
                liveness_endpoint=liveness,
                standalone=True,
            )
        )
    return 0
