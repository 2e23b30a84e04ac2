"""``ecs-operator extender``: serve the ECS placement extender.

Nodes and pods come from a :class:`~.cache.WatchCache` (list + watch in two background
threads); requests are served from memory. ``/readyz`` (and ``/healthz``) answer 503 until
both are listed, ``/livez`` always ``ok``. The ``bind`` verb is served (binding through the
pods/binding subresource, the pod assumed in the cache at once), and pods that passed the
filter are waited for until bound (``INFLIGHT_TIMEOUT``, environment
``ECS_OPERATOR_EXTENDER_INFLIGHT_TIMEOUT``): see docs/placement.md.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
import threading

from .. import config
from . import SCHEDULER_NAME

#: seconds the extender waits, before answering for an ECS task, for an earlier pod that
#: passed its filter to be bound (see verbs.Extender); the environment variable overrides it,
#: 0 turns the tracking off (benchmarks; spread and binpack then only see what the cache saw)
INFLIGHT_TIMEOUT = config.DEFAULT_EXTENDER_INFLIGHT_TIMEOUT
INFLIGHT_TIMEOUT_ENV = config.EXTENDER_INFLIGHT_TIMEOUT_ENV


def inflight_timeout() -> float | None:
    """The in-flight timeout from the environment, read and validated now (config.load)."""
    return config.load().extender_inflight_timeout


#: Seconds a thread holds the GIL before another may take it (CPython's default: 0.005). The
#: extender's request threads mostly wait on sockets; behind a busy watch thread each of their
#: GIL hand-offs waited up to the default. Measured with a CPU-bound thread beside the server
#: (1,000 nodes, filter over HTTP): p50 16 -> 5-9 ms, p90 57-85 -> 13-16 ms.
SWITCH_INTERVAL = 0.001


def _freeze_after_sync(cache) -> None:
    """Once the first listing is in, move every object so far out of the cyclic garbage
    collector's reach (``gc.freeze``): at 1,000 nodes and 10,000 pods a full collection walks
    ~100,000 containers (~100 ms, a request stalled behind it); afterwards it walks only what
    came later. The listed objects are still freed by reference counting when replaced."""
    if cache.wait_synced(None):
        gc.collect()
        gc.freeze()


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.kubeconfig:
        os.environ["KUBECONFIG"] = args.kubeconfig
    from .. import k8s
    from .cache import WatchCache
    from .kube import KubeBinder, KubeSource
    from .server import make_server

    sys.setswitchinterval(SWITCH_INTERVAL)
    cache = WatchCache(KubeSource(k8s.client)).start()
    threading.Thread(target=_freeze_after_sync, args=(cache,), name="gc-freeze", daemon=True).start()
    srv = make_server(
        cache,
        args.address,
        args.port,
        KubeBinder(k8s.client),
        inflight_timeout=inflight_timeout(),
        scheduler_names=args.scheduler_name or [SCHEDULER_NAME],
    )
    log = logging.getLogger("ecs_operator.extender")
    log.info(
        "ECS placement extender listening on %s:%d (ready once nodes and pods are listed)", *srv.server_address[:2]
    )
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()
        cache.stop()
    return 0
