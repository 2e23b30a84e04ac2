"""The ECS API endpoint: ECS's JSON 1.1 protocol over HTTP(S), backed by the custom resources.

``POST /`` with ``X-Amz-Target: AmazonEC2ContainerServiceV20141113.<Operation>`` and
``Content-Type: application/x-amz-json-1.1``, signed with SigV4. The steps: verify the signature
(the key's secret from its Secret), route by the target, parse and validate the input against
botocore's ECS model, run the operation in a thread pool as the key's Kubernetes identity,
shape the output by the model. Errors are ECS's (``{"__type", "message"}``, 4xx for client
mistakes, 403 for authentication and RBAC denials); nothing about a secret is ever logged.
``GET /healthz`` answers ``ok`` (probes).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from ..k8s import ApiError
from . import model, sigv4
from .context import KubeAccess, RequestContext
from .errors import CONTENT_TYPE, EcsApiError, server_error
from .keys import AccessKey, KeyStore
from .operations import load

log = logging.getLogger("ecs_operator.api")

MAX_BODY = 4 * 1024 * 1024
#: how long RegisterTaskDefinition waits for the operator to register the revision, in seconds
REGISTER_TIMEOUT_ENV = "ECS_API_REGISTER_TIMEOUT_SECONDS"
DEFAULT_REGISTER_TIMEOUT = 20.0
_JSON_TYPES = ("application/x-amz-json-1.1", "application/x-amz-json-1.0")

AccessFactory = Callable[[AccessKey], KubeAccess]


def kube_error(e: ApiError, op: str, key: AccessKey) -> EcsApiError:
    """What a Kubernetes API error means to an ECS client."""
    if e.status == 403:
        return EcsApiError(
            "AccessDeniedException",
            f"User: {key.user} is not authorized to perform: ecs:{op} (Kubernetes RBAC: {e.message})",
        )
    if e.status in (400, 422):
        return EcsApiError("InvalidParameterException", e.message)
    if e.status in (404, 409, 410):
        return EcsApiError("ClientException", e.message)
    return server_error(f"The Kubernetes API server answered {e.status} {e.reason}.")


class Endpoint:
    """The request pipeline (independent of the HTTP server, so tests call :meth:`handle`)."""

    def __init__(
        self,
        keys: KeyStore,
        access: AccessFactory,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        workers: int = 16,
        wait_timeout: float = DEFAULT_REGISTER_TIMEOUT,
    ):
        self.keys = keys
        self.access = access
        self.clock = clock
        self.wait_timeout = wait_timeout
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ecs-api")
        self.operations = load()

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def authenticate(self, request: sigv4.Request) -> tuple[AccessKey, sigv4.Authorization]:
        auth = sigv4.parse_authorization(request.header("authorization"))
        key = await self._run(self.keys.lookup, auth.credential.access_key_id)
        if key is None:
            raise EcsApiError("UnrecognizedClientException", "The security token included in the request is invalid.")
        sigv4.verify(request, auth, key.secret, self.clock())
        return key, auth

    def route(self, request: sigv4.Request) -> str:
        target = request.header("x-amz-target") or ""
        prefix, _, name = target.partition(".")
        if prefix != model.target_prefix() or model.operation(name) is None:
            raise EcsApiError("UnknownOperationException", f"Unknown operation {target!r}.")
        if name not in self.operations:
            raise EcsApiError("UnknownOperationException", f"The operation {name} is not supported by this endpoint.")
        content_type = (request.header("content-type") or "").split(";")[0].strip().lower()
        if content_type not in _JSON_TYPES:
            raise EcsApiError(
                "UnknownOperationException", f"Unsupported Content-Type {content_type!r}; use {CONTENT_TYPE}."
            )
        return name

    @staticmethod
    def parse(body: bytes) -> dict[str, Any]:
        if not body.strip():
            return {}
        try:
            params = json.loads(body)
        except (ValueError, UnicodeDecodeError) as e:
            raise EcsApiError("SerializationException", "The request body is not valid JSON.") from e
        if not isinstance(params, dict):
            raise EcsApiError("SerializationException", "The request body must be a JSON object.")
        return params

    async def call(self, request: sigv4.Request) -> tuple[str, dict[str, Any]]:
        key, auth = await self.authenticate(request)
        name = self.route(request)
        params = self.parse(request.body)
        op = model.operation(name)
        assert op is not None
        model.validate_input(op, params)
        ctx = RequestContext(
            region=auth.credential.region,
            account=key.account_id,
            namespace=key.namespace,
            kube=self.access(key),
            now=self.clock(),
            wait_timeout=self.wait_timeout,
        )
        try:
            result = await self._run(self.operations[name], ctx, params)
        except ApiError as e:
            raise kube_error(e, name, key) from e
        return name, model.serialize_output(op, result)

    async def handle(self, request: sigv4.Request) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) for ``request``."""
        request_id = str(uuid.uuid4())
        started = time.monotonic()
        name = "-"
        try:
            name, out = await self.call(request)
            status, headers, body = 200, {"Content-Type": CONTENT_TYPE}, json.dumps(out).encode()
        except EcsApiError as e:
            status, headers, body = e.status, e.headers(), e.body()
            name = f"{name} {e.code}"
        except Exception:
            log.exception("request %s failed", request_id)
            failure = server_error()
            status, headers, body = failure.status, failure.headers(), failure.body()
        headers["x-amzn-RequestId"] = request_id
        log.info("%s %s %d %.0fms", request_id, name, status, (time.monotonic() - started) * 1000)
        return status, headers, body


def make_app(endpoint: Endpoint) -> web.Application:
    async def post(request: web.Request) -> web.Response:
        body = await request.read()
        signed = sigv4.Request(
            method=request.method,
            path=request.rel_url.raw_path,
            query=request.rel_url.raw_query_string,
            headers=tuple(request.headers.items()),
            body=body,
        )
        status, headers, payload = await endpoint.handle(signed)
        return web.Response(status=status, headers=headers, body=payload)

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/{tail:.*}", post)
    return app


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _server_context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


class ReloadingCertificate:
    """The endpoint's TLS context, whose certificate and key are read again when their files
    change (cert-manager renews the Secret; the kubelet swaps the mounted files): a cheap
    ``stat`` every :attr:`interval` seconds, and a change is loaded into the same SSLContext, so
    new connections get the new certificate and open ones keep theirs. A pair that does not
    load (say, a key that does not match) is logged and the current certificate kept."""

    def __init__(self, cert: str, key: str, *, interval: float = 30.0):
        self.cert, self.key, self.interval = cert, key, interval
        self.context = _server_context(cert, key)
        self._seen = self._stamp()

    def _stamp(self) -> tuple[tuple[int, int, int], ...]:
        out = []
        for path in (self.cert, self.key):
            st = os.stat(path)  # follows the kubelet's ..data symlinks
            out.append((st.st_ino, st.st_size, st.st_mtime_ns))
        return tuple(out)

    def reload_if_changed(self) -> bool:
        """Load the files again if they changed since last loaded; True when it did."""
        try:
            stamp = self._stamp()
            if stamp == self._seen:
                return False
            _server_context(self.cert, self.key)  # check the pair first: a failed load would half-change the live one
            self.context.load_cert_chain(self.cert, self.key)
        except (OSError, ssl.SSLError) as e:
            log.warning("TLS certificate %s changed but does not load (%s); keeping the current one", self.cert, e)
            return False
        self._seen = stamp
        log.info("TLS certificate %s reloaded", self.cert)
        return True

    async def watch(self, _app: web.Application) -> AsyncIterator[None]:
        """aiohttp cleanup context: checks the files every ``interval`` seconds while serving."""

        async def loop() -> None:
            while True:
                await asyncio.sleep(self.interval)
                self.reload_if_changed()

        task = asyncio.create_task(loop())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def ssl_context(cert: str | None, key: str | None) -> ReloadingCertificate | None:
    if not cert and not key:
        return None
    if not (cert and key):
        raise ValueError("--tls-cert and --tls-key go together")
    return ReloadingCertificate(cert, key)


def register_timeout(environ: Mapping[str, str]) -> float:
    """RegisterTaskDefinition's wait from ``ECS_API_REGISTER_TIMEOUT_SECONDS`` (default 20 s: an
    SDK's retries of the ServerException that follows stay within its 60 s read timeout)."""
    raw = environ.get(REGISTER_TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_REGISTER_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0.5 <= value <= 55:
        raise ValueError(f"{REGISTER_TIMEOUT_ENV}={raw!r}: give seconds from 0.5 to 55 (below SDKs' 60 s read timeout)")
    return value


def serve(
    *,
    address: str,
    port: int,
    keys_namespace: str,
    tls_cert: str | None = None,
    tls_key: str | None = None,
) -> int:
    """Serve until interrupted (plain HTTP only on a loopback address)."""
    from .. import k8s

    tls = ssl_context(tls_cert, tls_key)
    if tls is None and not is_loopback(address):
        raise ValueError(f"plain HTTP is served only on a loopback address (got {address}); give --tls-cert/--tls-key")
    keys = KeyStore(k8s.Access(retryable=False), keys_namespace)
    endpoint = Endpoint(
        keys,
        lambda key: k8s.Access(key.user, key.groups, retryable=False, field_manager="ecs-api"),
        wait_timeout=register_timeout(os.environ),
    )
    scheme = "https" if tls else "http"
    log.info("ECS API endpoint on %s://%s:%d (keys in namespace %s)", scheme, address, port, keys_namespace)
    app = make_app(endpoint)
    if tls is not None:
        app.cleanup_ctx.append(tls.watch)
    web.run_app(app, host=address, port=port, ssl_context=tls.context if tls else None, print=None, access_log=None)
    return 0
