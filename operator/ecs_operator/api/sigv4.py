"""AWS Signature Version 4 verification (pure: no I/O, the clock is passed in).

A request is signed with ``Authorization: AWS4-HMAC-SHA256 Credential=<key id>/<yyyymmdd>/
<region>/<service>/aws4_request, SignedHeaders=<h1;h2;...>, Signature=<hex>`` and
``X-Amz-Date``. The verifier rebuilds the canonical request from what arrived, derives the
signing key from the secret and compares signatures in constant time. The request time must be
within 15 minutes of ``now``, as AWS requires; the region comes from the credential scope.

Errors are the ones AWS answers: ``MissingAuthenticationTokenException`` (no Authorization),
``IncompleteSignatureException`` (a malformed one), ``InvalidSignatureException`` (wrong
signature, or expired), ``UnrecognizedClientException`` (unknown key id: raised by the caller).
Secrets never appear in messages.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote

from .errors import EcsApiError

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = timedelta(minutes=15)
_AMZ_DATE = "%Y%m%dT%H%M%SZ"
_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
    "Access Key and signing method. Consult the service documentation for details."
)


@dataclass(frozen=True)
class Credential:
    """The credential scope: ``<access key id>/<date>/<region>/<service>/aws4_request``."""

    access_key_id: str
    date: str
    region: str
    service: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


@dataclass(frozen=True)
class Authorization:
    credential: Credential
    signed_headers: tuple[str, ...]
    signature: str


@dataclass(frozen=True)
class Request:
    """What arrived: ``path`` as sent on the wire (percent-encoded), ``query`` the raw query
    string, ``headers`` every header line (repeated names allowed)."""

    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return ",".join(values) if values else None


def _incomplete(message: str) -> EcsApiError:
    return EcsApiError("IncompleteSignatureException", message)


def parse_authorization(value: str | None) -> Authorization:
    """The Authorization header's parts; raises AWS's errors when missing or malformed."""
    if not value:
        raise EcsApiError("MissingAuthenticationTokenException", "Missing Authentication Token")
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise _incomplete(f"Unsupported authorization algorithm {algorithm!r}; only {ALGORITHM} is supported.")
    parts: dict[str, str] = {}
    for item in rest.split(","):
        key, sep, val = item.strip().partition("=")
        if sep:
            parts[key.strip()] = val.strip()
    missing = [k for k in ("Credential", "SignedHeaders", "Signature") if not parts.get(k)]
    if missing:
        raise _incomplete(f"Authorization header requires {', '.join(missing)} parameter(s).")
    scope = parts["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or not all(scope):
        raise _incomplete(
            "Credential should be scoped to a valid region and service: <key id>/<date>/<region>/<service>/aws4_request."
        )
    credential = Credential(scope[0], scope[1], scope[2], scope[3])
    signed = tuple(h.strip().lower() for h in parts["SignedHeaders"].split(";") if h.strip())
    return Authorization(credential, signed, parts["Signature"].lower())


def request_time(request: Request) -> datetime:
    value = request.header("x-amz-date")
    if not value:
        raise _incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    try:
        return datetime.strptime(value.strip(), _AMZ_DATE).replace(tzinfo=UTC)
    except ValueError as e:
        raise _incomplete(f"X-Amz-Date {value!r} is not in the format yyyyMMdd'T'HHmmss'Z'.") from e


def check_clock(at: datetime, now: datetime) -> None:
    """AWS refuses a request signed more than 15 minutes before or after its own clock."""
    if at < now - MAX_SKEW:
        raise EcsApiError(
            "InvalidSignatureException",
            f"Signature expired: {at.strftime(_AMZ_DATE)} is now earlier than "
            f"{(now - MAX_SKEW).strftime(_AMZ_DATE)} ({now.strftime(_AMZ_DATE)} - 15 min.)",
        )
    if at > now + MAX_SKEW:
        raise EcsApiError(
            "InvalidSignatureException",
            f"Signature not yet current: {at.strftime(_AMZ_DATE)} is still later than "
            f"{(now + MAX_SKEW).strftime(_AMZ_DATE)} ({now.strftime(_AMZ_DATE)} + 15 min.)",
        )


def _encode(value: str) -> str:
    return quote(value, safe="-_.~")


def canonical_query(query: str) -> str:
    pairs = []
    for item in query.split("&") if query else []:
        if not item:
            continue
        key, _, value = item.partition("=")
        pairs.append((_encode(unquote(key)), _encode(unquote(value))))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def canonical_headers(request: Request, signed: Iterable[str]) -> str:
    lines = []
    for name in signed:
        values = [" ".join(v.split()) for k, v in request.headers if k.lower() == name]
        lines.append(f"{name}:{','.join(values)}\n")
    return "".join(lines)


def payload_hash(request: Request) -> str:
    actual = hashlib.sha256(request.body).hexdigest()
    declared = request.header("x-amz-content-sha256")
    if declared is not None and declared.strip().lower() != actual:
        raise EcsApiError("InvalidSignatureException", "The provided 'x-amz-content-sha256' header does not match.")
    return declared.strip() if declared is not None else actual


def canonical_request(request: Request, auth: Authorization) -> str:
    # Services other than S3 sign the path percent-encoded once more (what arrives is encoded).
    path = quote(request.path or "/", safe="/~")
    return "\n".join(
        [
            request.method.upper(),
            path,
            canonical_query(request.query),
            canonical_headers(request, auth.signed_headers),
            ";".join(auth.signed_headers),
            payload_hash(request),
        ]
    )


def string_to_sign(request: Request, auth: Authorization, amz_date: str) -> str:
    digest = hashlib.sha256(canonical_request(request, auth).encode()).hexdigest()
    return "\n".join([ALGORITHM, amz_date, auth.credential.scope, digest])


def signing_key(secret: str, credential: Credential) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (credential.date, credential.region, credential.service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def verify(request: Request, auth: Authorization, secret: str, now: datetime, service: str = "ecs") -> None:
    """Raise InvalidSignatureException unless ``request`` carries a valid signature by
    ``secret`` for ``service``, made within 15 minutes of ``now``."""
    at = request_time(request)
    if auth.credential.service != service:
        raise EcsApiError("InvalidSignatureException", f"Credential should be scoped to correct service: '{service}'.")
    if "host" not in auth.signed_headers:
        raise EcsApiError("InvalidSignatureException", "'Host' must be a signed header.")
    if auth.credential.date != at.strftime("%Y%m%d"):
        raise EcsApiError(
            "InvalidSignatureException",
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{auth.credential.date}' != '{at.strftime('%Y%m%d')}', from '{at.strftime(_AMZ_DATE)}'.",
        )
    check_clock(at, now)
    to_sign = string_to_sign(request, auth, at.strftime(_AMZ_DATE))
    expected = hmac.new(signing_key(secret, auth.credential), to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, auth.signature):
        raise EcsApiError("InvalidSignatureException", _MISMATCH)
