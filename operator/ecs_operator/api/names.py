"""ECS names <-> Kubernetes object names.

ECS allows letters, digits, hyphens and underscores, up to 255 characters, for clusters,
services, families and capacity providers. A Kubernetes object name must be a lower-case
DNS-1123 label here (it names Deployments and labels too). A name that already is one is used
as it is; any other is lower-cased, sanitised, cut and suffixed with a hash of the exact ECS
name, so ``Web`` and ``web`` never collide. The ECS name itself is always kept in the object's
spec (``clusterName``, ``serviceName``, ``family``, ``name``) and answered from there, exactly
as given.
"""

from __future__ import annotations

import re

from ..translate.names import digest, dns_label

ECS_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
ECS_NAME_RULE = "Up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed."
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_HASH = 8


def is_ecs_name(name: str) -> bool:
    return ECS_NAME.match(name) is not None


def object_name(ecs_name: str) -> str:
    """The Kubernetes object name for an ECS name (stable; see the module's docstring)."""
    if _LABEL.match(ecs_name):
        return ecs_name
    base = dns_label(ecs_name, limit=63 - _HASH - 1, fallback="x")
    return f"{base}-{digest(ecs_name, _HASH)}"
