"""Naming rules: ECS names and AWS ARNs -> Kubernetes object and field names (pure).

Every rule is documented in docs/taskdefinition-mapping.md ("Naming rules"); the CLI and the
service layer use the same functions, so a Secret, ConfigMap, ServiceAccount or PVC that an
operator creates by hand can be named without reading this code.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from typing import NamedTuple

__all__ = [
    "digest",
    "dns_label",
    "unique_label",
    "port_name",
    "secret_ref",
    "SecretRef",
    "config_map_name",
    "role_name",
    "service_account_name",
    "efs_claim_name",
    "s3files_claim_name",
    "secret_key",
]

DNS_LABEL_MAX = 63
PORT_NAME_MAX = 15
_HASH_LEN = 6


def digest(value: str, length: int = _HASH_LEN) -> str:
    """A short stable hash (hex) of ``value``."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:length]


_NOT_LABEL_CHAR = re.compile(r"[^a-z0-9-]")


@lru_cache(maxsize=4096)  # pure; the same container and volume names come back on every translation
def dns_label(value: str, *, limit: int = DNS_LABEL_MAX, fallback: str = "x") -> str:
    """Sanitise to an RFC 1123 label: lower-case; every character outside ``[a-z0-9-]``
    becomes ``-``; leading and trailing ``-`` stripped; longer than ``limit`` -> cut and suffixed
    ``-<6 hex chars of sha256(value)>``; nothing left -> ``<fallback>-<hash>``."""
    s = _NOT_LABEL_CHAR.sub("-", value.lower()).strip("-")
    if not s:
        return f"{fallback}-{digest(value)}"
    if len(s) > limit:
        s = f"{s[: limit - _HASH_LEN - 1].rstrip('-')}-{digest(value)}"
    return s


def unique_label(base: str, source: str, taken: set[str], *, limit: int = DNS_LABEL_MAX) -> str:
    """``base`` (already a valid label) if free, else ``base`` cut and suffixed by a hash of
    ``source``; records the result in ``taken``."""
    candidate = base
    n = 0
    while candidate in taken:
        salt = source if n == 0 else f"{source}#{n}"
        candidate = f"{base[: limit - _HASH_LEN - 1].rstrip('-')}-{digest(salt)}"
        n += 1
    taken.add(candidate)
    return candidate


_PORT_NAME_RE = re.compile(r"^(?=.*[a-z])[a-z0-9]([a-z0-9]|-(?=[a-z0-9]))*$")


def port_name(value: str, taken: set[str]) -> str:
    """An IANA_SVC_NAME (<= 15 chars of ``[a-z0-9-]``, at least one letter, no leading, trailing
    or double ``-``), unique within ``taken`` (which it updates)."""
    s = re.sub(r"-+", "-", re.sub(r"[^a-z0-9]", "-", value.lower())).strip("-")
    if s and not re.search(r"[a-z]", s):
        s = f"p-{s}"
    if len(s) > PORT_NAME_MAX:
        s = f"{s[:8].rstrip('-')}-{digest(value)}"
    n = 0
    while s in taken or not _PORT_NAME_RE.match(s):
        h = digest(f"{value}#{n}" if n else value)
        core = s[:8].rstrip("-") if s else ""
        s = f"{core}-{h}" if core and n < 3 else f"p{h}"
        if n > 3:
            s = f"p{digest(f'{value}#{n}', 14)}"
        n += 1
    taken.add(s)
    return s


def secret_key(value: str) -> str:
    """A Secret/ConfigMap data key: ``[-._a-zA-Z0-9]+``, other characters -> ``_``."""
    s = re.sub(r"[^-._a-zA-Z0-9]", "_", value)[:253]
    if s in ("", ".", ".."):
        s = f"key-{digest(value)}"
    return s


class SecretRef(NamedTuple):
    """Where an ECS ``valueFrom``/``credentialsParameter`` lives in Kubernetes."""

    name: str  # Secret name
    key: str  # key in the Secret's data
    ignored: str = ""  # version stage / version id of a Secrets Manager reference ("" when none)


_SM_SUFFIX = re.compile(r"^(?P<name>.+)-[A-Za-z0-9]{6}$")


def secret_ref(value_from: str) -> SecretRef:
    """Secret name and key for an ECS secret reference.

    * ``arn:<partition>:secretsmanager:<region>:<acct>:secret:<name>[-<6 chars>][:<json-key>:<stage>:<version-id>]``
      -> Secret ``dns_label(<name>)`` (the 6-character random suffix that AWS appends to
      full ARNs is removed), key ``<json-key>`` or ``value``;
    * ``arn:<partition>:ssm:<region>:<acct>:parameter/<path>``, ``/<path>`` or ``<name>``
      -> Secret ``dns_label(<path>)`` (slashes become ``-``), key ``value``.
    """
    parts = value_from.split(":")
    if len(parts) >= 7 and parts[0] == "arn" and parts[2] == "secretsmanager" and parts[5] == "secret":
        name = parts[6]
        m = _SM_SUFFIX.match(name)
        if m:
            name = m.group("name")
        json_key = parts[7] if len(parts) > 7 else ""
        ignored = ":".join(p for p in parts[8:10] if p)
        return SecretRef(dns_label(name, fallback="secret"), secret_key(json_key) if json_key else "value", ignored)
    if len(parts) >= 6 and parts[0] == "arn" and parts[2] == "ssm":
        resource = ":".join(parts[5:])
        path = resource[len("parameter") :] if resource.startswith("parameter") else resource
        return SecretRef(dns_label(path, fallback="secret"), "value")
    return SecretRef(dns_label(value_from, fallback="secret"), "value")


def config_map_name(s3_arn: str) -> str:
    """ConfigMap for an ``environmentFiles`` entry ``arn:aws:s3:::<bucket>/<object key>``:
    ``dns_label(<object key>)`` (``app/prod.env`` -> ``app-prod-env``); a value that is not an
    S3 object ARN is sanitised whole."""
    m = re.match(r"^arn:[^:]*:s3:::[^/]+/(?P<key>.+)$", s3_arn)
    return dns_label(m.group("key") if m else s3_arn, fallback="env")


def role_name(role_arn: str) -> str:
    """``arn:aws:iam::<acct>:role/[<path>/]<name>`` -> ``<name>``; anything else: the text after
    the last ``/`` (or all of it)."""
    return role_arn.rsplit("/", 1)[-1] if "/" in role_arn else role_arn


def service_account_name(role_arn: str) -> str:
    """ServiceAccount for a ``taskRoleArn``: ``ecs-task-<dns_label(role name)>``."""
    return dns_label(f"ecs-task-{dns_label(role_name(role_arn), fallback='role')}")


def efs_claim_name(file_system_id: str, root_directory: str | None) -> str:
    """PVC for an EFS volume: ``efs-<fileSystemId>[-<rootDirectory>]`` sanitised (a root
    directory of ``/`` or none adds nothing)."""
    root = re.sub(r"[^a-z0-9]+", "-", (root_directory or "").lower()).strip("-")
    return dns_label(f"efs-{file_system_id}" + (f"-{root}" if root else ""))


def s3files_claim_name(file_system_arn: str, root_directory: str | None) -> str:
    """PVC for an S3 Files volume: ``s3files-<file system id>[-<rootDirectory>]`` sanitised; the
    id is the ARN's last ``/`` segment."""
    fs = file_system_arn.rsplit("/", 1)[-1]
    root = re.sub(r"[^a-z0-9]+", "-", (root_directory or "").lower()).strip("-")
    return dns_label(f"s3files-{fs}" + (f"-{root}" if root else ""))
