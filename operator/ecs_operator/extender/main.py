"""``ecs-operator extender``: serve the ECS placement extender."""

from __future__ import annotations

import argparse
import logging
import os


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.kubeconfig:
        os.environ["KUBECONFIG"] = args.kubeconfig
    from .. import k8s
    from .server import ListingClusterView, serve

    # TODO: a watch-based cache (InMemoryClusterView fed by node and pod watches).
    return serve(ListingClusterView(k8s.list_, ttl=args.ttl), args.address, args.port)
