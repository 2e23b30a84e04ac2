"""CapacityProvider: an EC2-style capacity provider is a Kubernetes node pool.

``spec.kubernetes.nodeSelector`` and ``tolerations`` say which nodes form the pool; tasks placed
on the provider get them. FARGATE and FARGATE_SPOT are built in (virtual nodes) and cannot be
created, as in ECS.
"""

from __future__ import annotations

import re

import kopf
from pydantic import ValidationError

from .. import API_VERSION, GROUP, VERSION, k8s
from ..domain.capacity import is_virtual
from ..domain.membership import selected
from ..models.generated import CapacityProviderSpec
from ..status import condition, merge_conditions, now_iso
from .taskdefinition import validation_message

API = API_VERSION
REFRESH_SECONDS = 30
_RESERVED = re.compile(r"^(aws|ecs|fargate)", re.IGNORECASE)


def provider_name(body: dict) -> str:
    return (body.get("spec") or {}).get("name") or body["metadata"]["name"]


def pool(body: dict) -> tuple[dict[str, str], list[dict]]:
    k = (body.get("spec") or {}).get("kubernetes") or {}
    return dict(k.get("nodeSelector") or {}), list(k.get("tolerations") or [])


def refresh(body: dict) -> dict:
    md = body["metadata"]
    generation = md.get("generation")
    now = now_iso()
    name = provider_name(body)
    try:
        CapacityProviderSpec.model_validate(dict(body.get("spec") or {}))
        if _RESERVED.match(name):
            raise ValueError(
                f"name: The capacity provider name '{name}' is invalid: it cannot be prefixed with "
                "'aws', 'ecs' or 'fargate'."
            )
    except (ValidationError, ValueError) as e:
        msg = validation_message(e) if isinstance(e, ValidationError) else str(e)
        return {
            "observedGeneration": generation,
            "status": "INACTIVE",
            "conditions": merge_conditions(
                (body.get("status") or {}).get("conditions"),
                [condition("Ready", False, "InvalidParameterException", msg, generation, now)],
            ),
        }
    selector, _ = pool(body)
    nodes = [n for n in k8s.list_("v1", "Node", None) if not is_virtual(n) and selected(n, selector)]
    return {
        "observedGeneration": generation,
        "status": "ACTIVE",
        "nodes": len(nodes),
        "conditions": merge_conditions(
            (body.get("status") or {}).get("conditions"),
            [
                condition(
                    "Ready",
                    True,
                    "Active",
                    f"capacity provider {name}: {len(nodes)} nodes in the pool",
                    generation,
                    now,
                )
            ],
        ),
    }


@kopf.on.resume(GROUP, VERSION, "capacityproviders")
@kopf.on.create(GROUP, VERSION, "capacityproviders")
@kopf.on.update(GROUP, VERSION, "capacityproviders", field="spec")
def provider_changed(body, patch, **_):
    patch.setdefault("status", {}).update(refresh(dict(body)))


@kopf.timer(GROUP, VERSION, "capacityproviders", interval=REFRESH_SECONDS, idle=REFRESH_SECONDS / 2)
def provider_nodes(body, patch, **_):
    status = refresh(dict(body))
    if (body.get("status") or {}).get("nodes") != status.get("nodes"):
        patch.setdefault("status", {}).update(status)


def pools_for(namespace: str, strategy: list | None) -> dict[str, tuple[dict, list]]:
    """Node pools (nodeSelector, tolerations) of the capacity providers a strategy names that
    exist as CapacityProviders (FARGATE / FARGATE_SPOT need none)."""
    out = {}
    for item in strategy or []:
        name = item.capacityProvider
        if name and name not in out:
            obj = find(namespace, name)
            if obj is not None:
                out[name] = pool(obj)
    return out


def find(namespace: str, name: str) -> dict | None:
    """The CapacityProvider whose ECS name (spec.name or object name) is ``name``."""
    obj = k8s.get(API, "CapacityProvider", namespace, name)
    if obj is not None and provider_name(obj) == name:
        return obj
    for obj in k8s.list_(API, "CapacityProvider", namespace):
        if provider_name(obj) == name:
            return obj
    return None
