"""What an operation gets besides its input: who asks, where, and as which Kubernetes identity."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class KubeAccess(Protocol):
    """The ``ecs_operator.k8s`` functions acting as the key's Kubernetes identity
    (``k8s.Access(user, groups, retryable=False)``); errors are ``k8s.ApiError`` (a 403 becomes
    AccessDeniedException in the server)."""

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

    def create(self, obj: dict, *, canonical: bool = False) -> dict: ...

    def replace(self, obj: dict) -> dict: ...

    def apply(self, obj: dict, *, force: bool = True, subresource: str | None = None) -> dict: ...

    def merge_patch(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        name: str,
        patch: dict,
        subresource: str | None = None,
    ) -> dict: ...

    def delete(
        self, api_version: str, kind: str, namespace: str | None, name: str, propagation: str = "Background"
    ) -> None: ...


@dataclass
class RequestContext:
    """``region`` from the request's SigV4 credential scope, ``account`` and ``namespace`` from
    its key, ``kube`` the key's identity, ``now`` the request's time (UTC)."""

    region: str
    account: str
    namespace: str
    kube: KubeAccess
    now: datetime
    #: how long an operation may wait for the operator (RegisterTaskDefinition), in seconds
    wait_timeout: float = 20.0
