"""The ``ecs-operator`` command."""

from __future__ import annotations

import argparse
import sys

from . import __version__


def _run(args: argparse.Namespace) -> int:
    from .runner import LeaderElection, lease_namespace, run_operator

    election = None
    if args.leader_elect:
        election = LeaderElection(namespace=lease_namespace(args.leader_elect_namespace), name=args.leader_elect_name)
    return run_operator(
        namespaces=args.namespace,
        all_namespaces=not args.namespace,
        liveness=args.liveness,
        verbose=args.verbose,
        metrics_port=args.metrics_port,
        metrics_address=args.metrics_address,
        leader_election=election,
    )


def _dev(args: argparse.Namespace) -> int:
    if args.what == "cluster":
        from .dev.cluster import main as cluster_main

        return cluster_main(args.rest)
    if args.what == "api":
        from .dev.api import main as api_main

        return api_main(args.rest)
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


def _api(args: argparse.Namespace) -> int:
    import logging
    import os

    if args.kubeconfig:
        os.environ["KUBECONFIG"] = args.kubeconfig
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.api_command == "serve":
        from .api.server import serve

        try:
            return serve(
                address=args.address,
                port=args.port,
                keys_namespace=args.keys_namespace,
                tls_cert=args.tls_cert,
                tls_key=args.tls_key,
            )
        except ValueError as e:
            print(f"ecs-operator api serve: {e}", file=sys.stderr)
            return 2
    return _api_keys_create(args)


def _api_keys_create(args: argparse.Namespace) -> int:
    from . import k8s
    from .api import keys

    secret = sys.stdin.readline().strip() if args.secret_stdin else args.secret
    if not secret:
        print("ecs-operator api keys create: give --secret or --secret-stdin", file=sys.stderr)
        return 2
    key = keys.AccessKey(
        access_key_id=args.access_key_id,
        secret=secret,
        namespace=args.namespace,
        account_id=args.account_id,
        user=args.user,
        groups=tuple(args.group),
    )
    problem = keys.validate(key)
    if problem:
        print(f"ecs-operator api keys create: {problem}", file=sys.stderr)
        return 2
    manifest = keys.manifest(key, args.keys_namespace)
    k8s.apply(manifest)
    print(
        f"access key {key.access_key_id} (namespace {key.namespace}, account {key.account_id}, user {key.user}) "
        f"stored in Secret {args.keys_namespace}/{manifest['metadata']['name']}"
    )
    return 0


def _add_api(sub) -> None:
    import os

    keys_ns = os.environ.get("POD_NAMESPACE") or "ecs-operator"
    api = sub.add_parser("api", help="the ECS API endpoint (ECS clients: aws CLI, boto3, Terraform, ecspresso)")
    api_sub = api.add_subparsers(dest="api_command", required=True)
    serve = api_sub.add_parser("serve", help="serve the ECS API (HTTPS; plain HTTP only on loopback)")
    serve.add_argument("--port", type=int, default=8443, help="listen port (default 8443)")
    serve.add_argument("--address", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    serve.add_argument("--tls-cert", default=None, help="PEM certificate (chain) file: serve HTTPS")
    serve.add_argument("--tls-key", default=None, help="PEM private key file of --tls-cert")
    serve.add_argument(
        "--keys-namespace", default=keys_ns, help=f"namespace of the access key Secrets (default {keys_ns})"
    )
    serve.add_argument("--kubeconfig", default=None, help="kubeconfig (used when not running in a cluster)")
    serve.add_argument("-v", "--verbose", action="store_true")
    keys = api_sub.add_parser("keys", help="access keys (Secrets)")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="store an access key: its id, secret, namespace and identity")
    create.add_argument("--access-key-id", required=True, help="the access key id clients sign with")
    create.add_argument("--secret", default=None, help="the secret access key (or --secret-stdin)")
    create.add_argument("--secret-stdin", action="store_true", help="read the secret access key from stdin")
    create.add_argument("--namespace", required=True, help="the namespace the key acts in (its ECS account)")
    create.add_argument("--user", required=True, help="the Kubernetes user the endpoint impersonates for this key")
    create.add_argument("--group", action="append", default=[], help="a Kubernetes group to impersonate (repeatable)")
    create.add_argument("--account-id", default="123456789012", help="the 12-digit account id in ARNs")
    create.add_argument(
        "--keys-namespace", default=keys_ns, help=f"namespace of the access key Secrets (default {keys_ns})"
    )
    create.add_argument("--kubeconfig", default=None, help="kubeconfig to write the Secret with")
    api.set_defaults(func=_api)


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
    run.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve Prometheus metrics at http://<address>:<port>/metrics (default: off; see docs/metrics.md)",
    )
    run.add_argument("--metrics-address", default="0.0.0.0", help="listen address of --metrics-port (default 0.0.0.0)")
    run.add_argument(
        "--leader-elect",
        action="store_true",
        help="reconcile only while holding a coordination.k8s.io Lease (run several replicas: one leads, "
        "the others stand by; see docs/ha.md)",
    )
    run.add_argument(
        "--leader-elect-namespace",
        default=None,
        help="namespace of the Lease (default: POD_NAMESPACE, the pod's own namespace, else default)",
    )
    run.add_argument("--leader-elect-name", default="ecs-operator-leader", help="name of the Lease")
    run.add_argument("-v", "--verbose", action="store_true")
    run.set_defaults(func=_run)

    dev = sub.add_parser("dev", help="the embedded local control plane, the demo, the ECS API on the loopback")
    dev.add_argument("what", choices=["cluster", "demo", "api"])
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
    _add_api(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
