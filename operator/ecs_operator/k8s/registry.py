"""Image tag -> digest, from the image's registry (Docker Registry HTTP API v2 / OCI distribution).

``HEAD /v2/<repository>/manifests/<tag>`` with every manifest media type in ``Accept`` (OCI
index, Docker manifest list, OCI and Docker image manifests), so the registry answers the digest
it would give a runtime pulling the tag: the ``Docker-Content-Digest`` header (or the sha256 of
the manifest's bytes from a ``GET`` when a registry leaves the header out). A ``401`` with a
``Bearer`` challenge is answered with an anonymous token from the challenge's realm (Docker Hub,
public.ecr.aws, ghcr.io ...). Private registries' credentials are not read: such a tag stays
unresolved, as does any tag whose registry cannot be reached.

Every request has a timeout. Answers are cached for a while (a digest per tag, a failure per
registry host for less) so a reconcile loop never hammers a registry, nor waits on one that does
not answer. Registries named in ``insecure`` (``host:port``) and ``localhost`` / ``127.*`` are
spoken to over plain HTTP, as Docker's ``insecure-registries``; every other one over HTTPS.
"""

from __future__ import annotations

import hashlib
import json
import re
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from ..translate.images import parse_reference

ACCEPT = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
DEFAULT_TIMEOUT = 5.0
DIGEST_TTL = 300.0  # a tag's digest is asked again after this many seconds
MAX_DIGESTS = 10_000  # tags remembered at most (expired ones are dropped first)
FAILURE_TTL = 30.0  # a registry that did not answer is not asked again for this long
MAX_MANIFEST = 4 << 20
_CHALLENGE_RE = re.compile(r'(\w+)="([^"]*)"')
_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class Resolved:
    """A tag's digest, or why there is none."""

    digest: str | None
    reason: str | None = None


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes


class RegistryError(Exception):
    """The registry did not give a digest; ``str()`` says why (no secret in it)."""


class RegistryClient:
    """Resolves image tags to digests; thread-safe; one per process is enough (:func:`client`)."""

    def __init__(
        self,
        *,
        insecure: Iterable[str] = (),
        timeout: float = DEFAULT_TIMEOUT,
        digest_ttl: float = DIGEST_TTL,
        failure_ttl: float = FAILURE_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.insecure = frozenset(insecure)
        self.timeout = timeout
        self.digest_ttl = digest_ttl
        self.failure_ttl = failure_ttl
        self.clock = clock
        self._lock = threading.Lock()
        self._digests: dict[tuple[str, str, str], tuple[float, str]] = {}
        self._failed_hosts: dict[str, tuple[float, str]] = {}
        # one TLS context for every request: building one per connection (urllib's default) loads the
        # CA bundle each time, which showed as 7.5% of the operator's CPU in a profile
        self._opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ssl.create_default_context()))

    def resolve(self, image: str) -> Resolved:
        """The digest ``image``'s tag names now (an image already pinned by digest: that digest)."""
        ref = parse_reference(image)
        if ref is None:
            return Resolved(None, f"{image!r} is not an image reference")
        if ref.digest:
            return Resolved(ref.digest)
        host, key = ref.api_host, (ref.api_host, ref.repository, ref.tag)
        now = self.clock()
        with self._lock:
            cached = self._digests.get(key)
            if cached and cached[0] > now:
                return Resolved(cached[1])
            failed = self._failed_hosts.get(host)
            if failed and failed[0] > now:
                return Resolved(None, failed[1])
        try:
            digest = self._manifest_digest(host, ref.repository, ref.tag)
        except RegistryError as e:
            return Resolved(None, str(e))
        except OSError as e:  # connection refused, DNS, TLS, timeout
            reason = f"registry {host} cannot be reached: {getattr(e, 'reason', e)}"
            with self._lock:
                self._failed_hosts[host] = (self.clock() + self.failure_ttl, reason)
            return Resolved(None, reason)
        with self._lock:
            self._forget_expired()
            self._digests[key] = (self.clock() + self.digest_ttl, digest)
            self._failed_hosts.pop(host, None)
        return Resolved(digest)

    def _forget_expired(self) -> None:
        """Drop the digests that would be asked again anyway (called under the lock, before a store):
        a tag asked once is not kept for ever. Past ``MAX_DIGESTS`` live ones, all are dropped."""
        if len(self._digests) < MAX_DIGESTS // 10:
            return
        now = self.clock()
        for key in [k for k, (expires, _) in self._digests.items() if expires <= now]:
            del self._digests[key]
        if len(self._digests) >= MAX_DIGESTS:
            self._digests.clear()

    # -- the protocol -----------------------------------------------------------------------

    def _base(self, host: str) -> str:
        plain = host in self.insecure or host.split(":")[0] in ("localhost", "::1") or host.startswith("127.")
        return f"{'http' if plain else 'https'}://{host}"

    def _manifest_digest(self, host: str, repository: str, tag: str) -> str:
        url = f"{self._base(host)}/v2/{repository}/manifests/{urllib.parse.quote(tag, safe='')}"
        headers = {"Accept": ACCEPT}
        answer = self._request("HEAD", url, headers)
        if answer.status == 401:
            headers["Authorization"] = f"Bearer {self._anonymous_token(answer.headers, repository)}"
            answer = self._request("HEAD", url, headers)
        if answer.status == 200:
            digest = _header(answer.headers, "Docker-Content-Digest")
            if digest and _DIGEST_RE.match(digest):
                return digest
            answer = self._request("GET", url, headers)
            if answer.status == 200:
                return "sha256:" + hashlib.sha256(answer.body).hexdigest()
        if answer.status == 404:
            raise RegistryError(f"{host} has no tag {tag!r} in repository {repository!r}")
        if answer.status in (401, 403):
            raise RegistryError(f"{host} refused anonymous access to {repository!r} (HTTP {answer.status})")
        raise RegistryError(f"{host} answered HTTP {answer.status} for {repository}:{tag}")

    def _anonymous_token(self, headers: Mapping[str, str], repository: str) -> str:
        challenge = _header(headers, "WWW-Authenticate") or ""
        scheme, _, params = challenge.partition(" ")
        fields = dict(_CHALLENGE_RE.findall(params))
        realm = fields.get("realm", "")
        if scheme.lower() != "bearer" or not realm.startswith(("https://", "http://")):
            raise RegistryError(f"the registry asks for credentials ({scheme or 'no challenge'}), not read here")
        query = {"scope": fields.get("scope") or f"repository:{repository}:pull"}
        if fields.get("service"):
            query["service"] = fields["service"]
        sep = "&" if "?" in realm else "?"
        answer = self._request("GET", f"{realm}{sep}{urllib.parse.urlencode(query)}", {})
        if answer.status != 200:
            raise RegistryError(f"the token service answered HTTP {answer.status}")
        try:
            body = json.loads(answer.body)
            token = body.get("token") or body.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise RegistryError("the token service gave no token")
        return token

    def _request(self, method: str, url: str, headers: Mapping[str, str]) -> _Answer:
        request = urllib.request.Request(url, method=method, headers=dict(headers))
        try:
            with self._opener.open(request, timeout=self.timeout) as resp:
                body = resp.read(MAX_MANIFEST) if method == "GET" else b""
                return _Answer(resp.status, dict(resp.headers.items()), body)
        except urllib.error.HTTPError as e:
            return _Answer(e.code, dict(e.headers.items()) if e.headers else {}, b"")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


_client: RegistryClient | None = None
_client_lock = threading.Lock()


def client(insecure: Iterable[str] = ()) -> RegistryClient:
    """The process's registry client (made on first use; ``insecure`` is read then)."""
    global _client
    with _client_lock:
        if _client is None:
            _client = RegistryClient(insecure=insecure)
        return _client
