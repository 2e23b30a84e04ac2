"""Account settings: ListAccountSettings, PutAccountSetting, PutAccountSettingDefault and
DeleteAccountSetting, accepted and echoed.

Nothing on the cluster acts on these settings (ARNs are always long, Container Insights and
Fargate's knobs have no Kubernetes counterpart); tools such as Terraform's ``aws_ecs_account_setting_default``
set and read them back, so they are kept as ECS keeps them: per principal, in the ConfigMap
``ecs-account-settings`` of the key's namespace (``data.settings``: JSON
``{principalArn: {name: value}}``), written with the resourceVersion precondition so concurrent
writers do not lose each other's settings.

ECS behaviours kept: a request that names no principal acts for the caller, which is the
account's root here (``arn:aws:iam::<account>:root``: the endpoint knows no IAM users), so
PutAccountSetting without a principal and PutAccountSettingDefault both set the account's
default; ``effectiveSettings`` answers every setting (the principal's, else the account default,
else ECS's own default, ``type`` ``user`` or ``aws_managed``); without it only what the principal
set; ``value`` filters only with ``name``; values outside a setting's allowed ones are
InvalidParameterException; ``maxResults`` 1..10 with ``nextToken``.
"""

from __future__ import annotations

import json
from typing import Any

from ...k8s import ApiError
from ..context import RequestContext
from ..errors import client_error, invalid_parameter
from . import operation, paginate

CONFIGMAP = "ecs-account-settings"
DATA_KEY = "settings"
PAGE_MAX = 10
_RETRIES = 10

#: ECS's default value of each setting and the values it accepts
DEFAULTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "serviceLongArnFormat": ("enabled", ("enabled", "disabled")),
    "taskLongArnFormat": ("enabled", ("enabled", "disabled")),
    "containerInstanceLongArnFormat": ("enabled", ("enabled", "disabled")),
    "awsvpcTrunking": ("disabled", ("enabled", "disabled")),
    "containerInsights": ("disabled", ("enabled", "disabled", "enhanced")),
    "fargateFIPSMode": ("disabled", ("enabled", "disabled")),
    "tagResourceAuthorization": ("on", ("on", "off")),
    "fargateTaskRetirementWaitPeriod": ("7", ("0", "7", "14")),
    "guardDutyActivate": ("off", ("on", "off")),
    "defaultLogDriverMode": ("non-blocking", ("blocking", "non-blocking")),
    "fargateEventWindows": ("disabled", ("enabled", "disabled")),
}

Store = dict[str, dict[str, str]]


def root(ctx: RequestContext) -> str:
    return f"arn:aws:iam::{ctx.account}:root"


def principal(ctx: RequestContext, value: str | None) -> str:
    """The principal a request names (none: the caller, the account's root)."""
    if not value:
        return root(ctx)
    parts = value.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "iam" or not parts[5]:
        raise invalid_parameter(f"principalArn {value!r} is not an IAM user, role or root ARN.")
    if parts[4] != ctx.account:
        raise invalid_parameter(f"principalArn {value!r} is not of account {ctx.account}.")
    return value


def _check_value(name: str, value: str) -> None:
    allowed = DEFAULTS[name][1]
    if value not in allowed:
        raise invalid_parameter(f"The value '{value}' is not valid for {name}; use one of: {', '.join(allowed)}.")


def _read(ctx: RequestContext) -> tuple[dict[str, Any] | None, Store]:
    cm = ctx.kube.get("v1", "ConfigMap", ctx.namespace, CONFIGMAP)
    raw = ((cm or {}).get("data") or {}).get(DATA_KEY) or "{}"
    try:
        store = json.loads(raw)
    except ValueError:
        store = {}
    return cm, store if isinstance(store, dict) else {}


def _write(ctx: RequestContext, cm: dict[str, Any] | None, store: Store) -> bool:
    """Store the settings (only over the ConfigMap as read); False when someone wrote first."""
    data = {DATA_KEY: json.dumps(store, sort_keys=True)}
    try:
        if cm is None:
            ctx.kube.create(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {
                        "name": CONFIGMAP,
                        "namespace": ctx.namespace,
                        "labels": {"app.kubernetes.io/managed-by": "ecs-operator"},
                    },
                    "data": data,
                }
            )
        else:
            ctx.kube.replace({**cm, "data": {**(cm.get("data") or {}), **data}})
    except ApiError as e:
        if e.status == 409:
            return False
        raise
    return True


def _change(ctx: RequestContext, who: str, name: str, value: str | None) -> str | None:
    """Set (``value``) or remove (None) a principal's setting; the value it had."""
    for _ in range(_RETRIES):
        cm, store = _read(ctx)
        mine = dict(store.get(who) or {})
        before = mine.get(name)
        if value is None:
            mine.pop(name, None)
        else:
            mine[name] = value
        if mine == (store.get(who) or {}):
            return before
        updated = {**store, who: mine} if mine else {k: v for k, v in store.items() if k != who}
        if _write(ctx, cm, updated):
            return before
    raise client_error("The account settings are being changed concurrently; try again.")


def _setting(name: str, value: str, who: str, kind: str = "user") -> dict[str, Any]:
    return {"name": name, "value": value, "principalArn": who, "type": kind}


@operation("PutAccountSetting")
def put_account_setting(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    who = principal(ctx, params.get("principalArn"))
    _check_value(params["name"], params["value"])
    _change(ctx, who, params["name"], params["value"])
    return {"setting": _setting(params["name"], params["value"], who)}


@operation("PutAccountSettingDefault")
def put_account_setting_default(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _check_value(params["name"], params["value"])
    _change(ctx, root(ctx), params["name"], params["value"])
    return {"setting": _setting(params["name"], params["value"], root(ctx))}


def _effective(store: Store, who: str, account_root: str, name: str) -> dict[str, Any]:
    for source in (who, account_root):
        value = (store.get(source) or {}).get(name)
        if value is not None:
            return _setting(name, value, who)
    return _setting(name, DEFAULTS[name][0], who, "aws_managed")


@operation("DeleteAccountSetting")
def delete_account_setting(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    who = principal(ctx, params.get("principalArn"))
    name = params["name"]
    before = _change(ctx, who, name, None)
    if before is not None:
        return {"setting": _setting(name, before, who)}
    _, store = _read(ctx)
    return {"setting": _effective(store, who, root(ctx), name)}


@operation("ListAccountSettings")
def list_account_settings(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    who = principal(ctx, params.get("principalArn"))
    name, value = params.get("name"), params.get("value")
    if value is not None and name is None:
        raise invalid_parameter("value can be used only together with name.")
    limit = params.get("maxResults")
    if limit is not None and not 1 <= limit <= PAGE_MAX:
        raise invalid_parameter(f"maxResults must be between 1 and {PAGE_MAX}.")
    _, store = _read(ctx)
    if params.get("effectiveSettings"):
        found = [_effective(store, who, root(ctx), n) for n in DEFAULTS]
    else:
        found = [_setting(n, v, who) for n, v in (store.get(who) or {}).items() if n in DEFAULTS]
    found = sorted(
        (s for s in found if name in (None, s["name"]) and value in (None, s["value"])), key=lambda s: s["name"]
    )
    page, token = paginate(found, lambda s: s["name"], params, PAGE_MAX)
    return {"settings": page, "nextToken": token}
