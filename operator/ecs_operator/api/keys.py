"""Access keys: Kubernetes Secrets of type ``ecs.seed.dev/access-key`` labelled
``ecs.seed.dev/access-key=true`` in the endpoint's namespace.

Data: ``accessKeyId`` and ``secretAccessKey`` (whatever the admin chooses), ``namespace`` (the
namespace the key acts in: the ECS account), ``accountId`` (12 digits, in every ARN), ``user``
and optional ``groups`` (comma-separated): the Kubernetes identity the endpoint impersonates, so
Kubernetes RBAC decides what the key may do. The Secret's name is derived from the key id
(:func:`secret_name`); a hand-made Secret of another name is found by its label.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .. import GROUP
from ..translate.names import digest, dns_label

SECRET_TYPE = f"{GROUP}/access-key"
LABEL = f"{GROUP}/access-key"
DEFAULT_ACCOUNT = "123456789012"
_ACCOUNT = re.compile(r"^[0-9]{12}$")
_KEY_ID = re.compile(r"^[\x21-\x7e]{1,128}$")  # printable, no spaces: it travels in the Credential scope


class SecretReader(Protocol):
    def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> dict | None: ...

    def list_(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        *,
        labels: dict[str, str] | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict]: ...


@dataclass(frozen=True)
class AccessKey:
    access_key_id: str
    secret: str = field(repr=False)
    namespace: str
    account_id: str
    user: str
    groups: tuple[str, ...] = ()


def validate(key: AccessKey) -> str | None:
    """Why ``key`` cannot be stored (None: it can)."""
    if not _KEY_ID.match(key.access_key_id) or "/" in key.access_key_id:
        return "the access key id must be 1-128 printable characters without spaces or '/'"
    if len(key.secret) < 8:
        return "the secret access key must be at least 8 characters"
    if not _ACCOUNT.match(key.account_id):
        return "the account id must be 12 digits"
    if not key.namespace or not key.user:
        return "a namespace and a user are required"
    return None


def secret_name(access_key_id: str) -> str:
    return f"ecs-access-key-{dns_label(access_key_id, limit=40)}-{digest(access_key_id, 8)}"


def manifest(key: AccessKey, namespace: str) -> dict[str, Any]:
    """The Secret holding ``key`` in ``namespace`` (the endpoint's namespace)."""
    data = {
        "accessKeyId": key.access_key_id,
        "secretAccessKey": key.secret,
        "namespace": key.namespace,
        "accountId": key.account_id,
        "user": key.user,
    }
    if key.groups:
        data["groups"] = ",".join(key.groups)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": SECRET_TYPE,
        "metadata": {
            "name": secret_name(key.access_key_id),
            "namespace": namespace,
            "labels": {LABEL: "true", "app.kubernetes.io/managed-by": "ecs-operator"},
        },
        "stringData": data,
    }


def from_secret(obj: dict[str, Any]) -> AccessKey | None:
    """The key a Secret holds, or None when it is not a complete access key."""
    raw = obj.get("data") or {}
    try:
        data = {k: base64.b64decode(v).decode() for k, v in raw.items()}
    except (ValueError, UnicodeDecodeError):
        return None
    if not all(data.get(k) for k in ("accessKeyId", "secretAccessKey", "namespace", "user")):
        return None
    groups = tuple(g.strip() for g in data.get("groups", "").split(",") if g.strip())
    return AccessKey(
        access_key_id=data["accessKeyId"],
        secret=data["secretAccessKey"],
        namespace=data["namespace"],
        account_id=data.get("accountId") or DEFAULT_ACCOUNT,
        user=data["user"],
        groups=groups,
    )


class KeyStore:
    """Looks keys up by id in ``namespace``, caching answers (found or not) for ``ttl``
    seconds, so a burst of requests does not read the Secret each time and a revoked key
    stops working within ``ttl``."""

    def __init__(
        self,
        reader: SecretReader,
        namespace: str,
        *,
        ttl: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._reader = reader
        self._namespace = namespace
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, AccessKey | None]] = {}
        self._lock = threading.Lock()

    def lookup(self, access_key_id: str) -> AccessKey | None:
        now = self._clock()
        with self._lock:
            hit = self._cache.get(access_key_id)
            if hit is not None and now - hit[0] < self._ttl:
                return hit[1]
        found = self._read(access_key_id)
        with self._lock:
            if len(self._cache) > 10_000:  # unknown ids must not grow it without bound
                self._cache.clear()
            self._cache[access_key_id] = (now, found)
        return found

    def _read(self, access_key_id: str) -> AccessKey | None:
        obj = self._reader.get("v1", "Secret", self._namespace, secret_name(access_key_id))
        candidates = [obj] if obj is not None else []
        candidates += self._reader.list_("v1", "Secret", self._namespace, labels={LABEL: "true"}) if not obj else []
        for candidate in candidates:
            if candidate.get("type") != SECRET_TYPE:
                continue
            key = from_secret(candidate)
            if key is not None and key.access_key_id == access_key_id:
                return key
        return None
