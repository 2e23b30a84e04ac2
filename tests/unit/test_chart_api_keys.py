"""The chart's ECS API key identities (api.keyIdentities) and endpoint settings: the key users'
ClusterRole has exactly the rules `ecs-operator dev api` grants (one definition of what ECS
operations need), each identity gets a RoleBinding in its namespace only and may be
impersonated, the endpoint gets ECS_API_REGISTER_TIMEOUT_SECONDS; the schema stays closed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from ecs_operator.dev.api import USER_RULES

CHART = Path(__file__).resolve().parents[2] / "charts" / "ecs-operator"
API = ["--set", "api.enabled=true", "--set", "api.tls.secretName=api-tls"]


@pytest.fixture(scope="module")
def helm() -> str:
    from ecs_operator.dev.cluster import bin_dir

    exe = bin_dir() / "helm"
    assert exe.exists(), f"no helm in {exe.parent}"
    return str(exe)


def render(helm: str, *args: str, release: str = "ecs-operator") -> subprocess.CompletedProcess:
    return subprocess.run(
        [helm, "template", release, str(CHART), "--namespace", "ecs-system", *args],
        text=True,
        capture_output=True,
        timeout=120,
    )


def docs(helm: str, *args: str, release: str = "ecs-operator") -> list[dict]:
    proc = render(helm, *args, release=release)
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def find(all_docs: list[dict], kind: str, name: str) -> dict:
    (doc,) = [d for d in all_docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


IDENTITIES = [
    "--set",
    "api.keyIdentities[0].namespace=team-a",
    "--set",
    "api.keyIdentities[0].user=alice",
    "--set",
    "api.keyIdentities[1].namespace=team-b",
    "--set",
    "api.keyIdentities[1].user=bob",
]


def test_key_identities_get_the_key_user_role_in_their_namespace_only(helm):
    out = docs(helm, *API, *IDENTITIES, "--set", "api.impersonate.users={alice,carol}")
    role = find(out, "ClusterRole", "ecs-operator-api-key-user")
    assert role["rules"] == USER_RULES
    bindings = [d for d in out if d["kind"] == "RoleBinding" and d["roleRef"]["name"] == "ecs-operator-api-key-user"]
    assert sorted((b["metadata"]["namespace"], b["subjects"][0]["name"]) for b in bindings) == [
        ("team-a", "alice"),
        ("team-b", "bob"),
    ]
    assert all(b["roleRef"]["kind"] == "ClusterRole" and b["subjects"][0]["kind"] == "User" for b in bindings)
    # the endpoint may impersonate the listed users and the identities' users, each once
    impersonation = find(out, "ClusterRole", "ecs-operator-api")["rules"][0]
    assert impersonation["resources"] == ["users"] and impersonation["resourceNames"] == ["alice", "carol", "bob"]


def test_key_identities_alone_are_enough_to_install(helm):
    out = docs(helm, *API, *IDENTITIES)
    assert find(out, "ClusterRole", "ecs-operator-api")["rules"][0]["resourceNames"] == ["alice", "bob"]
    no_one = render(helm, *API)
    assert no_one.returncode != 0 and "api.keyIdentities" in no_one.stderr


def test_no_identities_no_key_user_rbac(helm):
    for out in (docs(helm, *API, "--set", "api.impersonate.users={alice}"), docs(helm)):
        assert not [d for d in out if "key-user" in d["metadata"]["name"]]


def test_long_release_names_keep_the_key_user_names_valid(helm):
    out = docs(helm, *API, *IDENTITIES, release="r" * 53)
    named = [d for d in out if "key-user" in d["metadata"]["name"] or "-key-user" in str(d.get("roleRef"))]
    assert len(named) == 3
    for d in named:
        assert len(d["metadata"]["name"]) <= 63, d["metadata"]["name"]
        assert len(d["metadata"]["labels"]["app.kubernetes.io/name"]) <= 63


@pytest.mark.parametrize("value,ok", [(None, True), ("5", True), ("0", False), ("60", False)])
def test_register_timeout_reaches_the_endpoint(helm, value, ok):
    args = [*API, "--set", "api.impersonate.users={alice}"]
    if value is not None:
        args += ["--set", f"api.registerTimeoutSeconds={value}"]
    proc = render(helm, *args)
    assert (proc.returncode == 0) == ok, proc.stderr
    if ok:
        out = [d for d in yaml.safe_load_all(proc.stdout) if d]
        (container,) = find(out, "Deployment", "ecs-operator-api")["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["ECS_API_REGISTER_TIMEOUT_SECONDS"] == (value or "20")


@pytest.mark.parametrize(
    "override",
    [
        "api.keyIdentities[0].namespace=team-a",  # no user
        "api.keyIdentities[0].user=alice",  # no namespace
        "api.keyIdentities[0].role=admin",  # closed
    ],
)
def test_schema_refuses_incomplete_or_unknown_identity_fields(helm, override):
    proc = render(helm, *API, "--set", override)
    assert proc.returncode != 0
