"""``ecs-operator dev api``: the ECS API endpoint on the local cluster, for local use.

One command: it serves ``ecs-operator api serve``'s endpoint in plain HTTP on the loopback
(``http://127.0.0.1:4566`` by default) with the local cluster's kubeconfig, makes sure a demo
access key exists (created once, then reused: a Secret in the keys namespace), lets the key's
Kubernetes user do what the ECS operations do in the key's namespace (a ClusterRole bound there
by a RoleBinding: RBAC through impersonation, as on a real cluster) and prints the environment
for ECS clients::

    export AWS_ACCESS_KEY_ID=AKIALOCALDEV
    export AWS_SECRET_ACCESS_KEY=...
    export AWS_REGION=us-east-1
    export AWS_DEFAULT_REGION=us-east-1
    export AWS_ENDPOINT_URL_ECS=http://127.0.0.1:4566

so ``aws ecs ...``, boto3, Terraform and ecspresso talk to the local cluster unchanged. The
demo key's secret is printed on purpose (it is a local, loopback-only key); the endpoint itself
never logs secrets. ``--operator`` also runs the operator beside it (the API's
RegisterTaskDefinition waits for an operator to register the revision).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..api import keys
from ..translate.names import digest

#: ``kubectl(*args, input=None)`` -> (exit code, stdout, stderr).
Kubectl = Callable[..., tuple[int, str, str]]

DEFAULT_PORT = 4566
DEFAULT_KEY_ID = "AKIALOCALDEV"
DEFAULT_USER = "ecs-dev"
DEFAULT_KEYS_NAMESPACE = "ecs-operator"
ROLE = "ecs-operator-dev-api-user"

#: What the ECS API's operations do as the key's user in its namespace (docs/ecs-api.md, Keys).
USER_RULES: list[dict[str, Any]] = [
    {
        "apiGroups": ["ecs.seed.dev"],
        "resources": ["ecsclusters", "taskdefinitions", "ecsservices", "ecstasks", "capacityproviders"],
        "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
    },
    # Stop/ContinueServiceDeployment write into the operator's ServiceDeployment records
    {"apiGroups": ["ecs.seed.dev"], "resources": ["servicedeployments"], "verbs": ["get", "list", "patch"]},
    {"apiGroups": ["ecs.seed.dev"], "resources": ["servicerevisions"], "verbs": ["get", "list"]},
    {"apiGroups": ["apps"], "resources": ["controllerrevisions"], "verbs": ["get", "list", "patch"]},
    {"apiGroups": ["apps"], "resources": ["deployments", "daemonsets"], "verbs": ["get", "list", "patch"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "delete"]},
    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "create", "update"]},
]


def rbac_manifests(namespace: str, user: str) -> list[dict[str, Any]]:
    """The ClusterRole of what ECS operations do, bound to ``user`` in ``namespace`` only."""
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": ROLE, "labels": {"app.kubernetes.io/managed-by": "ecs-operator"}},
            "rules": USER_RULES,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": f"{ROLE}-{digest(user, 8)}", "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": ROLE},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        },
    ]


def namespace_manifest(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def env_lines(access_key_id: str, secret: str, region: str, url: str) -> list[str]:
    """The shell lines that point ECS clients at the endpoint (the Go SDK, Terraform and the aws
    CLI v2 read AWS_REGION; boto3 and the aws CLI v1 AWS_DEFAULT_REGION)."""
    return [
        f"export AWS_ACCESS_KEY_ID={access_key_id}",
        f"export AWS_SECRET_ACCESS_KEY={secret}",
        f"export AWS_REGION={region}",
        f"export AWS_DEFAULT_REGION={region}",
        f"export AWS_ENDPOINT_URL_ECS={url}",
    ]


def _apply(kubectl: Kubectl, objects: list[dict[str, Any]]) -> None:
    body = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
    code, _, err = kubectl("apply", "--server-side", "--field-manager", "ecs-operator-dev", "-f", "-", input=body)
    if code != 0:
        raise RuntimeError(f"kubectl apply failed: {err.strip()}")


def existing_key(kubectl: Kubectl, keys_namespace: str, access_key_id: str) -> keys.AccessKey | None:
    """The stored key ``access_key_id`` (None: there is none)."""
    name = keys.secret_name(access_key_id)
    code, out, err = kubectl("get", "secret", "-n", keys_namespace, name, "-o", "json", "--ignore-not-found")
    if code != 0:
        raise RuntimeError(f"kubectl get secret failed: {err.strip()}")
    if not out.strip():
        return None
    obj = json.loads(out)
    key = keys.from_secret(obj) if obj.get("type") == keys.SECRET_TYPE else None
    return key if key is not None and key.access_key_id == access_key_id else None


def ensure_key(
    kubectl: Kubectl,
    *,
    keys_namespace: str,
    access_key_id: str,
    namespace: str,
    user: str,
    account_id: str = keys.DEFAULT_ACCOUNT,
    new_secret: Callable[[], str] = lambda: secrets.token_urlsafe(30),
) -> tuple[keys.AccessKey, bool]:
    """(the key, created): the stored key with this id, or a new one acting in ``namespace``
    as ``user``. A stored key keeps its secret (clients configured earlier keep working), but
    must act in the namespace asked for."""
    found = existing_key(kubectl, keys_namespace, access_key_id)
    if found is not None:
        if found.namespace != namespace:
            raise RuntimeError(
                f"access key {access_key_id} acts in namespace {found.namespace}, not {namespace}: "
                "choose another --access-key-id"
            )
        return found, False
    key = keys.AccessKey(
        access_key_id=access_key_id,
        secret=new_secret(),
        namespace=namespace,
        account_id=account_id,
        user=user,
    )
    problem = keys.validate(key)
    if problem:
        raise RuntimeError(problem)
    _apply(kubectl, [keys.manifest(key, keys_namespace)])
    return key, True


def prepare(
    kubectl: Kubectl,
    *,
    keys_namespace: str,
    namespace: str,
    access_key_id: str,
    user: str,
    account_id: str = keys.DEFAULT_ACCOUNT,
    new_secret: Callable[[], str] = lambda: secrets.token_urlsafe(30),
) -> tuple[keys.AccessKey, bool]:
    """The namespaces, the key user's RBAC and the key, on the cluster ``kubectl`` talks to."""
    _apply(kubectl, [namespace_manifest(n) for n in dict.fromkeys((keys_namespace, namespace))])
    key, created = ensure_key(
        kubectl,
        keys_namespace=keys_namespace,
        access_key_id=access_key_id,
        namespace=namespace,
        user=user,
        account_id=account_id,
        new_secret=new_secret,
    )
    _apply(kubectl, rbac_manifests(key.namespace, key.user))
    return key, created


def kubectl_for(kubeconfig: Path) -> Kubectl:
    from .cluster import bin_dir

    exe = str(bin_dir() / "kubectl")

    def kubectl(*args: str, input: str | None = None) -> tuple[int, str, str]:
        proc = subprocess.run(
            [exe, "--kubeconfig", str(kubeconfig), *args], input=input, text=True, capture_output=True, check=False
        )
        return proc.returncode, proc.stdout, proc.stderr

    return kubectl


def _parser() -> argparse.ArgumentParser:
    from .cluster import DEFAULT_NAME

    p = argparse.ArgumentParser(
        prog="ecs-operator dev api",
        description="Serve the ECS API on the loopback for the local cluster, with a demo access key.",
    )
    p.add_argument("--name", default=DEFAULT_NAME, help=f"local cluster name (default {DEFAULT_NAME})")
    p.add_argument("--kubeconfig", default=None, help="another cluster's kubeconfig instead of the local cluster's")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"loopback port (default {DEFAULT_PORT})")
    p.add_argument("--namespace", default="default", help="namespace the demo key acts in (default: default)")
    p.add_argument("--region", default="us-east-1", help="AWS_REGION to print (ARNs carry the client's region)")
    p.add_argument("--access-key-id", default=DEFAULT_KEY_ID, help=f"the demo key's id (default {DEFAULT_KEY_ID})")
    p.add_argument(
        "--user", default=DEFAULT_USER, help=f"Kubernetes user the key impersonates (default {DEFAULT_USER})"
    )
    p.add_argument("--account-id", default=keys.DEFAULT_ACCOUNT, help="12-digit account id of a new key")
    p.add_argument(
        "--keys-namespace",
        default=DEFAULT_KEYS_NAMESPACE,
        help=f"namespace of the key Secrets (default {DEFAULT_KEYS_NAMESPACE})",
    )
    p.add_argument("--operator", action="store_true", help="also run the operator (until the endpoint stops)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def _kubeconfig(args: argparse.Namespace) -> Path:
    from .cluster import LocalCluster

    if args.kubeconfig:
        return Path(args.kubeconfig)
    cluster = LocalCluster(name=args.name)
    if not cluster.kubeconfig.exists() or not cluster.exists():
        name = f" --name {args.name}" if args.name != LocalCluster.name else ""
        raise RuntimeError(
            f"the local cluster {args.name!r} is not running: start it with `ecs-operator dev cluster up{name}`"
        )
    return cluster.kubeconfig


def main(argv: list[str]) -> int:
    import logging

    args = _parser().parse_args(argv)
    try:
        kubeconfig = _kubeconfig(args)
        key, created = prepare(
            kubectl_for(kubeconfig),
            keys_namespace=args.keys_namespace,
            namespace=args.namespace,
            access_key_id=args.access_key_id,
            user=args.user,
            account_id=args.account_id,
        )
    except RuntimeError as e:
        print(f"ecs-operator dev api: {e}", file=sys.stderr)
        return 1
    os.environ["KUBECONFIG"] = str(kubeconfig)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    url = f"http://127.0.0.1:{args.port}"
    what = "created" if created else "reused"
    print(
        f"# ECS API on {url}: demo key {key.access_key_id} ({what}; namespace {key.namespace}, "
        f"account {key.account_id}, user {key.user}). Ctrl-C stops it.",
        flush=True,
    )
    print("\n".join(env_lines(key.access_key_id, key.secret, args.region, url)), flush=True)
    print("# then: aws ecs list-clusters", flush=True)
    operator = _start_operator(kubeconfig, _scheduler_name(args)) if args.operator else None
    try:
        from ..api.server import serve

        return serve(address="127.0.0.1", port=args.port, keys_namespace=args.keys_namespace)
    finally:
        if operator is not None:
            operator.terminate()
            try:
                operator.wait(timeout=15)
            except subprocess.TimeoutExpired:
                operator.kill()
                operator.wait()


def _scheduler_name(args: argparse.Namespace) -> str:
    """The local cluster's ecs-scheduler, when it runs (as `dev cluster up` starts it)."""
    if args.kubeconfig or os.environ.get("ECS_OPERATOR_SCHEDULER_NAME") is not None:
        return os.environ.get("ECS_OPERATOR_SCHEDULER_NAME", "")
    from .cluster import LocalCluster
    from .scheduler import EcsScheduler

    cluster = LocalCluster(name=args.name)
    sched = EcsScheduler(kubeconfig=cluster.kubeconfig, bins=Path("."), workdir=cluster.workdir, cluster=cluster.name)
    return sched.name if sched.load() else ""


def _start_operator(kubeconfig: Path, scheduler_name: str) -> subprocess.Popen:
    from .cluster import cache_root

    log_path = cache_root() / "dev-api-operator.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    print(f"# the operator runs beside it (log: {log_path})", flush=True)
    env = dict(os.environ, KUBECONFIG=str(kubeconfig), PYTHONUNBUFFERED="1", ECS_OPERATOR_SCHEDULER_NAME=scheduler_name)
    with open(log_path, "w") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "ecs_operator.cli", "run"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
