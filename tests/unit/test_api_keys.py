"""Access keys in Secrets: the manifest `ecs-operator api keys create` writes, reading it back,
the cache, and the secret kept out of reprs and output."""

from __future__ import annotations

import base64

import pytest
from ecs_operator.api import keys
from ecs_operator.cli import main

from .api_fakes import FakeKube

KEY = keys.AccessKey("AKIA_TEAM_A", "s3cr3t-value-123", "team-a", "123456789012", "alice", ("devs", "ops"))


def _stored(manifest):
    """The Secret as the API server stores it (stringData -> base64 data)."""
    out = {k: v for k, v in manifest.items() if k != "stringData"}
    out["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in manifest["stringData"].items()}
    return out


def test_manifest_round_trip():
    m = keys.manifest(KEY, "ecs-operator")
    assert m["type"] == "ecs.seed.dev/access-key" and m["metadata"]["labels"]["ecs.seed.dev/access-key"] == "true"
    assert m["metadata"]["namespace"] == "ecs-operator" and len(m["metadata"]["name"]) <= 63
    assert keys.from_secret(_stored(m)) == KEY
    assert "s3cr3t" not in repr(KEY)


@pytest.mark.parametrize(
    "change,problem",
    [
        ({}, None),
        ({"access_key_id": "has space"}, "access key id"),
        ({"access_key_id": "a/b"}, "access key id"),
        ({"secret": "short"}, "secret"),
        ({"account_id": "12345"}, "12 digits"),
        ({"user": ""}, "user"),
    ],
)
def test_validate(change, problem):
    import dataclasses

    got = keys.validate(dataclasses.replace(KEY, **change))
    assert (got is None) if problem is None else (problem in got)


def test_store_finds_keys_by_name_or_label_and_caches():
    kube = FakeKube()
    now = [0.0]
    store = keys.KeyStore(kube, "ecs-operator", ttl=10, clock=lambda: now[0])
    assert store.lookup("AKIA_TEAM_A") is None
    kube.create(_stored(keys.manifest(KEY, "ecs-operator")))
    assert store.lookup("AKIA_TEAM_A") is None  # cached "unknown" until the ttl passes
    now[0] = 11
    assert store.lookup("AKIA_TEAM_A") == KEY
    other = keys.AccessKey("OTHER", "another-secret", "team-b", "123456789012", "bob")
    hand_made = _stored(keys.manifest(other, "ecs-operator"))
    hand_made["metadata"]["name"] = "bobs-key"
    kube.create(hand_made)
    assert store.lookup("OTHER") == other
    plain = _stored(keys.manifest(other, "ecs-operator"))
    plain["type"] = "Opaque"
    assert keys.from_secret(plain) == other  # the type is checked by the store, not the parser


def test_cli_keys_create_prints_nothing_secret(monkeypatch, capsys):
    applied = []
    from ecs_operator import k8s

    monkeypatch.setattr(k8s, "apply", lambda obj, **kw: applied.append(obj) or obj)
    rc = main(
        [
            "api",
            "keys",
            "create",
            "--access-key-id",
            "AKIA_TEAM_A",
            "--secret",
            "s3cr3t-value-123",
            "--namespace",
            "team-a",
            "--user",
            "alice",
            "--group",
            "devs",
            "--group",
            "ops",
            "--keys-namespace",
            "ecs-operator",
        ]
    )
    out = capsys.readouterr()
    assert rc == 0 and "s3cr3t" not in out.out + out.err
    assert keys.from_secret(_stored(applied[0])) == KEY
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("too\n"))
    assert (
        main(["api", "keys", "create", "--access-key-id", "X", "--secret-stdin", "--namespace", "n", "--user", "u"])
        == 2
    )
