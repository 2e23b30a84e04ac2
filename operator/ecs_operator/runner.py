"""Starting the kopf operator with the project's settings (see handlers.startup).

With leader election (``run --leader-elect``, the chart's default with 2 replicas) a process is a
candidate first: it starts kopf only once it holds the Lease (k8s/lease.py, rules in
plans/leadership.py), so only one replica ever reconciles. A leader that cannot renew within the
renew deadline exits at once (kopf's handlers are safe to kill at any line; the restarted process
is a fresh standby); a leader stopped by SIGTERM stops kopf, then releases the Lease so a standby
takes over at its next round. See docs/ha.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import kopf

from . import config, heap, metrics
from .plans.leadership import Timing

logger = logging.getLogger("ecs_operator.leader")

#: Exit code of a leader that lost its Lease (the container restarts as a standby).
EXIT_LOST_LEASE = 3


@dataclass(frozen=True)
class LeaderElection:
    """Run only while holding the Lease ``namespace``/``name``."""

    namespace: str
    name: str = "ecs-operator-leader"
    timing: Timing = field(default_factory=Timing)
    #: this process's identity in the Lease: the pod's name (POD_NAME) or host name, plus a random
    #: suffix so that a restarted process never mistakes its predecessor's Lease for its own
    identity: str = field(
        default_factory=lambda: f"{os.environ.get('POD_NAME') or socket.gethostname()}_{uuid.uuid4().hex[:8]}"
    )


def lease_namespace(explicit: str | None) -> str:
    """Where the Lease lives: ``explicit``, else the pod's namespace (POD_NAMESPACE, or the
    ServiceAccount's namespace file in a pod), else ``default``."""
    if explicit:
        return explicit
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    with contextlib.suppress(OSError):
        with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace") as f:
            return f.read().strip() or "default"
    return "default"


def run_operator(
    namespaces: list[str],
    all_namespaces: bool,
    liveness: str | None = None,
    verbose: bool = False,
    metrics_port: int | None = None,
    metrics_address: str = "0.0.0.0",
    leader_election: LeaderElection | None = None,
) -> int:
    """``metrics_port``: serve ``/metrics`` (Prometheus text, docs/metrics.md) on that port for the
    operator's life (None: no metrics endpoint; 0: any free port). ``leader_election``: reconcile
    only while holding that Lease (None: always; one process)."""
    settings = config.load()  # validated before anything starts: a bad value stops here, naming the variable
    # kopf's own logging setup prefixes each object's messages with [namespace/name].
    kopf.configure(verbose=verbose, log_prefix=True)
    from . import handlers  # noqa: F401  (registers the handlers)

    def operator() -> Coroutine[Any, Any, None]:
        return kopf.operator(
            clusterwide=all_namespaces, namespaces=namespaces, liveness_endpoint=liveness, standalone=True
        )

    heap.configure()  # before kopf and the metrics server start their threads
    with contextlib.ExitStack() as stack:
        if settings.heap_trim is not None:
            stack.enter_context(heap.HeapTrimmer(settings.heap_trim))
        if metrics_port is not None:
            # Bound before kopf starts (a port in use stops the operator here), closed when it ends.
            stack.enter_context(metrics.MetricsServer(metrics_port, metrics_address))
        if leader_election is None:
            metrics.LEADER.set(1)
            asyncio.run(operator())
        else:
            asyncio.run(_elected(leader_election, operator, liveness))
    return 0


async def _elected(
    election: LeaderElection, operator: Callable[[], Coroutine[Any, Any, None]], liveness: str | None
) -> None:
    from .k8s.lease import Elector, LeaseLock

    metrics.LEADER.set(0)
    lock = LeaseLock(election.namespace, election.name, election.identity, election.timing)
    elector = Elector(lock, on_lost=_exit_lost)
    logger.info("leader election: candidate %s for the Lease %s/%s", election.identity, lock.namespace, lock.name)
    stop = threading.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with _standby_liveness(liveness):
            leading = await asyncio.to_thread(elector.wait_to_lead, stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    if not leading:
        logger.info("stopped while standby")
        return
    metrics.LEADER.set(1)
    elector.keep_leading()
    try:
        await operator()  # kopf installs its own SIGTERM/SIGINT handling and returns on them
    finally:
        await asyncio.to_thread(elector.resign)
        metrics.LEADER.set(0)


def _exit_lost() -> None:
    """Stop reconciling at once: no handler may write after another replica could lead."""
    logging.shutdown()
    os._exit(EXIT_LOST_LEASE)


@contextlib.asynccontextmanager
async def _standby_liveness(url: str | None):
    """A standby answers kopf's liveness URL itself (200 "standby"), so the probe that restarts a
    stuck leader does not restart a healthy standby; freed before kopf binds it."""
    if not url:
        yield
        return
    from aiohttp import web

    parts = urlsplit(url)

    async def standby(request: web.Request) -> web.Response:
        return web.Response(text="standby\n")

    app = web.Application()
    app.router.add_get(parts.path or "/", standby)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, parts.hostname, parts.port or 80, reuse_address=True)
    await site.start()
    try:
        yield
    finally:
        await runner.cleanup()
