"""Account settings on an in-memory Kubernetes: accepted, kept in a ConfigMap of the key's
namespace, echoed as ECS echoes them; every answer fits its output shape."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from ecs_operator.api.operations import account

from .api_calls import call, fails
from .api_fakes import FakeKube, context

ROOT = "arn:aws:iam::123456789012:root"
ROLE = "arn:aws:iam::123456789012:role/deployer"


@pytest.fixture
def kube():
    return FakeKube()


@pytest.fixture
def ctx(kube):
    return context(kube)


def stored(kube) -> dict:
    cm = kube.get("v1", "ConfigMap", "team-a", account.CONFIGMAP)
    return json.loads(cm["data"][account.DATA_KEY]) if cm else {}


@pytest.mark.parametrize(
    "op,params,setting",
    [
        (
            "PutAccountSetting",
            {"name": "containerInsights", "value": "enhanced"},
            {"name": "containerInsights", "value": "enhanced", "principalArn": ROOT, "type": "user"},
        ),
        (
            "PutAccountSetting",
            {"name": "awsvpcTrunking", "value": "enabled", "principalArn": ROLE},
            {"name": "awsvpcTrunking", "value": "enabled", "principalArn": ROLE, "type": "user"},
        ),
        (
            "PutAccountSettingDefault",
            {"name": "fargateTaskRetirementWaitPeriod", "value": "14"},
            {"name": "fargateTaskRetirementWaitPeriod", "value": "14", "principalArn": ROOT, "type": "user"},
        ),
    ],
)
def test_put_echoes_and_stores(ctx, kube, op, params, setting):
    assert call(ctx, op, **params)["setting"] == setting
    assert stored(kube) == {setting["principalArn"]: {setting["name"]: setting["value"]}}
    listed = call(ctx, "ListAccountSettings", principalArn=setting["principalArn"])["settings"]
    assert listed == [setting]


@pytest.mark.parametrize(
    "op,params",
    [
        ("PutAccountSetting", {"name": "containerInsights", "value": "on"}),
        ("PutAccountSetting", {"name": "fargateTaskRetirementWaitPeriod", "value": "3"}),
        ("PutAccountSettingDefault", {"name": "tagResourceAuthorization", "value": "enabled"}),
        ("PutAccountSetting", {"name": "awsvpcTrunking", "value": "enabled", "principalArn": "not-an-arn"}),
        (
            "PutAccountSetting",
            {"name": "awsvpcTrunking", "value": "enabled", "principalArn": "arn:aws:iam::999999999999:root"},
        ),
        ("ListAccountSettings", {"value": "enabled"}),
        ("ListAccountSettings", {"maxResults": 11}),
        ("DeleteAccountSetting", {"name": "awsvpcTrunking", "principalArn": "arn:aws:s3:::bucket"}),
    ],
)
def test_refusals(ctx, kube, op, params):
    fails(ctx, op, "InvalidParameterException", **params)
    assert stored(kube) == {}


def test_unknown_setting_names_are_refused_by_the_model(ctx):
    fails(ctx, "PutAccountSetting", "InvalidParameterException", name="noSuchSetting", value="x")


def test_effective_settings_layer_principal_default_and_ecs(ctx):
    call(ctx, "PutAccountSettingDefault", name="containerInsights", value="enabled")
    call(ctx, "PutAccountSetting", name="containerInsights", value="disabled", principalArn=ROLE)
    call(ctx, "PutAccountSettingDefault", name="awsvpcTrunking", value="enabled")
    got = {
        s["name"]: (s["value"], s["type"], s["principalArn"])
        for s in call(ctx, "ListAccountSettings", principalArn=ROLE, effectiveSettings=True, maxResults=10)["settings"]
    }
    assert got["containerInsights"] == ("disabled", "user", ROLE)  # the principal's own
    assert got["awsvpcTrunking"] == ("enabled", "user", ROLE)  # the account default
    assert got["serviceLongArnFormat"] == ("enabled", "aws_managed", ROLE)  # ECS's default
    # without effectiveSettings: only what the principal set
    assert [s["name"] for s in call(ctx, "ListAccountSettings", principalArn=ROLE)["settings"]] == ["containerInsights"]
    # filters
    only = call(ctx, "ListAccountSettings", name="containerInsights", value="enabled", effectiveSettings=True)
    assert only["settings"] == [{"name": "containerInsights", "value": "enabled", "principalArn": ROOT, "type": "user"}]


def test_effective_settings_page_by_ten(ctx):
    first = call(ctx, "ListAccountSettings", effectiveSettings=True)
    second = call(ctx, "ListAccountSettings", effectiveSettings=True, nextToken=first["nextToken"])
    names = [s["name"] for s in first["settings"] + second["settings"]]
    assert len(first["settings"]) == 10 and "nextToken" not in second
    assert names == sorted(account.DEFAULTS)


def test_delete_removes_and_echoes(ctx, kube):
    call(ctx, "PutAccountSetting", name="awsvpcTrunking", value="enabled", principalArn=ROLE)
    out = call(ctx, "DeleteAccountSetting", name="awsvpcTrunking", principalArn=ROLE)["setting"]
    assert out == {"name": "awsvpcTrunking", "value": "enabled", "principalArn": ROLE, "type": "user"}
    assert stored(kube) == {}
    again = call(ctx, "DeleteAccountSetting", name="awsvpcTrunking", principalArn=ROLE)["setting"]
    assert (again["value"], again["type"]) == ("disabled", "aws_managed")


def test_concurrent_writers_lose_nothing(ctx, kube):
    """Eight clients put eight settings at once: every one is kept (resourceVersion preconditions
    and retries)."""
    gate = threading.Barrier(4)
    names = list(account.DEFAULTS)[:8]

    def put(name):
        if names.index(name) < 4:
            gate.wait()
        value = account.DEFAULTS[name][1][-1]
        return call(ctx, "PutAccountSetting", name=name, value=value)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, names))
    assert sorted(stored(kube)[ROOT]) == sorted(names)
