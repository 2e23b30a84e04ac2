"""Stopping a pod whose node is lost: its DisruptionTarget condition and a finalizer, deletion
with a grace period, then release (grace period 0, the finalizer removed: a lost node's kubelet
never confirms). Strategic merge patches: the pod's other conditions and finalizers stay, a pod
that is gone is never re-created, and the pod's uid is a precondition of every call (a newer pod
of the same name is left alone)."""

from __future__ import annotations

from typing import Any

from . import Access, ApiError, path

#: Errors come back with their status (a pod gone or replaced is fine; the rest is retried by
#: the caller's next look at the node).
_API = Access(retryable=False)
_SMP = "application/strategic-merge-patch+json"


def _patch(namespace: str, name: str, patch: dict[str, Any], subresource: str | None = None) -> None:
    _API._call(
        "patch",
        "PATCH",
        path("v1", "Pod", namespace, name, subresource),
        body=patch,
        query=[("fieldManager", _API.field_manager)],
        content_type=_SMP,
    )


def _delete(namespace: str, name: str, uid: str, grace_seconds: int) -> None:
    body: dict[str, Any] = {"propagationPolicy": "Background", "gracePeriodSeconds": grace_seconds}
    if uid:
        body["preconditions"] = {"uid": uid}
    _API._call("delete", "DELETE", path("v1", "Pod", namespace, name), body=body)


def _gone_is_fine(step, *args) -> bool:
    """Run one step; False when the pod is gone or is another one now (404, 409)."""
    try:
        step(*args)
    except ApiError as e:
        if e.status in (404, 409):
            return False
        raise
    return True


def stop(namespace: str, name: str, uid: str, condition: dict[str, Any], finalizer: str, grace_seconds: int) -> None:
    """Set ``condition`` on the pod's status, add ``finalizer``, delete it with ``grace_seconds``."""
    md: dict[str, Any] = {"uid": uid} if uid else {}
    if not _gone_is_fine(_patch, namespace, name, {"metadata": md, "status": {"conditions": [condition]}}, "status"):
        return
    try:
        if not _gone_is_fine(_patch, namespace, name, {"metadata": {**md, "finalizers": [finalizer]}}):
            return
    except ApiError as e:
        if e.status != 422:
            raise
        # "no new finalizers can be added if the object is being deleted": the pod is already
        # stopping (deleted between our read and now); a lost node never confirms it: it goes now
        _gone_is_fine(_delete, namespace, name, uid, 0)
        return
    _gone_is_fine(_delete, namespace, name, uid, grace_seconds)


def release(namespace: str, name: str, uid: str, finalizer: str) -> None:
    """Delete the pod with grace period 0 and drop ``finalizer``: it goes now."""
    md: dict[str, Any] = {"uid": uid} if uid else {}
    if _gone_is_fine(_delete, namespace, name, uid, 0):
        _gone_is_fine(_patch, namespace, name, {"metadata": {**md, "$deleteFromPrimitiveList/finalizers": [finalizer]}})
