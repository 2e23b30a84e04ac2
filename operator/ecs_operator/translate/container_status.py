"""What a task's Pod reports about its containers, read as ECS reports a task's containers (pure).

The kubelet's container states (waiting / running / terminated, with their reasons) become
ECS's container ``lastStatus``, ``exitCode`` and ``reason`` wording (CannotPullContainerError,
ResourceInitializationError, OutOfMemoryError, ...); a pod the scheduler cannot place becomes a
RunTask placement failure reason (RESOURCE:MEMORY, ATTRIBUTE, ...). See docs/ecstask.md.
"""

from __future__ import annotations

import json
from typing import Any

from .. import constants

_PULL_ERRORS = {
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "RegistryUnavailable",
    "ErrImageInspect",
    "SignatureValidationFailed",
}
_CONFIG_ERRORS = {"CreateContainerConfigError"}
_CREATE_ERRORS = {
    "CreateContainerError",
    "RunContainerError",
    "ContainerCannotRun",
    "StartError",
    "PreStartHookError",
    "PostStartHookError",
}


def ecs_names(pod: dict[str, Any]) -> dict[str, str]:
    """Kubernetes container name -> ECS container name (the template's annotation)."""
    raw = (pod["metadata"].get("annotations") or {}).get(constants.CONTAINER_NAMES)
    try:
        return dict(json.loads(raw)) if raw else {}
    except (TypeError, ValueError):
        return {}


def essential(pod: dict[str, Any]) -> set[str]:
    """The Kubernetes names of the essential containers (the template's annotation; without it,
    every main container)."""
    raw = (pod["metadata"].get("annotations") or {}).get(constants.ESSENTIAL_CONTAINERS)
    try:
        return set(json.loads(raw)) if raw else {c["name"] for c in pod["spec"].get("containers", [])}
    except (TypeError, ValueError):
        return {c["name"] for c in pod["spec"].get("containers", [])}


def terminated(cs: dict[str, Any] | None) -> dict[str, Any] | None:
    """The container's exit: ``state.terminated``, or the last one of a restarted (sidecar) container."""
    if not cs:
        return None
    state = cs.get("state") or {}
    if state.get("terminated"):
        return dict(state["terminated"])
    if (cs.get("restartCount") or 0) > 0 and (cs.get("lastState") or {}).get("terminated"):
        return dict(cs["lastState"]["terminated"])
    return None


def waiting(cs: dict[str, Any] | None) -> dict[str, Any] | None:
    found = ((cs or {}).get("state") or {}).get("waiting")
    return dict(found) if found else None


def started(cs: dict[str, Any] | None) -> bool:
    state = (cs or {}).get("state") or {}
    return bool(state.get("running") or state.get("terminated"))


def started_at(cs: dict[str, Any] | None) -> str | None:
    state = (cs or {}).get("state") or {}
    for key in ("running", "terminated"):
        if state.get(key) and state[key].get("startedAt"):
            return str(state[key]["startedAt"])
    return None


def container_reason(cs: dict[str, Any] | None) -> str | None:
    """ECS's wording of why a container stopped or cannot start."""
    term = terminated(cs)
    if term:
        return _exit_reason(term)
    w = waiting(cs)
    if w:
        return _waiting_reason(w, (cs or {}).get("image", ""))
    return None


def _exit_reason(term: dict[str, Any]) -> str | None:
    r, msg = term.get("reason") or "", term.get("message") or ""
    if r == "OOMKilled":
        return "OutOfMemoryError: Container killed due to memory usage"
    if r in _CREATE_ERRORS:
        return f"CannotStartContainerError: {msg or r}"
    return None


def _waiting_reason(w: dict[str, Any], image: str) -> str | None:
    r, msg = w.get("reason") or "", w.get("message") or ""
    if r in _PULL_ERRORS:
        detail = msg or f"failed to pull image {image!r}"
        return f"CannotPullContainerError: {detail}"
    if r in _CONFIG_ERRORS:
        # ECS: "ResourceInitializationError: unable to pull secrets or registry auth: ..."
        if "secret" in msg.lower() or "configmap" in msg.lower():
            return f"ResourceInitializationError: unable to pull secrets or registry auth: {msg}"
        return f"ResourceInitializationError: {msg or r}"
    if r in _CREATE_ERRORS:
        return f"CannotStartContainerError: {msg or r}"
    return None


def start_failure(cs: dict[str, Any] | None) -> bool:
    """The container cannot start (its image cannot be pulled, its config cannot be made, ...)."""
    w = waiting(cs)
    return bool(w) and (w or {}).get("reason") in _PULL_ERRORS | _CONFIG_ERRORS | _CREATE_ERRORS


def has_probe(spec: dict[str, Any], name: str) -> bool:
    for c in spec.get("containers", []) + (spec.get("initContainers") or []):
        if c["name"] == name:  # a HEALTHY dependency target may have only its startupProbe
            return "readinessProbe" in c or "startupProbe" in c
    return False


def dependency_failure(pod: dict[str, Any], statuses: dict[str, dict[str, Any]], names: dict[str, str]) -> str:
    """Why a task whose main containers never started failed: a dependency (init) container's exit."""
    for c in pod["spec"].get("initContainers") or []:
        term = terminated(statuses.get(c["name"]))
        if term is not None and term.get("exitCode") not in (0, None):
            return (
                f"CannotStartContainerError: dependency container {names.get(c['name'], c['name'])} exited "
                f"with code {term['exitCode']}"
            )
    return "CannotStartContainerError: the task's containers did not start"


def unschedulable(pod: dict[str, Any]) -> dict[str, Any] | None:
    """The PodScheduled=False/Unschedulable condition of a pod not bound to a node."""
    if pod["spec"].get("nodeName"):
        return None
    for c in pod.get("status", {}).get("conditions") or []:
        if c.get("type") == "PodScheduled" and c.get("status") == "False" and c.get("reason") == "Unschedulable":
            return dict(c)
    return None


def placement_failure_reason(message: str) -> str:
    """ECS's RunTask failure reason for a scheduler message ("0/6 nodes are available: 6 Insufficient memory")."""
    m = message.lower()
    for needle, reason in (
        ("insufficient memory", "RESOURCE:MEMORY"),
        ("insufficient cpu", "RESOURCE:CPU"),
        ("free ports", "RESOURCE:PORTS_TCP"),
        ("insufficient nvidia.com/gpu", "RESOURCE:GPU"),
        ("insufficient ephemeral-storage", "RESOURCE:EPHEMERAL_STORAGE"),
        ("too many pods", "RESOURCE:TASKS"),
    ):
        if needle in m:
            return reason
    return "ATTRIBUTE"
