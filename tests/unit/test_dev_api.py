"""``ecs-operator dev api``: the local endpoint's preparation (namespaces, the demo key, its
user's RBAC) against a fake kubectl, and the environment it prints."""

from __future__ import annotations

import base64
import json

import pytest
from ecs_operator.api import keys
from ecs_operator.dev import api as dev_api


class FakeKubectl:
    """Server-side apply and get of the objects ``dev api`` makes, keyed by (kind, namespace, name)."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str | None, str], dict] = {}
        self.argv: list[tuple[str, ...]] = []

    def __call__(self, *args: str, input: str | None = None) -> tuple[int, str, str]:
        self.argv.append(args)
        if args[0] == "apply":
            assert "--server-side" in args and args[-2:] == ("-f", "-")
            for obj in json.loads(input or "")["items"]:
                obj = dict(obj)
                if "stringData" in obj:
                    data = obj.pop("stringData")
                    obj["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
                md = obj["metadata"]
                self.objects[(obj["kind"], md.get("namespace"), md["name"])] = obj
            return 0, "applied", ""
        if args[:2] == ("get", "secret"):
            ns, name = args[3], args[4]
            obj = self.objects.get(("Secret", ns, name))
            return 0, json.dumps(obj) if obj else "", ""
        return 1, "", f"unexpected kubectl {args}"

    def kinds(self) -> list[tuple[str, str | None, str]]:
        return sorted(self.objects, key=lambda k: (k[0], k[1] or "", k[2]))


def _prepare(kubectl, **overrides):
    args = {
        "keys_namespace": "ecs-operator",
        "namespace": "default",
        "access_key_id": "AKIALOCALDEV",
        "user": "ecs-dev",
        "new_secret": lambda: "generated-secret-0123456789",
    }
    return dev_api.prepare(kubectl, **{**args, **overrides})


def test_first_run_creates_the_namespaces_the_key_and_its_users_rbac():
    kubectl = FakeKubectl()
    key, created = _prepare(kubectl)
    assert created
    assert (key.access_key_id, key.secret, key.namespace, key.user, key.account_id) == (
        "AKIALOCALDEV",
        "generated-secret-0123456789",
        "default",
        "ecs-dev",
        "123456789012",
    )
    secret_name = keys.secret_name("AKIALOCALDEV")
    binding = f"{dev_api.ROLE}-{dev_api.digest('ecs-dev', 8)}"
    assert kubectl.kinds() == [
        ("ClusterRole", None, dev_api.ROLE),
        ("Namespace", None, "default"),
        ("Namespace", None, "ecs-operator"),
        ("RoleBinding", "default", binding),
        ("Secret", "ecs-operator", secret_name),
    ]
    # the Secret is an access key the endpoint's KeyStore reads back as this key
    stored = kubectl.objects[("Secret", "ecs-operator", secret_name)]
    assert stored["type"] == keys.SECRET_TYPE and stored["metadata"]["labels"][keys.LABEL] == "true"
    assert keys.from_secret(stored) == key
    # the key's user may act in its namespace only, through the ClusterRole
    rb = kubectl.objects[("RoleBinding", "default", binding)]
    assert rb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": dev_api.ROLE}
    assert rb["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "ecs-dev"}]
    assert kubectl.objects[("ClusterRole", None, dev_api.ROLE)]["rules"] == dev_api.USER_RULES
    # the secret travels on stdin only, never in a command line
    assert not any("generated-secret" in " ".join(a) for a in kubectl.argv)


def test_later_runs_reuse_the_key_and_its_secret():
    kubectl = FakeKubectl()
    first, _ = _prepare(kubectl)
    again, created = _prepare(kubectl, new_secret=lambda: "another-secret-0123456789")
    assert not created and again == first
    assert again.secret == "generated-secret-0123456789"


def test_a_key_of_another_namespace_is_not_taken_over():
    kubectl = FakeKubectl()
    _prepare(kubectl, namespace="team-a")
    with pytest.raises(RuntimeError, match="acts in namespace team-a, not default"):
        _prepare(kubectl, namespace="default")


def test_an_invalid_key_is_refused_before_anything_is_stored():
    kubectl = FakeKubectl()
    with pytest.raises(RuntimeError, match="account id"):
        _prepare(kubectl, account_id="42")
    assert not [k for k in kubectl.objects if k[0] == "Secret"]


def test_kubectl_failures_are_errors():
    def broken(*args: str, input: str | None = None) -> tuple[int, str, str]:
        return 1, "", "connection refused"

    with pytest.raises(RuntimeError, match="connection refused"):
        _prepare(broken)


def test_user_rules_cover_what_the_operations_touch_and_nothing_cluster_wide():
    granted = {(g, r) for rule in dev_api.USER_RULES for g in rule["apiGroups"] for r in rule["resources"]}
    for kind in ("ecsclusters", "taskdefinitions", "ecsservices", "ecstasks", "capacityproviders"):
        assert ("ecs.seed.dev", kind) in granted
    assert ("apps", "controllerrevisions") in granted and ("", "configmaps") in granted
    assert ("", "secrets") not in granted, "a key's user never needs Secrets"
    assert not any("*" in str(rule) for rule in dev_api.USER_RULES)
    rb = dev_api.rbac_manifests("team-a", "alice")[1]
    assert rb["kind"] == "RoleBinding" and rb["metadata"]["namespace"] == "team-a"


def test_the_printed_environment_points_ecs_clients_at_the_endpoint():
    assert dev_api.env_lines("AKIALOCALDEV", "s3cret-value", "eu-west-1", "http://127.0.0.1:4566") == [
        "export AWS_ACCESS_KEY_ID=AKIALOCALDEV",
        "export AWS_SECRET_ACCESS_KEY=s3cret-value",
        "export AWS_REGION=eu-west-1",
        "export AWS_DEFAULT_REGION=eu-west-1",
        "export AWS_ENDPOINT_URL_ECS=http://127.0.0.1:4566",
    ]


def test_without_a_running_local_cluster_it_says_how_to_start_one(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ECS_OPERATOR_CACHE", str(tmp_path))
    assert dev_api.main(["--name", "nowhere"]) == 1
    err = capsys.readouterr().err
    assert "ecs-operator dev cluster up --name nowhere" in err


def test_dev_api_is_a_dev_subcommand():
    from ecs_operator.cli import build_parser

    args = build_parser().parse_args(["dev", "api", "--port", "4567"])
    assert (args.what, args.rest) == ("api", ["--port", "4567"])
    parsed = dev_api._parser().parse_args(args.rest)
    assert (parsed.port, parsed.namespace, parsed.access_key_id, parsed.operator) == (
        4567,
        "default",
        "AKIALOCALDEV",
        False,
    )
