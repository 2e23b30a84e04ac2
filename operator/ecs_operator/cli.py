"""The ``ecs-operator`` command."""

from __future__ import annotations

import argparse
import sys

from . import __version__


def _run(args: argparse.Namespace) -> int:
    from .runner import run_operator

    return run_operator(
        namespaces=args.namespace, all_namespaces=not args.namespace, liveness=args.liveness, verbose=args.verbose
    )


def _dev(args: argparse.Namespace) -> int:
    if args.what == "cluster":
        from .dev.cluster import main as cluster_main

        return cluster_main(args.rest)
    from .dev.demo import main as demo_main

    return demo_main(args.rest)


def _convert(args: argparse.Namespace) -> int:
    from .convert import main_convert

    return main_convert(args.rest)


def _render(args: argparse.Namespace) -> int:
    from .convert import main_render

    return main_render(args.rest)


def _extender(args: argparse.Namespace) -> int:
    from .extender.main import run

    return run(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ecs-operator", description=__doc__)
    p.add_argument("--version", action="version", version=f"ecs-operator {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the operator against the current kubeconfig / in-cluster config")
    run.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        help="watch only this namespace (repeatable); default: all namespaces",
    )
    run.add_argument(
        "--liveness", default=None, help="serve kopf's liveness probe at this URL, e.g. http://0.0.0.0:8080/healthz"
    )
    run.add_argument("-v", "--verbose", action="store_true")
    run.set_defaults(func=_run)

    dev = sub.add_parser("dev", help="the embedded local control plane and demo")
    dev.add_argument("what", choices=["cluster", "demo"])
    dev.add_argument("rest", nargs=argparse.REMAINDER)
    dev.set_defaults(func=_dev)
    conv = sub.add_parser(
        "convert", help="ECS JSON -> TaskDefinition/ECSService YAML for kubectl apply", add_help=False
    )
    conv.add_argument("rest", nargs=argparse.REMAINDER)
    conv.set_defaults(func=_convert)
    rend = sub.add_parser("render", help="print the Kubernetes objects ECS resources become (offline)", add_help=False)
    rend.add_argument("rest", nargs=argparse.REMAINDER)
    rend.set_defaults(func=_render)
    ext = sub.add_parser("extender", help="serve ECS task placement as a kube-scheduler extender")
    ext.add_argument("--port", type=int, default=8888, help="listen port (default 8888)")
    ext.add_argument("--address", default="0.0.0.0", help="listen address (default 0.0.0.0)")
    ext.add_argument(
        "--kubeconfig", default=None, help="kubeconfig to read nodes and pods with (used when not running in a cluster)"
    )
    ext.add_argument(
        "--scheduler-name",
        action="append",
        default=[],
        help="bind only pods that name this scheduler (repeatable; default: ecs-scheduler)",
    )
    ext.add_argument("-v", "--verbose", action="store_true")
    ext.set_defaults(func=_extender)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
