"""The only code that talks to the API server.

Everything goes through server-side apply with one field manager (``ecs-operator``), so
the operator owns exactly the fields it sets and never fights other managers over the rest.
API errors that may pass (409 conflict, 429 throttling, 5xx) become ``kopf.TemporaryError``
so kopf retries with backoff; errors that will not pass (400/403/404/422) propagate as
``ApiError`` for the caller to report in status.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import kopf
import kubernetes
import urllib3
from kubernetes.client.exceptions import ApiException

from .. import FIELD_MANAGER, GROUP, VERSION, metrics

# apiVersion/kind -> plural for everything the operator reads or writes.
_PLURALS: dict[tuple[str, str], str] = {
    ("v1", "Pod"): "pods",
    ("v1", "Service"): "services",
    ("v1", "ServiceAccount"): "serviceaccounts",
    ("v1", "PersistentVolumeClaim"): "persistentvolumeclaims",
    ("v1", "ConfigMap"): "configmaps",
    ("v1", "PodTemplate"): "podtemplates",
    ("v1", "Event"): "events",
    ("v1", "Node"): "nodes",
    ("v1", "Namespace"): "namespaces",
    ("apps/v1", "Deployment"): "deployments",
    ("apps/v1", "DaemonSet"): "daemonsets",
    ("apps/v1", "ReplicaSet"): "replicasets",
    ("apps/v1", "ControllerRevision"): "controllerrevisions",
    ("policy/v1", "PodDisruptionBudget"): "poddisruptionbudgets",
    ("events.k8s.io/v1", "Event"): "events",
    (f"{GROUP}/{VERSION}", "TaskDefinition"): "taskdefinitions",
    (f"{GROUP}/{VERSION}", "ECSService"): "ecsservices",
    (f"{GROUP}/{VERSION}", "ECSCluster"): "ecsclusters",
    (f"{GROUP}/{VERSION}", "ECSTask"): "ecstasks",
    (f"{GROUP}/{VERSION}", "CapacityProvider"): "capacityproviders",
}
# Kinds only the ECS API endpoint reads (its access keys), with its own ServiceAccount: never the
# operator's, whose role grants exactly the kinds above.
_ENDPOINT_PLURALS: dict[tuple[str, str], str] = {("v1", "Secret"): "secrets"}
_CLUSTER_SCOPED = {"Node", "Namespace"}


class ApiError(RuntimeError):
    """An API error that retrying will not fix (invalid object, forbidden, not found)."""

    def __init__(self, status: int, reason: str, message: str):
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


#: Items per page of a paged list (:meth:`Access.list_` with ``page_size`` or ``project``).
LIST_PAGE_SIZE = 500

_local = threading.local()
_config_lock = threading.Lock()
_configuration: kubernetes.client.Configuration | None = None


def _load_configuration() -> kubernetes.client.Configuration:
    global _configuration
    with _config_lock:
        if _configuration is None:
            cfg = kubernetes.client.Configuration()
            try:
                kubernetes.config.load_incluster_config(client_configuration=cfg)
            except kubernetes.config.ConfigException:
                kubernetes.config.load_kube_config(config_file=os.environ.get("KUBECONFIG"), client_configuration=cfg)
            _configuration = cfg
        return _configuration


def client() -> kubernetes.client.ApiClient:
    """One ApiClient per thread (kopf runs sync handlers in a thread pool)."""
    api = getattr(_local, "api", None)
    if api is None:
        api = kubernetes.client.ApiClient(_load_configuration())
        _local.api = api
    return api


def path(
    api_version: str, kind: str, namespace: str | None, name: str | None = None, subresource: str | None = None
) -> str:
    plural = _PLURALS.get((api_version, kind)) or _ENDPOINT_PLURALS[(api_version, kind)]
    base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    parts = [base]
    if namespace and kind not in _CLUSTER_SCOPED:
        parts.append(f"namespaces/{namespace}")
    parts.append(plural)
    if name:
        parts.append(name)
    if subresource:
        parts.append(subresource)
    return "/".join(parts)


class Access:
    """The API server as one identity. ``Access()`` is the operator's own identity (the module
    functions below use it); ``Access(user, groups)`` acts as that Kubernetes user through
    impersonation (``Impersonate-User`` / ``Impersonate-Group``), so RBAC decides what it may do.

    ``retryable``: errors that may pass (409, 429, 5xx, an unreachable API server) become
    ``kopf.TemporaryError`` for kopf to retry, as the operator wants; without it (the ECS API
    endpoint, which answers its clients at once) every error is an ``ApiError`` with the HTTP
    status (an unreachable API server is 503)."""

    def __init__(
        self,
        user: str | None = None,
        groups: Iterable[str] = (),
        *,
        retryable: bool = True,
        field_manager: str = FIELD_MANAGER,
    ):
        self.user = user
        self.groups = tuple(groups)
        self.retryable = retryable
        self.field_manager = field_manager

    def __repr__(self) -> str:
        return f"Access(user={self.user!r}, groups={self.groups!r})"

    def _send(self, method: str, url: str, body: Any, query: list[tuple[str, str]], content_type: str) -> Any:
        api = client()
        if self.user is None:
            return api.call_api(
                url,
                method,
                query_params=query,
                body=body,
                header_params={"Content-Type": content_type, "Accept": "application/json"},
                auth_settings=["BearerToken"],
                _return_http_data_only=True,
                _preload_content=False,
                _request_timeout=60,
            )
        # Impersonate-Group may repeat, which the generated client's header dict cannot carry:
        # the request goes straight to its REST client with a multi-valued header dict.
        headers = urllib3.HTTPHeaderDict(
            {"Content-Type": content_type, "Accept": "application/json", "Impersonate-User": self.user}
        )
        for group in self.groups:
            headers.add("Impersonate-Group", group)
        api.update_params_for_auth(headers, query, ["BearerToken"])
        return api.rest_client.request(
            method,
            api.configuration.host + url,
            query_params=query,
            headers=headers,
            body=body,
            _preload_content=False,
            _request_timeout=60,
        )

    def _call(
        self,
        verb: str,
        method: str,
        url: str,
        *,
        body: Any = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        """Send one request; every request is counted here (``verb``: the metrics' name for it,
        see ecs_operator.metrics: ecs_operator_api_requests_total by verb and status code)."""
        code = "<error>"  # no answer from the API server
        start = time.perf_counter()
        try:
            resp = self._send(method, url, body, query or [], content_type)
            code = str(getattr(resp, "status", None) or 200)
        except ApiException as e:
            code = str(e.status or 0)
            raise _translate_error(e, self.retryable) from e
        except (urllib3.exceptions.HTTPError, OSError) as e:  # API server unreachable or restarting
            if not self.retryable:
                raise ApiError(503, "ServiceUnavailable", f"API server unreachable: {e}") from e
            raise kopf.TemporaryError(f"API server unreachable: {e}", delay=5) from e
        finally:
            metrics.api_request(verb, code, time.perf_counter() - start)
        raw = resp.data
        return json.loads(raw) if raw else {}

    def apply(self, obj: dict, *, force: bool = True, subresource: str | None = None) -> dict:
        """Server-side apply ``obj`` (a full manifest with apiVersion/kind/metadata)."""
        md = obj["metadata"]
        url = path(obj["apiVersion"], obj["kind"], md.get("namespace"), md["name"], subresource)
        query = [("fieldManager", self.field_manager)]
        if force:
            query.append(("force", "true"))
        return self._call("apply", "PATCH", url, body=obj, query=query, content_type="application/apply-patch+yaml")

    def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> dict | None:
        if not name:  # names nothing (an empty path segment would read the whole collection)
            return None
        try:
            return self._call("get", "GET", path(api_version, kind, namespace, name))
        except ApiError as e:
            if e.status == 404:
                return None
            raise

    def list_(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        *,
        labels: dict[str, str] | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        page_size: int | None = None,
        project: Callable[[dict], dict] | None = None,
    ) -> list[dict]:
        """The objects (a single GET; with ``page_size`` or ``project``: read a page at a time,
        each item passed through ``project`` -- e.g. ``state.slim.slim`` -- before the next
        page, which bounds what a list of thousands of pods holds in memory)."""
        query = []
        selector = label_selector or ",".join(f"{k}={v}" for k, v in (labels or {}).items())
        if selector:
            query.append(("labelSelector", selector))
        if field_selector:
            query.append(("fieldSelector", field_selector))
        if page_size is None and project is None:
            return self._call("list", "GET", path(api_version, kind, namespace), query=query).get("items", [])
        return self._paged(path(api_version, kind, namespace), query, page_size or LIST_PAGE_SIZE, project)

    def _paged(
        self, url: str, query: list[tuple[str, str]], page_size: int, project: Callable[[dict], dict] | None
    ) -> list[dict]:
        """A list read a page at a time (``limit``/``continue``: one consistent snapshot), each
        page's items passed through ``project`` before the next page is read, so that at most one
        page of whole objects is in memory at once."""
        out: list[dict] = []
        token = ""
        while True:
            page_query = [*query, ("limit", str(page_size))] + ([("continue", token)] if token else [])
            page = self._call("list", "GET", url, query=page_query)
            token = (page.get("metadata") or {}).get("continue") or ""
            items = page.pop("items", None) or []
            del page
            out.extend(map(project, items) if project is not None else items)
            del items
            if not token:
                break
        return out

    def create(self, obj: dict, *, canonical: bool = False) -> dict:
        """Create ``obj``. ``canonical``: send it as compact, key-sorted JSON (through the YAML
        decoder, which the client does not re-serialize), so that RawExtension fields such as a
        ControllerRevision's ``data`` are stored byte-identical to how any later patch re-encodes
        them; otherwise the API server sees every metadata patch as a change of immutable data."""
        md = obj["metadata"]
        url = path(obj["apiVersion"], obj["kind"], md.get("namespace"))
        if canonical:
            return self._call(
                "create",
                "POST",
                url,
                body=_yaml_safe_json(json.dumps(obj, sort_keys=True, separators=(",", ":"))),
                query=[("fieldManager", self.field_manager)],
                content_type="application/yaml",
            )
        return self._call("create", "POST", url, body=obj, query=[("fieldManager", self.field_manager)])

    def replace(self, obj: dict) -> dict:
        """Replace ``obj`` (PUT); its ``metadata.resourceVersion``, when set, is a precondition
        (409 when the object changed since it was read)."""
        md = obj["metadata"]
        url = path(obj["apiVersion"], obj["kind"], md.get("namespace"), md["name"])
        return self._call("replace", "PUT", url, body=obj, query=[("fieldManager", self.field_manager)])

    def merge_patch(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        name: str,
        patch: dict,
        subresource: str | None = None,
    ) -> dict:
        return self._call(
            "patch",
            "PATCH",
            path(api_version, kind, namespace, name, subresource),
            body=patch,
            query=[("fieldManager", self.field_manager)],
            content_type="application/merge-patch+json",
        )

    def delete(
        self, api_version: str, kind: str, namespace: str | None, name: str, propagation: str = "Background"
    ) -> None:
        try:
            self._call(
                "delete", "DELETE", path(api_version, kind, namespace, name), body={"propagationPolicy": propagation}
            )
        except ApiError as e:
            if e.status != 404:
                raise

    def dry_run_create(self, obj: dict) -> dict:
        """Ask the API server to validate ``obj`` without persisting it (server-side dry run)."""
        md = obj["metadata"]
        return self._call(
            "dry_run",
            "POST",
            path(obj["apiVersion"], obj["kind"], md.get("namespace")),
            body=obj,
            query=[("dryRun", "All"), ("fieldManager", self.field_manager)],
        )


def _translate_error(e: ApiException, retryable: bool = True) -> Exception:
    try:
        payload = json.loads(e.body or "{}")
    except (TypeError, ValueError):
        payload = {}
    message = payload.get("message") or e.reason or ""
    reason = payload.get("reason") or e.reason or ""
    if retryable and (e.status in (409, 429) or (e.status or 0) >= 500):
        delay = 1 if e.status == 409 else 5
        return kopf.TemporaryError(f"API {e.status} {reason}: {message}", delay=delay)
    return ApiError(e.status or 0, reason, message)


#: the operator's own identity, behind the module functions
_OPERATOR = Access()


def apply(obj: dict, *, force: bool = True, subresource: str | None = None) -> dict:
    """Server-side apply ``obj`` (a full manifest with apiVersion/kind/metadata)."""
    return _OPERATOR.apply(obj, force=force, subresource=subresource)


# A character beyond U+FFFF that json.dumps escaped as a UTF-16 surrogate pair ("\\ud852\\udfd9"),
# not preceded by an escaping backslash: the API server's YAML decoder refuses surrogate escapes.
_SURROGATE_PAIR = re.compile(r"(?<!\\)((?:\\\\)*)\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})")


def _yaml_safe_json(text: str) -> str:
    """JSON text the API server's YAML decoder reads as the same value: an escaped surrogate pair
    becomes YAML's 8-digit escape of its code point (JSON being YAML, everything else stays)."""

    def one(m: re.Match[str]) -> str:
        code = 0x10000 + ((int(m[2], 16) - 0xD800) << 10) + (int(m[3], 16) - 0xDC00)
        return f"{m[1]}\\U{code:08x}"

    return _SURROGATE_PAIR.sub(one, text)


def get(api_version: str, kind: str, namespace: str | None, name: str) -> dict | None:
    return _OPERATOR.get(api_version, kind, namespace, name)


def list_(
    api_version: str,
    kind: str,
    namespace: str | None,
    *,
    labels: dict[str, str] | None = None,
    label_selector: str | None = None,
    field_selector: str | None = None,
    page_size: int | None = None,
    project: Callable[[dict], dict] | None = None,
) -> list[dict]:
    """See :meth:`Access.list_`."""
    return _OPERATOR.list_(
        api_version,
        kind,
        namespace,
        labels=labels,
        label_selector=label_selector,
        field_selector=field_selector,
        page_size=page_size,
        project=project,
    )


def create(obj: dict, *, canonical: bool = False) -> dict:
    """Create ``obj`` (``canonical``: see :meth:`Access.create`)."""
    return _OPERATOR.create(obj, canonical=canonical)


def merge_patch(
    api_version: str, kind: str, namespace: str | None, name: str, patch: dict, subresource: str | None = None
) -> dict:
    return _OPERATOR.merge_patch(api_version, kind, namespace, name, patch, subresource)


def delete(api_version: str, kind: str, namespace: str | None, name: str, propagation: str = "Background") -> None:
    _OPERATOR.delete(api_version, kind, namespace, name, propagation)


def create_missing(objects, namespace: str) -> None:
    """Create each object in ``namespace`` unless one of that name exists (companion objects
    such as a PVC or ServiceAccount are shared and never overwritten)."""
    for obj in objects:
        obj = {**obj, "metadata": {**obj["metadata"], "namespace": namespace}}
        if get(obj["apiVersion"], obj["kind"], namespace, obj["metadata"]["name"]) is None:
            apply(obj, force=False)


def dry_run_create(obj: dict) -> dict:
    """Ask the API server to validate ``obj`` without persisting it (server-side dry run)."""
    return _OPERATOR.dry_run_create(obj)


@dataclass(frozen=True)
class OwnerRef:
    api_version: str
    kind: str
    name: str
    uid: str

    def as_dict(self, controller: bool = True) -> dict:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "name": self.name,
            "uid": self.uid,
            "controller": controller,
            "blockOwnerDeletion": True,
        }


def owner_of(body: dict) -> OwnerRef:
    return OwnerRef(body["apiVersion"], body["kind"], body["metadata"]["name"], body["metadata"]["uid"])


def names(objs: Iterable[dict]) -> list[str]:
    return [o["metadata"]["name"] for o in objs]
