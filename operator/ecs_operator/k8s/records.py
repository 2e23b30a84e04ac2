"""I/O for ECS service deployment records (ServiceDeployment, ServiceRevision) and the one
discovery question the deployment strategies ask: does this cluster serve Gateway API HTTPRoutes?"""

from __future__ import annotations

import logging
import threading
import time

from .. import GROUP, VERSION
from . import _OPERATOR, _PLURALS, Access, ApiError, apply, get

API_VERSION = f"{GROUP}/{VERSION}"
_log = logging.getLogger(__name__)
#: the operator's identity, answering every error as ApiError (a 409 is an answer here)
_PLAIN = Access(retryable=False)
HTTPROUTE_API_VERSION = "gateway.networking.k8s.io/v1"
_PLURALS.update(
    {
        (API_VERSION, "ServiceDeployment"): "servicedeployments",
        (API_VERSION, "ServiceRevision"): "servicerevisions",
        (HTTPROUTE_API_VERSION, "HTTPRoute"): "httproutes",
    }
)

#: seconds an answer of :func:`httproutes_served` is reused
DISCOVERY_TTL = 30.0
_lock = threading.Lock()
_served: tuple[float, bool] | None = None


def httproutes_served() -> bool:
    """The API server serves httproutes.gateway.networking.k8s.io/v1 (the Gateway API CRDs are
    installed); asked at most every DISCOVERY_TTL seconds."""
    global _served
    with _lock:
        if _served is not None and time.monotonic() - _served[0] < DISCOVERY_TTL:
            return _served[1]
    try:
        found = _OPERATOR._call("discovery", "GET", f"/apis/{HTTPROUTE_API_VERSION}")
        served = any(r.get("name") == "httproutes" for r in found.get("resources") or [])
    except ApiError:
        served = False
    with _lock:
        _served = (time.monotonic(), served)
    return served


def read_deployment(namespace: str, name: str) -> dict | None:
    """The ServiceDeployment (None: none yet, or the CRD is not installed)."""
    try:
        return get(API_VERSION, "ServiceDeployment", namespace, name)
    except ApiError as e:
        if e.status != 404:
            raise
        return None


def write_deployment(record: dict, status: dict, *, exists: bool | None = None) -> None:
    """Create the ServiceDeployment when it does not exist yet (``exists`` None: unless this
    process wrote it before; the apply is idempotent), then apply its status. A refusal
    (e.g. the CRD is not installed yet after an upgrade) is logged: records are never worth
    failing the service's reconcile for; the next change writes them again."""
    try:
        _write_deployment(record, status, exists=exists)
    except ApiError as e:  # a record never stops the service's own reconcile
        _log.warning(f"ServiceDeployment {record['metadata']['name']} not written: {e}")


#: ServiceDeployments this process has written (their object needs no apply again)
_written: set[tuple[str, str]] = set()


def _write_deployment(record: dict, status: dict, *, exists: bool | None) -> None:
    md = record["metadata"]
    key = (md["namespace"], md["name"])
    if exists is None:
        with _lock:
            exists = key in _written
    if not exists:
        apply(record)
    with _lock:
        if len(_written) > 10_000:
            _written.clear()
        _written.add(key)
    apply(
        {
            "apiVersion": record["apiVersion"],
            "kind": record["kind"],
            "metadata": {"name": md["name"], "namespace": md["namespace"]},
            "status": status,
        },
        subresource="status",
    )


#: how many ServiceRevisions each of the two maps below remembers at most
_BOUND = 10_000
_known: set[tuple[str, str]] = set()
#: the containerImages of the ServiceRevisions seen (they never change)
_images: dict[tuple[str, str], list[dict]] = {}


def revision_images(namespace: str, name: str) -> list[dict] | None:
    """The ``containerImages`` a ServiceRevision recorded (None: no such revision yet)."""
    key = (namespace, name)
    with _lock:
        if key in _images:
            return _images[key]
    try:
        found = get(API_VERSION, "ServiceRevision", namespace, name)
    except ApiError as e:  # e.g. the CRD is not installed yet: resolve as for a new revision
        _log.warning(f"ServiceRevision {name} not read: {e}")
        return None
    if found is None:
        return None
    images = list((found.get("spec") or {}).get("containerImages") or [])
    _remember_images(key, images)
    return images


def _remember_images(key: tuple[str, str], images: list[dict]) -> None:
    with _lock:
        if len(_images) >= _BOUND:  # a bound: forgetting only costs a read
            _images.clear()
        _images[key] = images


def ensure_revision(record: dict) -> None:
    """Create the ServiceRevision once (ECS's revisions never change: an existing one is kept).
    No read first: a create that finds it there (409) is as good."""
    md = record["metadata"]
    key = (md["namespace"], md["name"])
    with _lock:
        if key in _known:
            return
    try:
        _PLAIN.create(record)
        _remember_images(key, list(record["spec"].get("containerImages") or []))
    except ApiError as e:  # a record never stops the service's own reconcile
        if e.status != 409:
            _log.warning(f"ServiceRevision {md['name']} not written: {e}")
            return
    with _lock:
        if len(_known) >= _BOUND:  # a bound: forgetting only costs a request
            _known.clear()
        _known.add(key)
